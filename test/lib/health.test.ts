import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNeonDb } from '../../lib/db/neon.js';
import { createPgDb } from '../../lib/db/pg.js';
import type { Db } from '../../lib/db/types.js';
import { runHealth, type HealthOptions } from '../../lib/health.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import type { RedisClient } from '../../lib/redis/types.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { DEFAULT_LIMITS, openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { closedPort, startBlackHole, type BlackHole } from '../support/faults.js';
import { REDIS_URL } from '../support/services.js';

const NOW = new Date('2026-11-22T09:00:00Z');
const opts = (o: Partial<HealthOptions> = {}): HealthOptions => ({ budgetMs: 1000, critical: ['database'], production: false, ...o });
const FAST = { ...DEFAULT_LIMITS, callTimeoutMs: 3000 };

describe('health over real dependencies', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  let pgH: DbHarness;
  let neonH: DbHarness;
  let tcpH: RedisHarness;
  let upH: RedisHarness;
  let hole: BlackHole;
  let deadPort: number;

  beforeAll(async () => {
    [pgH, neonH, tcpH, upH, hole, deadPort] = await Promise.all([
      openDb('pg'),
      openDb('neon'),
      openRedis('tcp'),
      openRedis('upstash'),
      startBlackHole(),
      closedPort(),
    ]);
    open.push(pgH, neonH, tcpH, upH, hole);
  });
  afterAll(async () => {
    await Promise.allSettled(open.map((o) => o.close()));
  });

  function track<T extends Db | RedisClient>(c: T): T {
    open.push(c);
    return c;
  }

  it.each([
    ['node-postgres + Redis TCP', () => pgH.db, () => tcpH.redis],
    ['Neon HTTP + Upstash REST', () => neonH.db, () => upH.redis],
    ['node-postgres + in-memory fallback', () => pgH.db, () => createMemoryRedis()],
  ])('%s up → healthy, 200', async (_name, db, redis) => {
    const r = await runHealth({ db: db(), redis: redis() }, opts(), NOW);
    expect(r).toMatchObject({ status: 'healthy', httpStatus: 200, timestamp: NOW.toISOString(), checks: { database: 'healthy', redis: 'healthy' } });
  });

  /** Neon and Upstash with Opsbook's schema in place and one health check done: the peer's count starts at 0. */
  const NO_CHECKLISTS = { checklists: [] };
  const warmNeonHealth = async () => {
    const { ensureSchema } = await import('../../lib/db/schema.js');
    await ensureSchema(neonH.db);
    await runHealth({ db: neonH.db, redis: upH.redis }, opts(), NOW, NO_CHECKLISTS);
    neonH.neon!.resetCount();
    upH.upstash!.resetCount();
    return () => runHealth({ db: neonH.db, redis: upH.redis }, opts(), NOW, NO_CHECKLISTS);
  };

  it('on a database holding Opsbook schema, a warm health check is one request to Postgres', async () => {
    const check = await warmNeonHealth();
    const r = await check();
    expect(r.status).toBe('healthy');
    expect(neonH.neon!.requests).toBe(1);
  });

  it('200 concurrent health checks on one instance → they share the probes in flight: one request to Postgres and one to Redis, every answer healthy', async () => {
    const check = await warmNeonHealth();
    const all = await Promise.all(Array.from({ length: 200 }, () => check()));
    expect(all.map((r) => r.status)).toEqual(Array.from({ length: 200 }, () => 'healthy'));
    expect(neonH.neon!.requests).toBe(1);
    expect(upH.upstash!.requests).toBe(1);
    // Sequential checks each ask again: sharing never serves an answer older than the request.
    await check();
    await check();
    expect(neonH.neon!.requests).toBe(3);
  });

  it('Postgres port closed → unhealthy, 503, and Redis is still reported', async () => {
    const db = track(createPgDb(`postgres://postgres@127.0.0.1:${deadPort}/postgres`, FAST));
    const r = await runHealth({ db, redis: tcpH.redis }, opts(), NOW);
    expect(r).toMatchObject({ status: 'unhealthy', httpStatus: 503, checks: { database: 'unhealthy', redis: 'healthy' } });
    expect(r.details.database.error).toMatch(/ECONNREFUSED|connect/i);
  });

  // The budget is the specification here (answer within budget + 10 %), so it is asserted.
  it.each([
    ['node-postgres', () => createPgDb(`postgres://postgres@127.0.0.1:${hole.port}/postgres`, FAST)],
    ['Neon HTTP', () => createNeonDb('postgres://u:p@ep-hole.localtest.neon.tech/db', FAST, { fetchEndpoint: `http://127.0.0.1:${hole.port}/sql` })],
  ])('Postgres that accepts and never answers (%s) → 503 within the budget plus 10 %%', async (_name, make) => {
    const db = track(make());
    const started = performance.now();
    const r = await runHealth({ db, redis: tcpH.redis }, opts({ budgetMs: 1000 }), NOW);
    const took = performance.now() - started;
    expect(r).toMatchObject({ status: 'unhealthy', httpStatus: 503, checks: { database: 'unhealthy', redis: 'healthy' } });
    expect(r.details.database.error).toMatch(/timed out/);
    expect(took).toBeLessThan(1100);
  });

  it('Redis down → degraded, 200: the in-memory fallback keeps the app working', async () => {
    const redis = track(createTcpRedis(`redis://127.0.0.1:${deadPort}`, { callTimeoutMs: 3000 }));
    const r = await runHealth({ db: pgH.db, redis }, opts(), NOW);
    expect(r).toMatchObject({ status: 'degraded', httpStatus: 200, checks: { database: 'healthy', redis: 'unhealthy' } });
  });

  it('Redis that accepts and never answers → degraded within the budget plus 10 %', async () => {
    const redis = track(createTcpRedis(`redis://127.0.0.1:${hole.port}`, { callTimeoutMs: 3000 }));
    const started = performance.now();
    const r = await runHealth({ db: pgH.db, redis }, opts({ budgetMs: 1000 }), NOW);
    expect(performance.now() - started).toBeLessThan(1100);
    expect(r).toMatchObject({ status: 'degraded', checks: { redis: 'unhealthy' } });
  });

  it('Upstash answering 500 → degraded', async () => {
    const peer: UpstashPeer = await startUpstashPeer({ upstream: REDIS_URL });
    open.push(peer);
    peer.setFault(500);
    const redis = createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 3000 });
    const r = await runHealth({ db: pgH.db, redis }, opts(), NOW);
    expect(r).toMatchObject({ status: 'degraded', httpStatus: 200, checks: { redis: 'unhealthy' } });
    peer.setFault(null);
    const again = await runHealth({ db: pgH.db, redis }, opts(), NOW);
    expect(again.status).toBe('healthy');
  });

  it('Redis configured as critical → Redis down makes it unhealthy, 503', async () => {
    const redis = track(createTcpRedis(`redis://127.0.0.1:${deadPort}`, { callTimeoutMs: 3000 }));
    const r = await runHealth({ db: pgH.db, redis }, opts({ critical: ['database', 'redis'] }), NOW);
    expect(r).toMatchObject({ status: 'unhealthy', httpStatus: 503 });
  });

  it('database not critical → database down only degrades', async () => {
    const db = track(createPgDb(`postgres://postgres@127.0.0.1:${deadPort}/postgres`, FAST));
    const r = await runHealth({ db, redis: tcpH.redis }, opts({ critical: [] }), NOW);
    expect(r).toMatchObject({ status: 'degraded', httpStatus: 200 });
  });

  it.each([
    [true, 'degraded'],
    [false, 'healthy'],
  ] as const)('in-memory Redis fallback with production=%s → redis %s', async (production, state) => {
    const r = await runHealth({ db: pgH.db, redis: createMemoryRedis() }, opts({ production }), NOW);
    expect(r.checks.redis).toBe(state);
    expect(r.httpStatus).toBe(200);
  });

  it('both checks run in parallel: two slow dependencies cost one budget, not two', async () => {
    const db = track(createPgDb(`postgres://postgres@127.0.0.1:${hole.port}/postgres`, FAST));
    const redis = track(createTcpRedis(`redis://127.0.0.1:${hole.port}`, { callTimeoutMs: 3000 }));
    const started = performance.now();
    const r = await runHealth({ db, redis }, opts({ budgetMs: 1000 }), NOW);
    expect(performance.now() - started).toBeLessThan(1100);
    expect(r.checks).toEqual({ database: 'unhealthy', redis: 'unhealthy' });
  });
});
