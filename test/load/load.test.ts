// Issue 6's load requirement: 200 concurrent requests to /api/health and, at the same time, 50 to
// /api/diagnostics, through the local runner (started in-process as `npm start` runs it, with DATABASE_URL on
// this file's own Postgres database and REDIS_URL on the real Redis), fired by autocannon. It must hold:
// no errors, no leaked Postgres connection, no leaked Redis client. Times are printed, never asserted:
// p50/p99 live in `npm run bench -- load` (BENCHMARKS.md).
//
// Attribution on shared services: the runner is the only client of this file's database, so its Postgres
// connections are pg_stat_activity's client backends on that database (the observer sits on the `postgres`
// database). Redis is shared with every other test file, so the runner logs in as a Redis ACL user made for
// this run: its connections are CLIENT LIST's entries with that `user=`, whatever else is connected.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../../lib/admin/tokens.js';
import { envSchema, resetEnvCache } from '../../lib/env.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import type { RedisClient } from '../../lib/redis/types.js';
import { startRunner, type Runner } from '../../lib/runner/runner.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { PG_ADMIN_URL, REDIS_URL } from '../support/services.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
/**
 * `createPgDb`'s shared pool (3) plus health's own connection (lib/db/pg.ts): one instance never holds
 * more Postgres connections than this.
 */
const POOL_MAX = 3 + 1;
/** `createTcpRedis` keeps one ioredis connection per instance (lib/redis/tcp.ts). */
const REDIS_CONNECTIONS = 1;
/** The pool closes a connection idle for 10 s (lib/db/pg.ts); poll well past that on a busy machine. */
const IDLE_RELEASE_TIMEOUT_MS = 40_000;

/** Health budget and client-side dependency timeout for this file (generous: see beforeAll). */
const LIMIT_MS = 30_000;
// The requirement is the concurrency; the totals are kept small (10 and 3 requests per connection) because the
// load saturates both cores for a few seconds, next to whatever test file runs beside this one.
const HEALTH = { connections: 200, amount: 2000 };
const DIAGNOSTICS = { connections: 50, amount: 150 };

let database: TestDatabase;
let runner: Runner | undefined;
let dataDir: string;
let observer: pg.Client;
let redisObserver: RedisClient;
let readToken: string;
const redisUser = `opsbook-load-${Math.floor(Date.now() / 1000)}-${randomBytes(4).toString('hex')}`;
const redisPassword = randomBytes(24).toString('hex');
const saved: Record<string, string | undefined> = {};

/** Client backends on this file's database: the runner's pool and nothing else. */
async function pgConnections(): Promise<number> {
  const { rows } = await observer.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
    [database.name],
  );
  return rows[0]!.n;
}

/** Redis connections logged in as this run's ACL user: the runner's and nothing else. */
async function redisConnections(): Promise<number> {
  const list = await redisObserver.command<string>(['CLIENT', 'LIST', 'TYPE', 'normal']);
  return list.split('\n').filter((line) => line.split(' ').includes(`user=${redisUser}`)).length;
}

/** Both counts every few ms while `work` runs: the highest seen is what the load made the runner open. */
async function sampledWhile<T>(work: Promise<T>): Promise<{ result: T; maxPg: number; maxRedis: number; samples: number }> {
  let done = false;
  let maxPg = 0;
  let maxRedis = 0;
  let samples = 0;
  const sampler = (async () => {
    while (!done) {
      const [p, r] = await Promise.all([pgConnections(), redisConnections()]);
      maxPg = Math.max(maxPg, p);
      maxRedis = Math.max(maxRedis, r);
      samples++;
      await new Promise((res) => setTimeout(res, 20));
    }
  })();
  try {
    return { result: await work, maxPg, maxRedis, samples };
  } finally {
    done = true;
    await sampler;
  }
}

interface Fired {
  result: autocannon.Result;
  /** How each answer's body was classified by the route's own words. */
  bodies: Map<string, number>;
}

