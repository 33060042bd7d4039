import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createPgDb } from '../../lib/db/pg.js';
import { allChecks } from '../../lib/checks/registry.js';
import { escapeGlob, readySince } from '../../lib/checks/queues.js';
import type { Deps } from '../../lib/deps.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DEFAULT_LIMITS, openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { REDIS_URL } from '../support/services.js';

/**
 * Real BullMQ (producer and workers over TCP) under a prefix of this file's own, read by the queue
 * checks over TCP and over Upstash REST. The scene, built once:
 *   mixed  3 waiting, 2 delayed (in a minute), 2 prioritized; no worker
 *   done   2 completed by a real worker (closed since)
 *   broken 2 failed by a real worker whose processor throws (closed since)
 *   busy   1 active (a worker holds it until the end of the file), 1 waiting
 *   held   paused, 2 waiting
 *   late   1 delayed job due after 1 s; no worker, so nothing ever promotes it
 */
const PREFIX = `opsbook-t-${randomBytes(4).toString('hex')}`;
const url = new URL(REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const NAMES = ['broken', 'busy', 'done', 'held', 'late', 'mixed'] as const;
type Name = (typeof NAMES)[number];
const TEN_MINUTES_LATER = () => new Date(Date.now() + 10 * 60_000);

const queues = {} as Record<Name, Queue>;
const workers: Worker[] = [];
let releaseBusy: () => void = () => undefined;

const config = (extra: Partial<NonNullable<NonNullable<OpsbookConfigInput['checks']>['queues']>> = {}): OpsbookConfigInput => ({
  checks: { queues: { prefix: PREFIX, ...extra } },
});

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await cond()) return;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function worker(name: Name, processor: () => Promise<unknown>, opts: { concurrency?: number } = {}): Worker {
  const w = new Worker(name, processor, { connection, prefix: PREFIX, ...opts });
  w.on('error', () => undefined);
  workers.push(w);
  return w;
}

/** Make `n` more jobs fail in `broken`, by a real worker whose processor throws. */
async function failJobs(n: number): Promise<void> {
  const target = (await queues.broken.getJobCounts('failed')).failed! + n;
  const w = worker('broken', async () => {
    throw new Error('payment provider rejected the request');
  });
  await queues.broken.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'charge', data: { i }, opts: { attempts: 1 } })));
  await until(`${n} failures`, async () => (await queues.broken.getJobCounts('failed')).failed === target);
  await w.close();
}

/**
 * BullMQ's own counts, in the checks' field names. BullMQ 6 has no "paused" job state (a paused queue
 * keeps its jobs in `wait`); the checks still count the legacy `paused` list, which is empty here.
 */
async function bullmqCounts(name: Name) {
  const c = await queues[name].getJobCounts('waiting', 'active', 'prioritized', 'delayed', 'waiting-children', 'failed', 'completed');
  return {
    waiting: c.waiting,
    active: c.active,
    paused: 0,
    prioritized: c.prioritized,
    delayed: c.delayed,
    waitingChildren: c['waiting-children'],
    failed: c.failed,
    completed: c.completed,
  };
}

beforeAll(async () => {
  for (const n of NAMES) queues[n] = new Queue(n, { connection, prefix: PREFIX });
  await Promise.all(NAMES.map((n) => queues[n].waitUntilReady()));

  await queues.mixed.addBulk([
    ...[1, 2, 3].map((i) => ({ name: 'email', data: { i } })),
    ...[1, 2].map((i) => ({ name: 'reminder', data: { i }, opts: { delay: 60_000 } })),
    { name: 'vip', data: {}, opts: { priority: 1 } },
    { name: 'bulk', data: {}, opts: { priority: 5 } },
  ]);

  worker('done', async () => 'sent');
  await queues.done.addBulk([1, 2].map((i) => ({ name: 'email', data: { i } })));
  await until('2 completed', async () => (await queues.done.getJobCounts('completed')).completed === 2);
  await workers.pop()!.close();

  await failJobs(2);

  const gate = new Promise<void>((resolve) => (releaseBusy = resolve));
  worker('busy', () => gate, { concurrency: 1 });
  await queues.busy.addBulk([1, 2].map((i) => ({ name: 'export', data: { i } })));
  await until('1 active', async () => (await queues.busy.getJobCounts('active')).active === 1);

  await queues.held.pause();
  await queues.held.addBulk([1, 2].map((i) => ({ name: 'sync', data: { i } })));

  await queues.late.add('digest', {}, { delay: 1000 });
});

