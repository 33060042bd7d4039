import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as clean } from '../../api/admin/queues/clean.js';
import { POST as pause } from '../../api/admin/queues/pause.js';
import { POST as resume } from '../../api/admin/queues/resume.js';
import { POST as retry } from '../../api/admin/queues/retry.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import type { RedisClient } from '../../lib/redis/index.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { REDIS_URL } from '../support/services.js';

/**
 * Real BullMQ queues under a prefix of this file's own, on the test Redis over TCP: jobs are failed and
 * completed by real workers, the actions go through the admin routes, and BullMQ (and raw Redis) say
 * what happened.
 */
const PREFIX = `opsbook-t-${randomBytes(4).toString('hex')}`;
const url = new URL(REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379) };
/** Job data the answers must never contain. */
const SECRET = 'card-SECRET-4242';

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

const queues = new Map<string, Queue>();
function queue(name: string): Queue {
  let q = queues.get(name);
  if (!q) {
    q = new Queue(name, { connection, prefix: PREFIX });
    q.on('error', () => undefined);
    queues.set(name, q);
  }
  return q;
}

async function runWorker(name: string, processor: () => Promise<unknown>, done: () => Promise<boolean>): Promise<void> {
  const w = new Worker(name, processor, { connection, prefix: PREFIX });
  w.on('error', () => undefined);
  try {
    await until(`worker on ${name}`, done);
  } finally {
    await w.close();
  }
}

/** `n` more failed jobs in `name`, failed by a real worker whose processor throws. */
async function failJobs(name: string, n: number): Promise<void> {
  const q = queue(name);
  const target = (await q.getFailedCount()) + n;
  await q.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'charge', data: { card: SECRET, i }, opts: { attempts: 1 } })));
  await runWorker(name, async () => {
    throw new Error('payment provider rejected the request');
  }, async () => (await q.getFailedCount()) === target);
}

async function completeJobs(name: string, n: number): Promise<void> {
  const q = queue(name);
  const target = (await q.getCompletedCount()) + n;
  await q.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'send', data: { i } })));
  await runWorker(name, async () => 'sent', async () => (await q.getCompletedCount()) === target);
}

