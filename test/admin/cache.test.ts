import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as del } from '../../api/admin/cache/delete.js';
import { POST as flush } from '../../api/admin/cache/flush.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import type { Db } from '../../lib/db/index.js';
import type { RedisArg, RedisClient } from '../../lib/redis/index.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { startUpstashPeer } from '../peers/upstash-rest.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness } from '../support/drivers.js';
import { REDIS_URL } from '../support/services.js';

/** This file's keys live under their own prefix on the shared test Redis (database 0). */
const P = `opsbook-t-cache-${randomBytes(4).toString('hex')}`;
/**
 * FLUSHDB wipes a whole database, so the flush tests use database 9 of the test Redis, which nothing
 * else in the suite uses: database 0 is shared by every test file running in parallel.
 */
const FLUSH_DB_URL = (() => {
  const u = new URL(REDIS_URL);
  u.pathname = '/9';
  return u.toString();
})();

/** Every command the action sends, to check batching (the rate limiter's EVALs are in here too). */
function recording(redis: RedisClient): { redis: RedisClient; calls: RedisArg[][] } {
  const calls: RedisArg[][] = [];
  return {
    calls,
    redis: {
      driver: redis.driver,
      shared: redis.shared,
      command: (args) => (calls.push(args), redis.command(args)),
      pipeline: (cmds) => (calls.push(...cmds), redis.pipeline(cmds)),
      close: () => redis.close(),
    },
  };
}

async function setKeys(raw: IORedis, prefix: string, n: number, chunk = 10_000): Promise<void> {
  for (let i = 0; i < n; i += chunk) {
    const p = raw.pipeline();
    for (let j = i; j < Math.min(n, i + chunk); j++) p.set(`${prefix}${j}`, 'v');
    await p.exec();
  }
}

async function countKeys(raw: IORedis, match: string): Promise<number> {
  const seen = new Set<string>();
  for await (const keys of raw.scanStream({ match, count: 1000 })) for (const k of keys as string[]) seen.add(k);
  return seen.size;
}

let h: DbHarness;
let raw: IORedis;
const tokenFor = async (role: Role) => (await createToken(h.db, { name: `cache-${role}-${randomBytes(4).toString('hex')}`, role, createdBy: 'tests' })).token;

beforeAll(async () => {
  h = await openDb('pg');
  raw = new IORedis(REDIS_URL);
});
afterAll(async () => {
  resetAdminDeps();
  for await (const keys of raw.scanStream({ match: `${P}:*`, count: 1000 })) if ((keys as string[]).length) await raw.unlink(...(keys as string[]));
  raw.disconnect();
  await h.close();
});

const deleteReq = (body: unknown, token: string) => del(adminRequest('/api/admin/cache/delete', { body, token }));
const flushReq = (body: unknown, token: string) => flush(adminRequest('/api/admin/cache/flush', { body, token }));

async function confirmedDelete(pattern: string, token: string) {
  const dry = await (await deleteReq({ pattern, dryRun: true }, token)).json();
  const res = await deleteReq({ pattern, confirm: dry.confirmToken }, token);
  return { dry, res, body: await res.json() };
}

