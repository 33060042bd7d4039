import { randomBytes } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as del } from '../../api/admin/cache/delete.js';
import { POST as flush } from '../../api/admin/cache/flush.js';
import { globTokens, mayMatchPrefix } from '../../lib/actions/cache-delete.js';
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
    ['a prefix of a protected prefix', 'o*'],
  ])("a pattern matching Opsbook's or BullMQ's keys without naming them (%s) → 400", async (_what, pattern) => {
    const res = await deleteReq({ pattern, dryRun: true }, await tokenFor('operate'));
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(/would also match/);
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

describe('the protected-prefix rule', () => {
  it.each([
    ['cache:*', 'opsbook:', false],
    ['*', 'opsbook:', true],
    ['op*', 'opsbook:', true],
    ['opsbook', 'opsbook:', false],
    ['opsbook?*', 'opsbook:', true],
    ['[^c]*', 'opsbook:', true],
    ['[^o]*', 'opsbook:', false],
    ['\\*', 'opsbook:', false],
    ['bull:email:*', 'bull:', true],
    ['?ache:*', 'opsbook:', false],
  ])('%s reaches %s: %s', (pattern, prefix, expected) => {
    expect(mayMatchPrefix(globTokens(pattern), prefix)).toBe(expected);
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

    it('refuses (409) when the Redis also holds BullMQ queues, unless includeQueues is true', async () => {
      await s.redis.command(['FLUSHDB']);
      await s.redis.command(['HSET', 'bull:email:meta', 'version', 'bullmq:6.7.0']);
      await s.redis.command(['SET', 'cache:x', 'v']);
      const token = await tokenFor('admin');
      const dry = await (await flushReq({ dryRun: true }, token)).json();
      expect(dry.summary).toMatch(/BullMQ queue/);
      expect(dry.data).toMatchObject({ queues: ['email'], queueCount: 1 });
      const refused = await flushReq({ confirm: dry.confirmToken }, token);
      expect(refused.status).toBe(409);
      expect(Number(await s.redis.command(['EXISTS', 'bull:email:meta']))).toBe(1);
      const dry2 = await (await flushReq({ includeQueues: true, dryRun: true }, token)).json();
      expect((await flushReq({ includeQueues: true, confirm: dry2.confirmToken }, token)).status).toBe(200);
      expect(Number(await s.redis.command(['EXISTS', 'bull:email:meta', 'cache:x']))).toBe(0);
    });

    it.each([{ includeQueues: 'yes' }, { pattern: '*' }, { includeQueues: "'; FLUSHALL" }])('a bad body %j → 400', async (body) => {
      expect((await flushReq({ ...body, dryRun: true }, await tokenFor('admin'))).status).toBe(400);
    });
  });
});
