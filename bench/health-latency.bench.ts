/**
 * "Health latency ÷ slowest dependency round trip, with 20 ms added in the local Neon and Upstash peers.
 * Goal ≤ 1.15: the checks are truly parallel."
 *
 * The production adapters (lib/db/neon.ts, lib/redis/upstash.ts), unmodified, talk to the local peers
 * (test/peers/), which sit in front of the real Postgres and Redis and add 20 ms to every request. Each
 * round measures, in a rotating order so they share the machine's noise:
 *   - db alone:    db.query('SELECT 1')         (what the database check sends)
 *   - redis alone: redis.command(['PING'])      (what the redis check sends)
 *   - runHealth(deps, opts, new Date())         (lib/health.ts)
 *   - GET /api/health                           (api/health.ts, deps injected with setDeps)
 * Ratio = median(health) ÷ max(median(db), median(redis)). Sequential checks would score ≈ 2.
 * The peers serve a scratch database with Opsbook's schema migrated in, as a deployment has: the route
 * also reads Opsbook's own tables (maintenance mode, checklist runs), in parallel with the checks.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GET } from '../api/health.js';
import { limitsFromEnv } from '../lib/db/index.js';
import { createNeonDb } from '../lib/db/neon.js';
import { setDeps } from '../lib/deps.js';
import { createOutboxSender } from '../lib/email/outbox.js';
import { parseEnv } from '../lib/env.js';
import { runHealth, type HealthOptions } from '../lib/health.js';
import { log } from '../lib/log.js';
import { createUpstashRedis } from '../lib/redis/upstash.js';
import { createErrorReporter } from '../lib/sentry.js';
import { startNeonPeer } from '../test/peers/neon-http.js';
import { startUpstashPeer } from '../test/peers/upstash-rest.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { createScratchDatabase, PEER_LATENCY_MS, PG_ADMIN_URL, REDIS_URL } from './support/services.js';
import { describe, median, rotation } from './support/stats.js';

export const name = 'health-latency';
export const description = `GET /api/health vs its slowest dependency, ${PEER_LATENCY_MS} ms added in each peer`;

const WARMUP_ROUNDS = 5;
const ROUNDS = 40;
const GOAL = 1.15;

type Contender = 'db' | 'redis' | 'health' | 'get';

const DATABASE = 'opsbook_bench_health';

export async function run(ctx: BenchContext): Promise<Figure[]> {
  // Undone in reverse order whatever happens: the peers before the scratch database they connect to.
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const scratch = await createScratchDatabase(DATABASE);
    cleanup.push(() => scratch.drop());
    const outboxDir = await mkdtemp(join(tmpdir(), 'opsbook-bench-outbox-'));
    cleanup.push(() => rm(outboxDir, { recursive: true, force: true }));
    const neonPeer = await startNeonPeer({ upstream: PG_ADMIN_URL, latencyMs: PEER_LATENCY_MS });
    cleanup.push(() => neonPeer.close());
    const upstashPeer = await startUpstashPeer({ upstream: REDIS_URL, latencyMs: PEER_LATENCY_MS }).catch((err: unknown) => {
      throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}`);
    });
    cleanup.push(() => upstashPeer.close());

    // Production's defaults for budgets and timeouts; VERCEL_ENV=production so the redis check is judged
    // as it is in production (Upstash is shared, so it stays healthy).
    const env = parseEnv({ VERCEL_ENV: 'production' });
    const limits = limitsFromEnv(env);
    const db = createNeonDb(neonPeer.connectionString(DATABASE), limits, { fetchEndpoint: neonPeer.fetchEndpoint });
    const redis = createUpstashRedis(upstashPeer.url, upstashPeer.token, { callTimeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS });
    await scratch.migrate(db);
    const opts: HealthOptions = { budgetMs: env.HEALTH_BUDGET_MS, critical: env.HEALTH_CRITICAL, production: true };
    const deps = { db, redis };
    setDeps({ env, db, redis, email: createOutboxSender(outboxDir, () => undefined), errors: createErrorReporter(env), log });

    const checkLatencies = { database: [] as number[], redis: [] as number[] };
    const measure: Record<Contender, () => Promise<void>> = {
      db: async () => {
        await db.query('SELECT 1');
      },
      redis: async () => {
        const pong = await redis.command(['PING']);
        if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong)}`);
      },
      health: async () => {
        const result = await runHealth(deps, opts, new Date());
        if (result.status !== 'healthy') throw new Error(`runHealth answered ${result.status}: ${JSON.stringify(result.details)}`);
        checkLatencies.database.push(result.details.database.latencyMs);
        checkLatencies.redis.push(result.details.redis.latencyMs);
      },
      get: async () => {
        const res = await GET(new Request('http://x/api/health'));
        const body = (await res.json()) as { status?: string };
        if (res.status !== 200 || body.status !== 'healthy') throw new Error(`GET /api/health answered ${res.status} ${JSON.stringify(body)}`);
      },
    };
    const contenders: Contender[] = ['db', 'redis', 'health', 'get'];
    const samples: Record<Contender, number[]> = { db: [], redis: [], health: [], get: [] };

    // On a warm instance one health check costs one request to each peer: SELECT 1 and Opsbook's own state
    // (missed runs, maintenance mode) travel as one batch once the schema is known; the first call of an
    // instance sends them as two parallel requests.
    await measure.health();
    neonPeer.resetCount();
    upstashPeer.resetCount();
    await measure.health();
    const roundTrips = { neon: neonPeer.requests, upstash: upstashPeer.requests };
    neonPeer.resetCount();
    upstashPeer.resetCount();
    await measure.get();
    const getRoundTrips = { neon: neonPeer.requests, upstash: upstashPeer.requests };

    ctx.progress(`warm-up: ${WARMUP_ROUNDS} rounds`);
    for (let round = 0; round < WARMUP_ROUNDS; round++) for (const c of rotation(contenders, round)) await measure[c]();
    checkLatencies.database.length = 0;
    checkLatencies.redis.length = 0;

    ctx.progress(`measuring: ${ROUNDS} rounds × ${contenders.join(', ')}`);
    for (let round = 0; round < ROUNDS; round++) {
      for (const c of rotation(contenders, round)) {
        const start = performance.now();
        await measure[c]();
        samples[c].push(performance.now() - start);
      }
    }

    const m = { db: median(samples.db), redis: median(samples.redis), health: median(samples.health), get: median(samples.get) };
    const slowest = Math.max(m.db, m.redis);
    for (const c of contenders) ctx.note(`${c.padEnd(6)} ${describe(samples[c])}`);
    ctx.note(
      `inside runHealth, the probes' own latencies: database ${describe(checkLatencies.database)}, redis ${describe(checkLatencies.redis)}`,
    );
    ctx.note(
      `round trips for one health check: ${roundTrips.neon} to the Neon peer, ${roundTrips.upstash} to the Upstash peer; ` +
        `sequential checks would take ≈ ${(m.db + m.redis).toFixed(1)} ms (ratio ≈ ${((m.db + m.redis) / slowest).toFixed(2)})`,
    );
    ctx.note(
      `requests for one GET /api/health: ${getRoundTrips.neon} to the Neon peer, ${getRoundTrips.upstash} to the Upstash peer ` +
        '(the route may add its own lookups to the two checks; in parallel they cost no extra wall time)',
    );
    if (roundTrips.neon !== 1 || roundTrips.upstash !== 1) {
      ctx.note(`WARNING: a warm health check should cost exactly one request to each peer`);
    }

    return [
      judged('runHealth ÷ slowest dependency', round2(m.health / slowest), 'ratio', { max: GOAL }),
      judged('GET /api/health ÷ slowest dependency', round2(m.get / slowest), 'ratio', { max: GOAL }),
      info('runHealth, median', round1(m.health), 'ms'),
      info('GET /api/health, median', round1(m.get), 'ms'),
      info('db.query(SELECT 1) alone, median', round1(m.db), 'ms'),
      info('redis.command(PING) alone, median', round1(m.redis), 'ms'),
    ];
  } finally {
    setDeps(undefined);
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => ctx.note(`cleanup: ${(err as Error).message}`));
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