describe('POST /api/admin/cache/delete over TCP', () => {
  let tcp: RedisClient;
  let rec: ReturnType<typeof recording>;
  beforeAll(async () => {
    tcp = createTcpRedis(REDIS_URL, { callTimeoutMs: 10_000 });
    rec = recording(tcp);
    await useAdminDeps(h.db, rec.redis);
  });
  afterAll(async () => {
    await tcp.close();
  });

  it('100,000 keys: the dry run counts them; the delete removes them in bounded batches and leaves other keys', async () => {
    await setKeys(raw, `${P}:cache:words:`, 100_000);
    await setKeys(raw, `${P}:cache:users:`, 1_000);
    const token = await tokenFor('operate');
    const pattern = `${P}:cache:words:*`;

    const dry = await (await deleteReq({ pattern, dryRun: true }, token)).json();
    expect(dry).toMatchObject({ action: 'cache.delete', status: 'ok', dryRun: true, count: 100_000, data: { complete: true } });
    expect(dry.sample.length).toBeGreaterThan(0);
    expect(dry.sample.length).toBeLessThanOrEqual(20);
    for (const k of dry.sample) expect(k.startsWith(`${P}:cache:words:`)).toBe(true);
    expect(await countKeys(raw, pattern)).toBe(100_000);

    rec.calls.length = 0;
    const res = await deleteReq({ pattern, confirm: dry.confirmToken }, token);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', count: 100_000, data: { complete: true } });
    expect(await countKeys(raw, pattern)).toBe(0);
    expect(await countKeys(raw, `${P}:cache:users:*`)).toBe(1_000);

    const names = rec.calls.map((c) => String(c[0]).toUpperCase());
    expect(names).not.toContain('KEYS');
    expect(names).not.toContain('DEL');
    const unlinks = rec.calls.filter((c) => String(c[0]).toUpperCase() === 'UNLINK');
    expect(unlinks.length).toBeGreaterThanOrEqual(200);
    expect(Math.max(...unlinks.map((c) => c.length - 1))).toBeLessThanOrEqual(500);
    const scans = rec.calls.filter((c) => String(c[0]).toUpperCase() === 'SCAN');
    for (const s of scans) expect(s.slice(2)).toEqual(['MATCH', pattern, 'COUNT', 1000]);

    const audit = await h.db.query<Record<string, unknown>>(`SELECT action, target, result, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'cache.delete', target: `redis:${pattern}`, result: 'ok', after: { deleted: 100_000 } });
  });

  it('a glob without the dry run confirm token → 428, nothing deleted', async () => {
    await setKeys(raw, `${P}:c428:`, 10);
    const res = await deleteReq({ pattern: `${P}:c428:*` }, await tokenFor('operate'));
    expect(res.status).toBe(428);
    expect(await countKeys(raw, `${P}:c428:*`)).toBe(10);
  });

  it('a single key needs no confirm; deleting it again is a no-op', async () => {
    const token = await tokenFor('operate');
    await raw.set(`${P}:single`, 'v');
    expect(await (await deleteReq({ pattern: `${P}:single`, dryRun: true }, token)).json()).toMatchObject({ status: 'ok', count: 1, sample: [`${P}:single`] });
    expect(await (await deleteReq({ pattern: `${P}:single` }, token)).json()).toMatchObject({ status: 'ok', count: 1 });
    expect(await raw.exists(`${P}:single`)).toBe(0);
    expect(await (await deleteReq({ pattern: `${P}:single` }, token)).json()).toMatchObject({ status: 'noop', count: 0 });
  });

  it('the runbook pattern with its quotes and glob deletes exactly what SCAN MATCH finds', async () => {
    await setKeys(raw, `${P}:cache:words:x`, 5);
    await raw.set(`${P}:cache:wordsmith`, 'kept');
    const { body } = await confirmedDelete(`${P}:cache:words:*`, await tokenFor('operate'));
    expect(body.count).toBe(5);
    expect(await raw.get(`${P}:cache:wordsmith`)).toBe('kept');
  });

  it.each([
    ['everything', '*'],
    ['every queue meta key', '*:meta'],
    ['a leading single-character glob', '?psbook:rl:*'],
    ['a class that reaches opsbook:', '[no]psbook:*'],
    ['a class that reaches the queue prefix', '[ab]ull:*'],
  ])('a pattern that starts with a glob (%s) could match every key → 400, pointing at the admin flush', async (_what, pattern) => {
    const res = await deleteReq({ pattern, dryRun: true }, await tokenFor('operate'));
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/starts with a glob.*cache\/flush/);
  });

  it.each(['opsbook:rl:nothing-here:*', 'bull:nothing-here:*'])('naming a protected prefix literally (%s) is explicit and allowed', async (pattern) => {
    expect((await deleteReq({ pattern, dryRun: true }, await tokenFor('operate'))).status).toBe(200);
  });

  it.each([
    "'; DROP TABLE opsbook.audit_log; --",
    `${P}:[`,
    `${P}:\\`,
    `${P}:[^a-z]*`,
    `${P}:[z-a]?`,
    `${P}:\\*literal`,
    `${P}:$1`,
    `${P}:{"a":1}`,
    'x'.repeat(201),
    '',
    ' ',
  ])('a hostile pattern %j → never 5xx', async (pattern) => {
    const token = await tokenFor('operate');
    const dry = await deleteReq({ pattern, dryRun: true }, token);
    expect(dry.status).toBeLessThan(500);
    if (dry.status === 200) {
      const body = await dry.json();
      const res = await deleteReq({ pattern, ...(body.confirmToken ? { confirm: body.confirmToken } : {}) }, token);
      expect(res.status).toBeLessThan(500);
    }
  });
});

describe("cache/delete judges the keys SCAN finds: BullMQ queues and Opsbook's own keys are never deleted", () => {
  /** The configured queue prefix, and a second BullMQ deployment under a prefix the config does not name. */
  const QP = `${P}-bull`;
  const OTHER = `${P}-app`;
  const JOBS = 50;
  const url = new URL(REDIS_URL);
  const connection = { host: url.hostname, port: Number(url.port || 6379) };
  let tcp: RedisClient;
  let email: Queue;
  let other: Queue;
  let jobIds: string[];

  /** The queue as BullMQ itself reads it: every job still waiting, each with its data. */
  async function intact(q: Queue, ids: string[]): Promise<void> {
    expect(await q.getWaitingCount()).toBe(JOBS);
    const waiting = await q.getWaiting(0, JOBS);
    expect(waiting.map((j) => j.id).sort()).toEqual([...ids].sort());
    for (const j of waiting) expect(j.data).toMatchObject({ to: expect.stringMatching(/@example\.com$/) });
    expect(await raw.exists(`${q.opts.prefix}:${q.name}:meta`)).toBe(1);
  }

  beforeAll(async () => {
    tcp = createTcpRedis(REDIS_URL, { callTimeoutMs: 10_000 });
    await useAdminDeps(h.db, tcp, { checks: { queues: { prefix: QP } } });
    email = new Queue('email', { connection, prefix: QP });
    other = new Queue('email', { connection, prefix: OTHER });
    for (const q of [email, other]) q.on('error', () => undefined);
    jobIds = (await email.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'send', data: { to: `u${i}@example.com` } })))).map((j) => j.id!);
    await other.addBulk(Array.from({ length: JOBS }, (_, i) => ({ name: 'send', data: { to: `o${i}@example.com` } })));
    await raw.set(`opsbook:rl:t-${P}:probe`, 'state');
  });
  afterAll(async () => {
    for (const q of [email, other]) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    await raw.unlink(`opsbook:rl:t-${P}:probe`);
    await tcp.close();
  });

  it.each([
    ['the literal key', `${P}-bull:email:wait`],
    ['backslash-escaped separators', `${P}-bull\\:email\\:wait`],
    ['backslash-escaped letters', `${P}-bull:\\e\\m\\a\\i\\l:\\w\\a\\i\\t`],
    ['the meta hash', `${P}-bull:email:meta`],
    ['a job hash', `${P}-bull:email:1`],
    ['the other prefix (found by its meta hash)', `${P}-app:email:wait`],
  ])('operate token naming a BullMQ key (%s) → 409 saying whose it is; every job is still there', async (_how, pattern) => {
    const token = await tokenFor('operate');
    for (const body of [{ pattern, dryRun: true }, { pattern }]) {
      const res = await deleteReq(body, token);
      expect(res.status).toBe(409);
      const err = (await res.json()).error;
      expect(err).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/bullmq queue email.*queues\/clean/) });
    }
    await intact(email, jobIds);
    expect(await other.getWaitingCount()).toBe(JOBS);
  });

  it.each([
    ['a ? for one character', `${P}-bull:email:wai?`, 1, 'bullmq queue email'],
    ['a [..] class', `${P}-bull:emai[l]:wait`, 1, 'bullmq queue email'],
    ['a [..] class on the separator', `${P}-bull[:]email[:]wait`, 1, 'bullmq queue email'],
    ['every key of the queue', `${P}-bull:email:*`, JOBS + 3, 'bullmq queue email'],
    ['the prefix with a glob', `${P}-bul?:*`, JOBS + 3, 'bullmq queue email'],
    ['the unconfigured prefix', `${P}-app:email:wai?`, 1, `bullmq queue email (prefix ${P}-app)`],
  ])('operate token, a glob spelling (%s) → the dry run lists the skipped keys with why; the delete removes none of them', async (_how, pattern, atLeast, reason) => {
    const token = await tokenFor('operate');
    const { dry, res, body } = await confirmedDelete(pattern, token);
    expect(dry).toMatchObject({ status: 'noop', count: 0, sample: [] });
    expect(dry.data.skipped.count).toBeGreaterThanOrEqual(atLeast);
    expect(dry.data.skipped.byReason).toEqual({ [reason]: dry.data.skipped.count });
    expect(dry.data.skipped.sample[0]).toEqual({ key: expect.any(String), reason });
    expect(dry.summary).toMatch(/would be skipped \(bullmq queue email/);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ status: 'noop', count: 0, data: { skipped: { count: dry.data.skipped.count } } });
    await intact(email, jobIds);
    await intact(other, (await other.getWaiting(0, JOBS)).map((j) => j.id!));
  });

  it('a pattern that reaches cache keys and a queue deletes the cache keys only', async () => {
    await setKeys(raw, `${P}-bullpen:cache:`, 30);
    const { dry, body } = await confirmedDelete(`${P}-bull*`, await tokenFor('operate'));
    expect(dry.count).toBe(30);
    for (const k of dry.sample) expect(k.startsWith(`${P}-bullpen:cache:`)).toBe(true);
    expect(dry.data.skipped.byReason['bullmq queue email']).toBeGreaterThanOrEqual(JOBS);
    expect(body).toMatchObject({ status: 'ok', count: 30 });
    expect(await countKeys(raw, `${P}-bullpen:*`)).toBe(0);
    await intact(email, jobIds);
  });

  it.each([
    ['a literal key', `opsbook:rl:t-${P}:probe`, 409],
    ['an escaped spelling', `opsbook\\:rl\\:t-${P}\\:probe`, 409],
    ['a [..] class', `o[p]sbook:rl:t-${P}:probe`, 200],
    ['a glob', `opsbook:rl:t-${P}:*`, 200],
  ])("operate token naming Opsbook's own key (%s) → kept as \"opsbook internal\"", async (_how, pattern, status) => {
    const token = await tokenFor('operate');
    const dry = await deleteReq({ pattern, dryRun: true }, token);
    expect(dry.status).toBe(status);
    const d = await dry.json();
    if (status === 409) expect(d.error.message).toMatch(/opsbook internal/);
    else {
      expect(d.data.skipped).toEqual({ count: 1, byReason: { 'opsbook internal': 1 }, sample: [{ key: `opsbook:rl:t-${P}:probe`, reason: 'opsbook internal' }] });
      expect((await deleteReq({ pattern, confirm: d.confirmToken }, token)).status).toBe(200);
    }
    expect(await raw.get(`opsbook:rl:t-${P}:probe`)).toBe('state');
  });

  it("an app's own `…:meta` string does not make its neighbours untouchable (BullMQ's meta is a hash)", async () => {
    await raw.set(`${P}:users:42:meta`, 'not a queue');
    await raw.set(`${P}:users:42:profile`, 'v');
    const { body } = await confirmedDelete(`${P}:users:42:*`, await tokenFor('operate'));
    expect(body).toMatchObject({ status: 'ok', count: 2 });
  });
});

describe('POST /api/admin/cache/delete over Upstash REST and the in-memory fallback', () => {
  it('over the Upstash peer: dry run count, confirm, delete; other keys stay', async () => {
    const peer = await startUpstashPeer({ upstream: REDIS_URL });
    const upstash = createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 10_000 });
    try {
      await useAdminDeps(h.db, upstash);
      await setKeys(raw, `${P}:up:words:`, 2_500);
      await setKeys(raw, `${P}:up:keep:`, 50);
      const { dry, body } = await confirmedDelete(`${P}:up:words:*`, await tokenFor('operate'));
      expect(dry.count).toBe(2_500);
      expect(body).toMatchObject({ status: 'ok', count: 2_500 });
      expect(await countKeys(raw, `${P}:up:words:*`)).toBe(0);
      expect(await countKeys(raw, `${P}:up:keep:*`)).toBe(50);
    } finally {
      await peer.close();
    }
  });

  it('over the in-memory fallback, and says it is this instance only', async () => {
    const mem = await openRedis('memory');
    try {
      await useAdminDeps(h.db, mem.redis);
      await mem.redis.pipeline(Array.from({ length: 1200 }, (_, i) => ['SET', `cache:words:${i}`, 'v']));
      await mem.redis.command(['SET', 'cache:other', 'v']);
      const { dry, body } = await confirmedDelete('cache:words:*', await tokenFor('operate'));
      expect(dry.count).toBe(1200);
      expect(body.count).toBe(1200);
      expect(body.summary).toMatch(/this instance only/);
      expect(await mem.redis.command(['DBSIZE'])).toBe(1);
    } finally {
      await mem.close();
    }
  });
});

describe('POST /api/admin/cache/flush', () => {
  async function scenario(driver: 'tcp' | 'upstash' | 'memory'): Promise<{ redis: RedisClient; close(): Promise<void> }> {
    if (driver === 'memory') {
      const m = await openRedis('memory');
      return { redis: m.redis, close: () => m.close() };
    }
    if (driver === 'tcp') {
      const redis = createTcpRedis(FLUSH_DB_URL, { callTimeoutMs: 10_000 });
      return { redis, close: () => redis.close() };
    }
    const peer = await startUpstashPeer({ upstream: FLUSH_DB_URL });
    const redis = createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 10_000 });
    return { redis, close: () => peer.close() };
  }

  it('over TCP with a real BullMQ queue of 50 waiting jobs: the flush deletes the cache and no job', async () => {
    const url = new URL(FLUSH_DB_URL);
    const q = new Queue('email', { connection: { host: url.hostname, port: Number(url.port || 6379), db: 9 } });
    q.on('error', () => undefined);
    const redis = createTcpRedis(FLUSH_DB_URL, { callTimeoutMs: 10_000 });
    try {
      await redis.command(['FLUSHDB']);
      await useAdminDeps(h.db, redis);
      const ids = (await q.addBulk(Array.from({ length: 50 }, (_, i) => ({ name: 'send', data: { i } })))).map((j) => j.id);
      await redis.pipeline(Array.from({ length: 40 }, (_, i) => ['SET', `cache:${i}`, 'v']));
      const token = await tokenFor('admin');
      const dry = await (await flushReq({ dryRun: true }, token)).json();
      expect(dry.count).toBe(40);
      expect(dry.data.skipped.byReason['bullmq queue email']).toBeGreaterThanOrEqual(52);
      expect((await flushReq({ confirm: dry.confirmToken }, token)).status).toBe(200);
      expect(Number(await redis.command(['EXISTS', 'cache:0', 'cache:39']))).toBe(0);
      expect(await q.getWaitingCount()).toBe(50);
      expect((await q.getWaiting(0, 50)).map((j) => j.id).sort()).toEqual([...ids].sort());
    } finally {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
      await redis.command(['FLUSHDB']).catch(() => undefined);
      await redis.close();
    }
  });

  describe.each(['tcp', 'upstash', 'memory'] as const)('over %s', (driver) => {
    let s: Awaited<ReturnType<typeof scenario>>;
    beforeAll(async () => {
      s = await scenario(driver);
      await useAdminDeps(h.db as Db, s.redis);
    });
    afterAll(async () => {
      await s.redis.command(['FLUSHDB']).catch(() => undefined);
      await s.close();
    });

    it('needs admin and the confirm token; the dry run answers DBSIZE; then every key is gone', async () => {
      await s.redis.command(['FLUSHDB']);
      await s.redis.pipeline(Array.from({ length: 30 }, (_, i) => ['SET', `cache:${i}`, 'v']));
      expect((await flushReq({}, await tokenFor('operate'))).status).toBe(403);
      const token = await tokenFor('admin');
      expect((await flushReq({}, token)).status).toBe(428);
      const dry = await (await flushReq({ dryRun: true }, token)).json();
      expect(dry).toMatchObject({ action: 'cache.flush', dryRun: true, status: 'ok' });
      // DBSIZE, which also counts the rate limiter's keys on a shared Redis.
      expect(dry.count).toBeGreaterThanOrEqual(30);
      expect(Number(await s.redis.command(['EXISTS', 'cache:0']))).toBe(1);
      const res = await flushReq({ confirm: dry.confirmToken }, token);
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ status: 'ok' });
      expect(Number(await s.redis.command(['EXISTS', 'cache:0', 'cache:29']))).toBe(0);
      const audit = await h.db.query<Record<string, unknown>>(`SELECT action, result FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
      expect(audit.rows[0]).toMatchObject({ action: 'cache.flush', result: 'ok' });
    });

    it("keeps every BullMQ queue key (any prefix with a meta hash) and Opsbook's own keys; the dry run says what it keeps and why", async () => {
      await s.redis.command(['FLUSHDB']);
      await s.redis.command(['HSET', 'bull:email:meta', 'version', 'bullmq:6.7.0']);
      await s.redis.command(['LPUSH', 'bull:email:wait', '1', '2']);
      await s.redis.command(['HSET', 'bull:email:1', 'data', '{}']);
      await s.redis.command(['HSET', 'other:jobs:meta', 'version', 'bullmq:6.7.0']);
      await s.redis.command(['LPUSH', 'other:jobs:wait', '9']);
      await s.redis.command(['SET', 'opsbook:rl:probe', 'state']);
      await s.redis.command(['SET', 'cache:x', 'v']);
      await s.redis.command(['SET', 'cache:y', 'v']);
      const token = await tokenFor('admin');
      const dry = await (await flushReq({ dryRun: true }, token)).json();
      expect(dry).toMatchObject({ status: 'ok', count: 2 });
      expect([...dry.sample].sort()).toEqual(['cache:x', 'cache:y']);
      expect(dry.data.skipped.byReason).toMatchObject({ 'bullmq queue email': 3, 'bullmq queue jobs (prefix other)': 2 });
      expect(dry.data.skipped.byReason['opsbook internal']).toBeGreaterThanOrEqual(1);
      expect(dry.summary).toMatch(/kept \(.*bullmq queue email: 3/);
      const res = await flushReq({ confirm: dry.confirmToken }, token);
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'ok', count: 2 });
      expect(Number(await s.redis.command(['EXISTS', 'cache:x', 'cache:y']))).toBe(0);
      expect(Number(await s.redis.command(['EXISTS', 'bull:email:meta', 'bull:email:wait', 'bull:email:1', 'other:jobs:meta', 'other:jobs:wait', 'opsbook:rl:probe']))).toBe(6);
      expect(Number(await s.redis.command(['LLEN', 'bull:email:wait']))).toBe(2);
    });

    it.each([{ includeQueues: 'yes' }, { includeQueues: true }, { pattern: '*' }, { includeQueues: "'; FLUSHALL" }])('a bad body %j → 400', async (body) => {
      expect((await flushReq({ ...body, dryRun: true }, await tokenFor('admin'))).status).toBe(400);
    });
  });
});