function fire(path: string, opts: { connections: number; amount: number; headers?: Record<string, string>; classify: (body: unknown) => string; ok: (kind: string) => boolean }): Promise<Fired> {
  const bodies = new Map<string, number>();
  return new Promise((resolvePromise, reject) => {
    autocannon(
      {
        url: `http://127.0.0.1:${runner!.port}${path}`,
        connections: opts.connections,
        amount: opts.amount,
        headers: opts.headers,
        // Longer than LIMIT_MS: every request gets the runner's own answer, never the load tool's timeout.
        timeout: LIMIT_MS / 1000 + 30,
        verifyBody: (body) => {
          let kind: string;
          try {
            kind = opts.classify(JSON.parse(String(body)));
          } catch {
            kind = 'not JSON';
          }
          bodies.set(kind, (bodies.get(kind) ?? 0) + 1);
          return opts.ok(kind);
        },
      },
      (err, result) => (err ? reject(err) : resolvePromise({ result, bodies })),
    );
  });
}

function summary(label: string, { result, bodies }: Fired): string {
  const l = result.latency;
  return (
    `${label}: ${result.requests.total} requests in ${result.duration.toFixed(1)} s, ${result.connections} connections — ` +
    `p50 ${l.p50} ms, p99 ${l.p99} ms, max ${l.max} ms; 2xx ${result['2xx']}, non-2xx ${result.non2xx}, errors ${result.errors}, ` +
    `timeouts ${result.timeouts}; bodies ${JSON.stringify(Object.fromEntries(bodies))}`
  );
}

beforeAll(async () => {
  database = await createTestDatabase();
  // The helper's own pool would be a second client of the database: close it, so every backend there is the runner's.
  await database.admin.end();
  observer = new pg.Client({ connectionString: PG_ADMIN_URL, application_name: 'opsbook-load-observer' });
  await observer.connect();
  redisObserver = createTcpRedis(REDIS_URL, { callTimeoutMs: 10_000 });
  await redisObserver.command(['ACL', 'SETUSER', redisUser, 'reset', 'on', `>${redisPassword}`, '~*', '&*', '+@all']);

  const redisUrl = new URL(REDIS_URL);
  redisUrl.username = redisUser;
  redisUrl.password = redisPassword;
  dataDir = mkdtempSync(join(tmpdir(), 'opsbook-load-'));
  for (const k of Object.keys(envSchema.shape)) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  Object.assign(process.env, {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl.toString(),
    OPSBOOK_DATA_DIR: dataDir,
    // This file is about errors and leaks, not speed: with production's 2 s health budget and 5 s dependency
    // timeout, a busy machine would turn slowness into a 503 or a check in error. Whether production's own
    // budgets hold under this load is measured, with the defaults, by `npm run bench -- load`.
    HEALTH_BUDGET_MS: String(LIMIT_MS),
    OPSBOOK_DEPENDENCY_TIMEOUT_MS: String(LIMIT_MS),
  });
  resetEnvCache();
});