afterAll(async () => {
  releaseBusy();
  await Promise.allSettled(workers.map((w) => w.close()));
  await Promise.allSettled(NAMES.map((n) => queues[n]?.obliterate({ force: true })));
  await Promise.allSettled(NAMES.map((n) => queues[n]?.close()));
  // Whatever BullMQ left (events streams, markers): every key under this file's prefix.
  const admin = new IORedis(REDIS_URL);
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${escapeGlob(PREFIX)}:*`, 'COUNT', 1000);
    if (keys.length) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  admin.disconnect();
});

describe('the queues family in the registry', () => {
  it('defines three checks whose ids do not depend on which queues exist, none when disabled', () => {
    expect(allChecks(parseConfig(config())).filter((c) => c.family === 'queues').map((c) => c.id)).toEqual(['queues.backlog', 'queues.stuck', 'queues.failed']);
    expect(allChecks(parseConfig({ checks: { queues: { enabled: false } } })).filter((c) => c.family === 'queues')).toEqual([]);
  });

  it('a queue name with ":" in checks.queues.names is refused, as BullMQ refuses it', () => {
    expect(() => parseConfig(config({ names: ['a:b'] }))).toThrow(/cannot contain ":"/);
  });
});

describe('ready time of a job', () => {
  it.each([
    ['added, never run → its add time', ['1000', null, '{"attempts":1}'], 1000],
    ['added with a delay, promoted → add time + delay (BullMQ zeroes the delay field, not opts.delay)', ['1000', null, '{"delay":60000}'], 61_000],
    ['retried → no earlier than its last attempt', ['1000', '5000', '{}'], 5000],
    ['opts not JSON → the add time', ['1000', null, 'garbage'], 1000],
    ['job hash gone (HMGET of a missing key) → unknown', [null, null, null], undefined],
  ])('%s', (_name, fields, expected) => {
    expect(readySince(fields)).toBe(expected);
  });
});

describe.each(['tcp', 'upstash'] as const)('queue checks over %s, BullMQ producing over TCP', (driver) => {
  let h: RedisHarness;
  let pgH: DbHarness;
  let deps: Deps;

  beforeAll(async () => {
    [h, pgH] = await Promise.all([openRedis(driver), openDb('pg')]);
    deps = await depsFor(pgH.db, h.redis);
  });
  afterAll(async () => {
    await Promise.allSettled([h?.close(), pgH?.close()]);
  });

  it('backlog: every queue under the prefix, counted exactly as BullMQ counts it', async () => {
    const r = await diagnose(deps, config(), { only: ['queues.backlog'] });
    const backlog = r.byId('queues.backlog');
    expect(backlog).toMatchObject({ status: 'ok', unit: 'jobs', summary: expect.stringMatching(/^6 queue\(s\): /) });
    expect(backlog.summary).not.toMatch(/truncated/);
    const rows = Object.fromEntries(backlog.details!.map(({ queue, ...rest }) => [queue, rest]));
    expect(Object.keys(rows).sort()).toEqual([...NAMES]);
    for (const n of NAMES) expect(rows[n]).toEqual({ ...(await bullmqCounts(n)), isPaused: n === 'held' });
    expect(rows.mixed).toMatchObject({ waiting: 3, delayed: 2, prioritized: 2, active: 0 });
    expect(rows.done).toMatchObject({ completed: 2 });
    expect(rows.busy).toMatchObject({ active: 1, waiting: 1 });
    // The backlog is everything not yet started: waiting + paused + prioritized + delayed.
    expect(backlog.value).toBe(3 + 2 + 2 + 1 + 2 + 1);
  });

  it('absolute limits are graded on a first run, with no baseline: failed at failedWarn → warn, at failedFail → fail; a queue’s own keys override "*"', async () => {
    const f = (await queues.broken.getJobCounts('failed')).failed!;
    const failed = async (limits: Record<string, Record<string, number>>) => (await diagnose(deps, config({ limits }), { only: ['queues.failed'] })).byId('queues.failed');
    const cases: Array<[Record<string, Record<string, number>>, string, RegExp | null]> = [
      [{ '*': { failedWarn: f + 1 } }, 'ok', null],
      [{ '*': { failedWarn: f } }, 'warn', new RegExp(`^broken: ${f} failed \\(warn at ${f}\\); .*growth is unknown`)],
      [{ '*': { failedWarn: 1 }, broken: { failedFail: f } }, 'fail', new RegExp(`^broken: ${f} failed \\(fail at ${f}\\); `)],
      [{ '*': { failedFail: 1 }, broken: { failedFail: f + 1 } }, 'ok', null],
    ];
    for (const [limits, status, summary] of cases) {
      const r = await failed(limits);
      expect(r.status, JSON.stringify(limits)).toBe(status);
      if (summary) {
        expect(r.summary).toMatch(summary);
        expect(r.hint?.action).toEqual({ method: 'POST', path: '/api/admin/queues/retry', body: { queue: 'broken', dryRun: true } });
      }
    }
  });

  it('waiting and oldest-waiting limits grade the backlog: mixed at waitingWarn → warn; ten minutes on, past oldestWaitingFailSeconds → fail, busy queues too', async () => {
    const backlog = async (limits: Record<string, Record<string, number>>, now?: Date) => (await diagnose(deps, config({ limits }), { only: ['queues.backlog'] }, now)).byId('queues.backlog');
    const waiting = await backlog({ mixed: { waitingWarn: 5, waitingFail: 100 } });
    expect(waiting).toMatchObject({ status: 'warn', summary: expect.stringMatching(/^mixed: 5 jobs waiting \(warn at 5\); 6 queue\(s\): /) });
    expect(await backlog({ mixed: { waitingWarn: 6 } })).toMatchObject({ status: 'ok' });
    expect(await backlog({ '*': { oldestWaitingFailSeconds: 300 } })).toMatchObject({ status: 'ok' });
    const old = await backlog({ '*': { oldestWaitingFailSeconds: 300 } }, TEN_MINUTES_LATER());
    expect(old.status).toBe('fail');
    expect(old.summary).toMatch(/the oldest waiting job ready for (9|10) min \d+ s \(fail at 5 min 0 s\)/);
    // busy has a worker and still one job waiting ten minutes: the age limit holds whatever the workers do.
    expect(old.summary).toContain('busy: the oldest waiting job');
    expect(old.summary).toContain('mixed: the oldest waiting job');
  });

  it('stuck: fresh jobs are not stuck', async () => {
    const r = await diagnose(deps, config(), { only: ['queues.stuck'] });
    expect(r.byId('queues.stuck')).toMatchObject({ status: 'ok', value: 0, summary: expect.stringMatching(/^no stuck queue among 6/) });
  });

  it('stuck: ten minutes on, ready jobs with nothing active → fail naming the worker; a busy or paused queue is not stuck', async () => {
    const r = await diagnose(deps, config(), { only: ['queues.stuck'] }, TEN_MINUTES_LATER());
    const stuck = r.byId('queues.stuck');
    expect(stuck).toMatchObject({ status: 'fail', value: 2, unit: 'queues' });
    const rows = Object.fromEntries(stuck.details!.map((d) => [d.queue, d]));
    // Its delayed jobs were due nine minutes ago, too: nobody promoted them.
    expect(rows.mixed).toMatchObject({ state: 'stuck', ready: 5, active: 0, overdueDelayed: true });
    expect(rows.mixed!.oldestReadySeconds).toBeGreaterThan(300);
    // Its job is overdue, but only a worker promotes delayed jobs: with none, it is stuck too.
    expect(rows.late).toMatchObject({ state: 'stuck', ready: 0, overdueDelayed: true });
    expect(rows.held).toMatchObject({ state: 'paused', ready: 2 });
    expect(rows.busy).toBeUndefined();
    expect(rows.done).toBeUndefined();
    expect(stuck.hint?.text).toMatch(/Check the worker/);
    expect(stuck.hint?.text).toMatch(/Retrying does not help/);
    expect(stuck.hint?.action).toBeUndefined();
  });

  it('stuck: a paused queue with old jobs and nothing else → warn, resume it', async () => {
    const r = await diagnose(deps, config({ names: ['held'] }), { only: ['queues.stuck'] }, TEN_MINUTES_LATER());
    expect(r.byId('queues.stuck')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/^1 paused queue\(s\) with jobs waiting: held/) });
    expect(r.byId('queues.stuck').hint?.text).toMatch(/queue\.resume\(\)/);
  });

  it('failed: the first snapshot has no baseline; new failures since it → warn with a dry-run retry of that queue', async () => {
    const first = await diagnose(deps, config(), { only: ['queues'], snapshot: true });
    const failedBefore = (await queues.broken.getJobCounts('failed')).failed!;
    expect(first.snapshotStored).toBe(true);
    expect(first.byId('queues.failed')).toMatchObject({ status: 'ok', value: failedBefore, summary: expect.stringMatching(/no previous snapshot to compare with/) });
    const stored = await pgH.database!.admin.query<{ data: Record<string, { failed: number }> }>("SELECT data FROM opsbook.snapshots WHERE kind = 'queue_counts'");
    expect(stored.rows).toHaveLength(1);
    expect(Object.keys(stored.rows[0]!.data).sort()).toEqual([...NAMES]);
    expect(stored.rows[0]!.data.broken!.failed).toBe(failedBefore);

    await failJobs(2);
    const second = await diagnose(deps, config(), { only: ['queues'], snapshot: true });
    const failed = second.byId('queues.failed');
    expect(failed).toMatchObject({ status: 'warn', value: failedBefore + 2, summary: expect.stringMatching(/broken \+2/) });
    expect(failed.details![0]).toEqual({ queue: 'broken', failed: failedBefore + 2, previous: failedBefore, growth: 2 });
    expect(failed.hint).toEqual({
      text: expect.stringMatching(/failedReason/),
      action: { method: 'POST', path: '/api/admin/queues/retry', body: { queue: 'broken', dryRun: true } },
    });

    const third = await diagnose(deps, config(), { only: ['queues.failed'] });
    expect(third.byId('queues.failed')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/no growth of 1 or more/) });
  });

  it('a growth below failedGrowthWarn → ok', async () => {
    await diagnose(deps, config(), { only: ['queues.failed'], snapshot: true });
    await failJobs(1);
    const r = await diagnose(deps, config({ failedGrowthWarn: 5 }), { only: ['queues.failed'] });
    expect(r.byId('queues.failed')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/no growth of 5 or more/) });
    expect(r.byId('queues.failed').details![0]).toMatchObject({ queue: 'broken', growth: 1 });
  });

  it('discovery stopped by maxScanCalls → says it was truncated and how to avoid it', async () => {
    const r = await diagnose(deps, config({ scanCount: 10, maxScanCalls: 1 }), { only: ['queues'] });
    for (const id of ['queues.backlog', 'queues.stuck', 'queues.failed']) {
      expect(r.byId(id).summary).toMatch(/discovery truncated: stopped after 1 SCAN calls \(maxScanCalls\)/);
    }
    expect(r.byId('queues.backlog').hint?.text).toMatch(/checks\.queues\.names/);
  });

  it('queues named in config: exactly those, and a missing one → warn', async () => {
    const r = await diagnose(deps, config({ names: ['mixed', 'nosuchqueue'] }), { only: ['queues.backlog'] });
    expect(r.byId('queues.backlog')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/not found under prefix ".*": nosuchqueue; 1 queue\(s\)/) });
    expect(r.byId('queues.backlog').details!.map((d) => d.queue)).toEqual(['mixed']);
  });

  it('a queue Redis that may evict keys (maxmemory-policy not noeviction) → backlog warns: jobs could be lost', async () => {
    const admin = new IORedis(REDIS_URL);
    const [, original] = (await admin.config('GET', 'maxmemory-policy')) as [string, string];
    try {
      // With maxmemory 0 nothing is ever evicted, so the shared test Redis is unaffected meanwhile.
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      const r = await diagnose(deps, config(), { only: ['queues.backlog'] });
      expect(r.byId('queues.backlog')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/^maxmemory-policy is allkeys-lru, BullMQ needs noeviction; 6 queue\(s\)/) });
    } finally {
      await admin.config('SET', 'maxmemory-policy', original);
      admin.disconnect();
    }
  });

  it('a wrong prefix finds no queues and says to check it', async () => {
    const r = await diagnose(deps, config({ prefix: `${PREFIX}-nothing` }), { only: ['queues.backlog'] });
    expect(r.byId('queues.backlog')).toMatchObject({ status: 'ok', value: 0, hint: { text: expect.stringMatching(/checks\.queues\.prefix/) } });
  });
});

describe('round trips over Upstash', () => {
  it('all queues are counted in ONE pipeline, and the stuck check adds exactly one more (plus the redis.ping root probe)', async () => {
    const h = await openRedis('upstash');
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 2000 });
    try {
      const deps = await depsFor(db, h.redis);
      const named = config({ names: [...NAMES] });
      h.upstash!.resetCount();
      const backlog = await diagnose(deps, named, { only: ['queues.backlog'] });
      expect(backlog.byId('queues.backlog').details).toHaveLength(6);
      // One for the queues, one for redis.ping: the check that stands for "Redis is reachable".
      expect(h.upstash!.requests).toBe(2);
      h.upstash!.resetCount();
      const stuck = await diagnose(deps, named, { only: ['queues.backlog', 'queues.stuck'] }, TEN_MINUTES_LATER());
      expect(stuck.byId('queues.stuck').status).toBe('fail');
      expect(h.upstash!.requests).toBe(3);
    } finally {
      await db.close();
      await h.close();
    }
  });
});

describe('without what the checks need', () => {
  it('Postgres down → failed counts still reported, growth "no previous snapshot available"', async () => {
    const h = await openRedis('tcp');
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 2000 });
    try {
      const r = await diagnose(await depsFor(db, h.redis), config(), { only: ['queues'] });
      expect(r.byId('queues.failed')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/no previous snapshot available \(Postgres: /) });
      expect(r.byId('queues.failed').value).toBe((await queues.broken.getJobCounts('failed')).failed);
      expect(r.byId('queues.backlog').status).toBe('ok');
    } finally {
      await db.close();
      await h.close();
    }
  });

  it('the queue Redis is the in-memory fallback → every check skipped: no queue Redis configured', async () => {
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, DEFAULT_LIMITS);
    try {
      const r = await diagnose(await depsFor(db, createMemoryRedis()), config(), { only: ['queues'] });
      expect(r.checks).toHaveLength(3);
      for (const c of r.checks) {
        expect(c).toMatchObject({ status: 'skipped', summary: expect.stringMatching(/^no queue Redis configured/), hint: { text: expect.stringMatching(/REDIS_URL/) } });
      }
    } finally {
      await db.close();
    }
  });

  it('a separate queue Redis (diagnostics option) is read while the main one is the fallback', async () => {
    const h = await openRedis('tcp');
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, DEFAULT_LIMITS);
    try {
      const r = await diagnose(await depsFor(db, createMemoryRedis()), config(), { only: ['queues.backlog'], queueRedis: h.redis });
      expect(r.byId('queues.backlog')).toMatchObject({ status: 'ok', summary: expect.stringMatching(/^6 queue\(s\)/) });
    } finally {
      await db.close();
      await h.close();
    }
  });

  it('queue Redis port closed → redis.ping is the one root cause, every queue check is suppressed, none throws', async () => {
    const { createTcpRedis } = await import('../../lib/redis/tcp.js');
    const redis = createTcpRedis(`redis://127.0.0.1:${await closedPort()}`, { callTimeoutMs: 2000 });
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 2000 });
    try {
      const r = await diagnose(await depsFor(db, redis), config(), { only: ['queues'] });
      expect(r.byId('redis.ping')).toMatchObject({ status: 'error', summary: expect.stringMatching(/^Redis did not answer: /) });
      const dependents = r.checks.filter((c) => c.id !== 'redis.ping');
      expect(dependents.length).toBeGreaterThan(0);
      for (const c of dependents) expect(c).toMatchObject({ status: 'skipped', summary: 'suppressed: redis unreachable', suppressedBy: 'redis.ping' });
    } finally {
      await redis.close();
      await db.close();
    }
  });
});
