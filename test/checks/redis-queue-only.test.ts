import { Queue, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgDb } from '../../lib/db/pg.js';
import type { Db } from '../../lib/db/types.js';
import type { Deps } from '../../lib/deps.js';
import { gradeHitRate, isQueueOnly, parseInfo, sampleKeys } from '../../lib/checks/redis.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import type { RedisClient } from '../../lib/redis/index.js';
import { startUpstashPeer } from '../peers/upstash-rest.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DEFAULT_LIMITS } from '../support/drivers.js';
import { PG_ADMIN_URL, redisUrlFor } from '../support/services.js';

/**
 * A Redis that only serves BullMQ queues misses most lookups by design: redis.hit-rate does not warn
 * about it, while a Redis with one cache key beside the queues is graded as a cache and still warns.
 * Over the real Redis, in a logical database of this file's own (db 9, emptied first), with real
 * BullMQ queues, a real worker and real jobs.
 */
const DB = 9;
const URL_ = redisUrlFor(DB);
const STATS = (hits: number, misses: number) => parseInfo(`# Stats\r\nkeyspace_hits:${hits}\r\nkeyspace_misses:${misses}\r\n`);

describe('hit rate and the key sample (pure)', () => {
  it.each([
    ['only BullMQ keys → not graded', ['bull:email:id', 'bull:email:wait', 'bull:email:meta'], 'ok', /not graded: this Redis serves queues only \(of 3 sampled keys, 3 are BullMQ's bull:\*\)/],
    ['BullMQ keys and Opsbook rate limits → not graded', ['bull:email:id', 'opsbook:rl:ip:1.2.3.4:99'], 'ok', /of 2 sampled keys, 1 are BullMQ's bull:\* and 1 Opsbook's own opsbook:\*/],
    ['only Opsbook keys, no queue → warns (not a queue Redis)', ['opsbook:rl:ip:1.2.3.4:99'], 'warn', /below 80%/],
    ['one cache key among queue keys → warns', ['bull:email:id', 'bull:email:wait', 'cache:user:1'], 'warn', /hit rate 10% .*below 80%/],
    ['a key merely starting with "bull" (no colon) is not a queue key → warns', ['bullseye:1'], 'warn', /below 80%/],
    ['an empty database → warns (nothing says it is a queue Redis)', [], 'warn', /below 80%/],
  ])('%s', (_name, keys, status, summary) => {
    const sample = sampleKeys(['0', keys], 'bull:', 'opsbook:');
    const r = gradeHitRate(STATS(100, 900), { hitRateWarnPct: 80 }, sample);
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
    // Key names are the application's data: only counts are kept.
    expect(JSON.stringify(r)).not.toMatch(/cache:user|email:wait|bullseye/);
  });

  it('no sample (SCAN refused or not a SCAN reply) → graded as before', () => {
    expect(isQueueOnly(sampleKeys('nonsense', 'bull:', 'opsbook:'))).toBe(false);
    expect(gradeHitRate(STATS(100, 900), { hitRateWarnPct: 80 }).status).toBe('warn');
  });
});

describe.each(['tcp', 'upstash'] as const)('redis.hit-rate over %s on a real Redis holding real BullMQ queues', (driver) => {
  const connection = { host: new URL(URL_).hostname, port: Number(new URL(URL_).port || 6379), db: DB };
  let admin: IORedis;
  let db: Db;
  let redis: RedisClient;
  let deps: Deps;
  let closePeer: () => Promise<void> = async () => undefined;
  const queues: Queue[] = [];

  beforeAll(async () => {
    admin = new IORedis(URL_);
    await admin.flushdb();
    // Two queues with jobs waiting, completed and failed by a real worker.
    for (const name of ['email', 'billing']) {
      const q = new Queue(name, { connection });
      queues.push(q);
      await q.addBulk(Array.from({ length: 5 }, (_, i) => ({ name: 'job', data: { i } })));
    }
    const worker = new Worker('email', async (job) => {
      if (job.data.i % 2) throw new Error('provider said no');
      return 'sent';
    }, { connection });
    worker.on('error', () => undefined);
    for (let i = 0; i < 200; i++) {
      const c = await queues[0]!.getJobCounts('completed', 'failed');
      if ((c.completed ?? 0) + (c.failed ?? 0) >= 5) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await worker.close();
    db = createPgDb(PG_ADMIN_URL, DEFAULT_LIMITS);
    if (driver === 'tcp') redis = createTcpRedis(URL_, { callTimeoutMs: 5000 });
    else {
      const peer = await startUpstashPeer({ upstream: URL_ });
      redis = createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 5000 });
      closePeer = () => peer.close();
    }
    deps = await depsFor(db, redis);
    // Misses, so the (server-wide) hit rate has lookups to judge; a 100 % goal then always warns on a cache.
    await admin.pipeline(Array.from({ length: 1000 }, (_, i) => ['get', `bull:email:missing:${i}`])).exec();
  }, 60_000);

  afterAll(async () => {
    for (const q of queues) await q.close();
    await admin?.flushdb();
    admin?.disconnect();
    await redis?.close();
    await closePeer();
    await db?.close();
  });

  const hitRate = async () => (await diagnose(deps, { checks: { redis: { thresholds: { hitRateWarnPct: 100 } } } }, { only: ['redis.hit-rate'] })).byId('redis.hit-rate');

  it('queues only → no warning, saying why; one cache key beside them → warns', async () => {
    expect((await admin.keys('*')).every((k) => k.startsWith('bull:'))).toBe(true);
    const queueOnly = await hitRate();
    expect(queueOnly).toMatchObject({ status: 'ok', summary: expect.stringMatching(/not graded: this Redis serves queues only \(of \d+ sampled keys, \d+ are BullMQ's bull:\*\)/) });
    expect(queueOnly.details?.[0]).toMatchObject({ sampledKeys: expect.any(Number) });
    expect((queueOnly.details?.[0] as Record<string, number>).sampledKeys).toBeGreaterThan(5);

    await admin.set('cache:user:42', '{"name":"Ada"}', 'EX', 600);
    try {
      const cache = await hitRate();
      expect(cache).toMatchObject({ status: 'warn', summary: expect.stringMatching(/below 100%/) });
      expect(JSON.stringify(cache)).not.toContain('cache:user:42');
    } finally {
      await admin.del('cache:user:42');
    }
  });
});