afterAll(async () => {
  await runner?.close();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  resetEnvCache();
  // Deleting the user also disconnects any connection still logged in as it.
  await redisObserver?.command(['ACL', 'DELUSER', redisUser]).catch(() => undefined);
  await redisObserver?.close();
  await observer?.end().catch(() => undefined);
  await database?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('load through the local runner: 200 concurrent on /api/health and 50 on /api/diagnostics at once', () => {
  let baseline: { pg: number; redis: number };
  let health: Fired;
  let diagnostics: Fired;
  let during: { maxPg: number; maxRedis: number; samples: number };
  let before: { health: { status: number; body: unknown }; diagnostics: number };

  beforeAll(async () => {
    baseline = { pg: await pgConnections(), redis: await redisConnections() };
    runner = await startRunner({ root: ROOT, port: 0, crons: false, log: () => undefined });
    // A stored read token, as a CI job or on-call dashboard would use: each diagnostics request looks it up in
    // the database (and stamps last_used_at), so authorisation is under load too.
    ({ token: readToken } = await createToken(runner.deps.db, { name: `load-${randomBytes(4).toString('hex')}`, role: 'read', createdBy: 'load-test' }));
    const h = await fetch(`${runner.url}/api/health`);
    const d = await fetch(`${runner.url}/api/diagnostics?only=redis.ping`, { headers: { authorization: `Bearer ${readToken}` } });
    before = { health: { status: h.status, body: await h.json() }, diagnostics: d.status };
    await d.body?.cancel();

    const sampled = await sampledWhile(
      Promise.all([
        fire('/api/health', {
          ...HEALTH,
          classify: (b) => `${(b as { status?: string }).status}`,
          ok: (kind) => kind === 'healthy',
        }),
        fire('/api/diagnostics', {
          ...DIAGNOSTICS,
          headers: { authorization: `Bearer ${readToken}` },
          // A check in `error` is a dependency call that failed or timed out (ok/warn/fail/skipped are findings).
          classify: (b) => {
            const checks = (b as { checks?: Array<{ id: string; status: string }> }).checks;
            if (!Array.isArray(checks)) return 'no checks';
            const errored = checks.filter((c) => c.status === 'error').map((c) => c.id);
            return errored.length ? `checks in error: ${errored.join(',')}` : 'every check answered';
          },
          ok: (kind) => kind === 'every check answered',
        }),
      ]),
    );
    [health, diagnostics] = sampled.result;
    during = sampled;
    console.log(`baseline: ${baseline.pg} Postgres connection(s) on the test database, ${baseline.redis} Redis client(s) as the run's user`);
    console.log(summary('GET /api/health', health));
    console.log(summary('GET /api/diagnostics', diagnostics));
    console.log(`during the load (${during.samples} samples): at most ${during.maxPg} Postgres connection(s), ${during.maxRedis} Redis client(s)`);
  }, 180_000);

  it('the setup was healthy before the load: /api/health → 200 healthy, diagnostics authorised by the read token', () => {
    // Without this, "every answer 200" could hide a runner that was never asked the real question.
    expect(before.health).toEqual({ status: 200, body: expect.objectContaining({ status: 'healthy', checks: { database: 'healthy', redis: 'healthy', checklists: 'healthy' } }) });
    expect(before.diagnostics).toBe(200);
  });

  it('/api/health: every request answered 200 healthy, no error, no timeout', () => {
    const r = health.result;
    expect(r.requests.total).toBeGreaterThanOrEqual(HEALTH.amount);
    expect({ errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, mismatches: r.mismatches }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, mismatches: 0 });
    expect(r['2xx']).toBe(r.requests.total);
    expect(Object.fromEntries(health.bodies)).toEqual({ healthy: r.requests.total });
  });

  it('/api/diagnostics: every request answered 200 with every check run, none in error, no timeout', () => {
    const r = diagnostics.result;
    expect(r.requests.total).toBeGreaterThanOrEqual(DIAGNOSTICS.amount);
    expect({ errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx, mismatches: r.mismatches }).toEqual({ errors: 0, timeouts: 0, non2xx: 0, mismatches: 0 });
    expect(r['2xx']).toBe(r.requests.total);
    expect(Object.fromEntries(diagnostics.bodies)).toEqual({ 'every check answered': r.requests.total });
  });

  it(`under load the runner never held more than its ${POOL_MAX} Postgres connections (pool and health's own) and ${REDIS_CONNECTIONS} Redis client`, () => {
    expect(during.samples).toBeGreaterThan(0);
    expect(during.maxPg).toBeGreaterThan(baseline.pg); // the sampler did see the runner's connections
    expect(during.maxPg).toBeLessThanOrEqual(baseline.pg + POOL_MAX);
    expect(during.maxRedis).toBeLessThanOrEqual(baseline.redis + REDIS_CONNECTIONS);
  });

  it('still healthy right after the load', async () => {
    const h = await fetch(`${runner!.url}/api/health`);
    expect(h.status).toBe(200);
    expect((await h.json()).status).toBe('healthy');
  });

  it('once idle, the warm runner gives back every Postgres connection (none leaked checked out) and keeps its one Redis client', async () => {
    // A client never released to the pool would stay in pg_stat_activity for ever; idle ones close after 10 s.
    await expect.poll(pgConnections, { timeout: IDLE_RELEASE_TIMEOUT_MS, interval: 500 }).toBe(baseline.pg);
    expect(await redisConnections()).toBeLessThanOrEqual(baseline.redis + REDIS_CONNECTIONS);
  }, IDLE_RELEASE_TIMEOUT_MS + 10_000);

  it('after the runner stops, Postgres and Redis are back to their baselines', async () => {
    await runner!.close();
    runner = undefined;
    await expect.poll(pgConnections, { timeout: 10_000, interval: 200 }).toBe(baseline.pg);
    await expect.poll(redisConnections, { timeout: 10_000, interval: 200 }).toBe(baseline.redis);
  });
});