describe('queue actions on real BullMQ queues', () => {
  let h: DbHarness;
  let limiterRedis: RedisHarness;
  let raw: IORedis;
  const tokens = new Map<Role, string>();
  const freshToken = async (role: Role) => (await createToken(h.db, { name: `queues-${role}-${randomBytes(4).toString('hex')}`, role, createdBy: 'tests' })).token;

  beforeAll(async () => {
    [h, limiterRedis] = await Promise.all([openDb('pg'), openRedis('memory')]);
    raw = new IORedis(REDIS_URL);
    await useAdminDeps(h.db, limiterRedis.redis, { checks: { queues: { prefix: PREFIX } } }, { REDIS_URL });
    for (const role of ['read', 'operate', 'admin'] as Role[]) tokens.set(role, await freshToken(role));
  });
  afterAll(async () => {
    resetAdminDeps();
    for (const q of queues.values()) await q.obliterate({ force: true }).catch(() => undefined);
    await Promise.allSettled([...queues.values()].map((q) => q.close()));
    // Whatever is left under this file's prefix (the runbook-DEL demonstration leaves orphan hashes).
    for await (const keys of raw.scanStream({ match: `${PREFIX}:*`, count: 1000 })) if ((keys as string[]).length) await raw.unlink(...(keys as string[]));
    raw.disconnect();
    await Promise.allSettled([h.close(), limiterRedis.close()]);
  });

  const call = (route: (r: Request) => Promise<Response>, path: string, body: unknown, token: string) => route(adminRequest(`/api/admin/queues/${path}`, { body, token }));
  /** Dry run, then the real request with the dry run's confirm token (same token: confirm tokens are per actor). */
  async function confirmed(route: (r: Request) => Promise<Response>, path: string, body: Record<string, unknown>, token: string) {
    const dry = await (await call(route, path, { ...body, dryRun: true }, token)).json();
    expect(dry.confirmToken).toEqual(expect.any(String));
    return call(route, path, { ...body, confirm: dry.confirmToken }, token);
  }

  it('retry: the dry run counts the failed jobs and samples ids and names, never job data', async () => {
    await failJobs('payments', 5);
    const res = await call(retry, 'retry', { queue: 'payments', limit: 3, dryRun: true }, tokens.get('operate')!);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text);
    expect(body).toMatchObject({ action: 'queues.retry', status: 'ok', dryRun: true, count: 3, data: { failed: 5 } });
    expect(body.sample).toHaveLength(3);
    expect(body.sample[0]).toMatchObject({ id: expect.any(String), name: 'charge' });
    expect(await queue('payments').getFailedCount()).toBe(5);
  });

  it('retry: the oldest `limit` failed jobs go back to wait, and a real worker then processes them', async () => {
    const token = await freshToken('operate');
    const q = queue('payments');
    const oldest = await q.getRanges(['failed'], 0, 2, true);
    const res = await call(retry, 'retry', { queue: 'payments', limit: 3 }, token);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).not.toContain(SECRET);
    const body = JSON.parse(text);
    expect(body).toMatchObject({ status: 'ok', count: 3, dryRun: false });
    expect(body.sample.map((s: { id: string }) => s.id).sort()).toEqual([...oldest].sort());
    expect(await q.getJobCounts('failed', 'wait')).toMatchObject({ failed: 2, wait: 3 });
    await runWorker('payments', async () => 'charged', async () => (await q.getCompletedCount()) === 3);
    expect(await q.getFailedCount()).toBe(2);

    const audit = await h.db.query<Record<string, unknown>>(`SELECT action, target, result, before, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'queues.retry', target: 'queue:payments', result: 'ok', before: { failed: 5 }, after: { retried: 3 } });

    // The rest, with the default limit; then nothing is left: a no-op.
    expect(await (await call(retry, 'retry', { queue: 'payments' }, token)).json()).toMatchObject({ status: 'ok', count: 2 });
    await runWorker('payments', async () => 'charged', async () => (await q.getCompletedCount()) === 5);
    expect(await (await call(retry, 'retry', { queue: 'payments' }, token)).json()).toMatchObject({ status: 'noop', count: 0 });
  });

  it('clean: needs the admin role and the dry run confirm token (428 without)', async () => {
    await failJobs('mail', 2);
    expect((await call(clean, 'clean', { queue: 'mail', state: 'failed' }, tokens.get('operate')!)).status).toBe(403);
    const res = await call(clean, 'clean', { queue: 'mail', state: 'failed' }, tokens.get('admin')!);
    expect(res.status).toBe(428);
    expect((await res.json()).error.code).toBe('CONFIRMATION_REQUIRED');
    expect(await queue('mail').getFailedCount()).toBe(2);
  });

  it('clean: removes the failed jobs AND their hashes (the runbook DEL leaves the hashes behind)', async () => {
    const token = await freshToken('admin');
    const q = queue('mail');
    await failJobs('mail', 4);
    const ids = await q.getRanges(['failed'], 0, -1, true);
    expect(ids).toHaveLength(6);
    const dry = await (await call(clean, 'clean', { queue: 'mail', state: 'failed', dryRun: true }, token)).json();
    expect(dry).toMatchObject({ status: 'ok', dryRun: true, count: 6, data: { total: 6 } });
    expect(JSON.stringify(dry)).not.toContain(SECRET);
    const res = await call(clean, 'clean', { queue: 'mail', state: 'failed', confirm: dry.confirmToken }, token);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', count: 6 });
    expect(await q.getFailedCount()).toBe(0);
    const left = await raw.exists(...ids.map((id) => `${PREFIX}:mail:${id}`));
    expect(left).toBe(0);
    const audit = await h.db.query<Record<string, unknown>>(`SELECT action, result, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'queues.clean', result: 'ok', after: { removed: 6 } });

    // Why: the runbook's `DEL bull:email:failed` on another queue: the set goes, every job hash stays.
    await failJobs('mail-runbook', 3);
    const orphans = await queue('mail-runbook').getRanges(['failed'], 0, -1, true);
    await raw.del(`${PREFIX}:mail-runbook:failed`);
    expect(await raw.exists(...orphans.map((id) => `${PREFIX}:mail-runbook:${id}`))).toBe(3);
  });

  it('clean: olderThan keeps recent jobs; completed jobs can be cleaned too', async () => {
    const token = await freshToken('admin');
    const q = queue('reports');
    await completeJobs('reports', 3);
    expect(await (await call(clean, 'clean', { queue: 'reports', state: 'completed', olderThan: '1h', dryRun: true }, token)).json()).toMatchObject({ status: 'noop', count: 0 });
    const res = await confirmed(clean, 'clean', { queue: 'reports', state: 'completed', olderThan: '1h' }, token);
    expect(await res.json()).toMatchObject({ status: 'noop', count: 0 });
    expect(await q.getCompletedCount()).toBe(3);
    const all = await confirmed(clean, 'clean', { queue: 'reports', state: 'completed' }, token);
    expect(await all.json()).toMatchObject({ status: 'ok', count: 3 });
    expect(await q.getCompletedCount()).toBe(0);
  });

  it('pause and resume are reflected by queue.isPaused(); a repeat is a no-op', async () => {
    const token = await freshToken('operate');
    const q = queue('thumbnails');
    await q.add('resize', { w: 100 });
    expect(await (await call(pause, 'pause', { queue: 'thumbnails', dryRun: true }, token)).json()).toMatchObject({ status: 'ok', dryRun: true, count: 1 });
    expect(await q.isPaused()).toBe(false);
    const paused = await (await call(pause, 'pause', { queue: 'thumbnails' }, token)).json();
    expect(paused).toMatchObject({ action: 'queues.pause', status: 'ok', count: 1 });
    expect(await q.isPaused()).toBe(true);
    expect(await (await call(pause, 'pause', { queue: 'thumbnails' }, token)).json()).toMatchObject({ status: 'noop' });
    const resumed = await (await call(resume, 'resume', { queue: 'thumbnails' }, token)).json();
    expect(resumed).toMatchObject({ action: 'queues.resume', status: 'ok' });
    expect(await q.isPaused()).toBe(false);
    expect(await (await call(resume, 'resume', { queue: 'thumbnails' }, token)).json()).toMatchObject({ status: 'noop' });
    const audit = await h.db.query<{ action: string; before: unknown; after: unknown }>(`SELECT action, before, after FROM opsbook.audit_log WHERE id = ANY($1::bigint[]) ORDER BY id`, [[paused.auditId, resumed.auditId]]);
    expect(audit.rows).toEqual([
      { action: 'queues.pause', before: { paused: false }, after: { paused: true } },
      { action: 'queues.resume', before: { paused: true }, after: { paused: false } },
    ]);
  });

  it.each([
    ['retry', retry, { queue: 'no-such-queue' }],
    ['clean', clean, { queue: 'no-such-queue', state: 'failed', dryRun: true }],
    ['pause', pause, { queue: 'no-such-queue' }],
    ['resume', resume, { queue: 'no-such-queue' }],
  ] as const)('%s on an unknown queue → 404, and no meta key is created', async (path, route, body) => {
    const res = await call(route, path, body, tokens.get('admin')!);
    expect(res.status).toBe(404);
    expect((await res.json()).error.code).toBe('NOT_FOUND');
    expect(await raw.exists(`${PREFIX}:no-such-queue:meta`)).toBe(0);
  });

  const HOSTILE = ["'; DROP TABLE opsbook.audit_log; --", '*', 'bull:*', '[a-z]*', '?', '\\', '../etc', '{"a":1}', '$1', 'x'.repeat(201), ''];
  it.each(HOSTILE)('a hostile queue name %j → 400 or 404, never 5xx, nothing created', async (name) => {
    const token = await freshToken('admin');
    for (const [path, route, extra] of [
      ['retry', retry, {}],
      ['clean', clean, { state: 'failed', dryRun: true }],
      ['pause', pause, {}],
      ['resume', resume, {}],
    ] as const) {
      const res = await call(route, path, { queue: name, ...extra }, token);
      expect([400, 404]).toContain(res.status);
    }
    expect(await raw.exists(`${PREFIX}:${name}:meta`)).toBe(0);
  });

  it.each([
    ['limit 0', retry, 'retry', { queue: 'payments', limit: 0 }],
    ['limit 1001', retry, 'retry', { queue: 'payments', limit: 1001 }],
    ['limit as text', retry, 'retry', { queue: 'payments', limit: '10; DROP' }],
    ['an unknown state', clean, 'clean', { queue: 'mail', state: 'active' }],
    ['olderThan as SQL', clean, 'clean', { queue: 'mail', state: 'failed', olderThan: "1d'; --" }],
    ['olderThan without unit', clean, 'clean', { queue: 'mail', state: 'failed', olderThan: '7' }],
    ['olderThan as a glob', clean, 'clean', { queue: 'mail', state: 'failed', olderThan: '*' }],
    ['a queue with ":"', pause, 'pause', { queue: 'mail:failed' }],
  ] as const)('%s → 400', async (_what, route, path, body) => {
    const res = await call(route, path, body, tokens.get('admin')!);
    expect(res.status).toBe(400);
  });

  describe('without a redis:// URL', () => {
    it.each(['memory', 'upstash'] as const)('with only the %s Redis → 503 explaining BullMQ needs a redis:// URL', async (driver) => {
      const other = await openRedis(driver);
      try {
        await useAdminDeps(h.db, other.redis as RedisClient, { checks: { queues: { prefix: PREFIX } } });
        const res = await call(retry, 'retry', { queue: 'payments', dryRun: true }, tokens.get('operate')!);
        expect(res.status).toBe(503);
        const body = await res.json();
        expect(body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
        expect(body.error.message).toMatch(/BullMQ needs a redis:\/\/ or rediss:\/\/ URL/);
      } finally {
        await useAdminDeps(h.db, limiterRedis.redis, { checks: { queues: { prefix: PREFIX } } }, { REDIS_URL });
        await other.close();
      }
    });

    it('checks.queues.redisUrlEnv names the variable holding the queue Redis', async () => {
      process.env.OPSBOOK_T_QUEUE_REDIS = REDIS_URL;
      try {
        await useAdminDeps(h.db, limiterRedis.redis, { checks: { queues: { prefix: PREFIX, redisUrlEnv: 'OPSBOOK_T_QUEUE_REDIS' } } });
        const res = await call(retry, 'retry', { queue: 'payments', dryRun: true }, tokens.get('operate')!);
        expect(res.status).toBe(200);
      } finally {
        delete process.env.OPSBOOK_T_QUEUE_REDIS;
        await useAdminDeps(h.db, limiterRedis.redis, { checks: { queues: { prefix: PREFIX } } }, { REDIS_URL });
      }
    });
  });
});
