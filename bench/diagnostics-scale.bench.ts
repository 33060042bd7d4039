/**
 * "All Postgres diagnostics on a database with 10,000 tables and 20,000 indexes: under 3 s, a response
 * under 100 KB, at most 2 Postgres round trips."
 *
 * A throwaway database gets 10,000 tables, each `(id serial PRIMARY KEY, a int, b text)` plus an index
 * on `a`: 10,000 sequences, 20,000 indexes, 10,000 TOAST tables and their indexes, ~60,000 pg_class rows.
 * The catalogs are then ANALYZEd, as autovacuum would have done on a real database of that size (the
 * test server runs with autovacuum off). Then every Postgres check (`only: ['postgres']`, all families,
 * whatever is implemented at the time) runs through `runDiagnostics` with production defaults:
 *   - node-postgres: a first run on a fresh Db (new connections: Postgres builds its relation cache as the
 *     checks touch the catalogs, the costly case for a serverless function) and warm runs on the same Db;
 *   - Neon's HTTP driver through the local Neon peer with PEER_LATENCY_MS added per request, where the peer
 *     counts HTTP requests (the real round trips, including Opsbook's one-off schema migration).
 * The database is dropped at the end, whatever happened.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { parseConfig } from '../lib/config/index.js';
import { limitsFromEnv } from '../lib/db/index.js';
import { createNeonDb } from '../lib/db/neon.js';
import { createPgDb } from '../lib/db/pg.js';
import type { Db } from '../lib/db/types.js';
import { createDeps } from '../lib/deps.js';
import { runDiagnostics, type DiagnosticsReport } from '../lib/diagnostics/run.js';
import { parseEnv } from '../lib/env.js';
import { createMemoryRedis } from '../lib/redis/memory.js';
import { startNeonPeer } from '../test/peers/neon-http.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { PEER_LATENCY_MS, PG_ADMIN_URL } from './support/services.js';
import { describe, median } from './support/stats.js';

export const name = 'diagnostics-scale';
export const description = 'every Postgres check on 10,000 tables / 20,000 indexes';

const TABLES = 10_000;
/** Parallel sessions creating tables; each commits every 100 tables to stay far from the lock table's size. */
const WORKERS = 4;
const WARM_RUNS = 5;
const GOAL_MS = 3000;
const GOAL_KB = 100;
const GOAL_ROUND_TRIPS = 2;

function dbUrl(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>, url = PG_ADMIN_URL): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

async function createScaleDatabase(database: string, ctx: BenchContext): Promise<void> {
  await admin((c) => c.query(`CREATE DATABASE "${database}"`));
  const per = TABLES / WORKERS;
  await Promise.all(
    Array.from({ length: WORKERS }, (_, w) =>
      admin(async (c) => {
        await c.query('SET synchronous_commit = off');
        await c.query(`DO $$
          BEGIN
            FOR i IN ${w * per + 1}..${(w + 1) * per} LOOP
              EXECUTE format('CREATE TABLE public.t%s (id serial PRIMARY KEY, a int, b text)', i);
              EXECUTE format('CREATE INDEX t%s_a ON public.t%s (a)', i, i);
              IF i % 100 = 0 THEN COMMIT; END IF;
            END LOOP;
          END $$`);
      }, dbUrl(database)),
    ),
  );
  // What autovacuum keeps current on a live database; planner estimates for catalog joins depend on it.
  await admin((c) => c.query('ANALYZE pg_catalog.pg_class, pg_catalog.pg_index, pg_catalog.pg_attribute, pg_catalog.pg_depend, pg_catalog.pg_sequence, pg_catalog.pg_attrdef, pg_catalog.pg_constraint, pg_catalog.pg_type, pg_catalog.pg_namespace'), dbUrl(database));
  const counts = await admin(
    (c) =>
      c.query<{ tables: number; indexes: number; classes: number }>(
        `SELECT count(*) FILTER (WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace)::int AS tables,
                count(*) FILTER (WHERE relkind = 'i' AND relnamespace = 'public'::regnamespace)::int AS indexes,
                count(*)::int AS classes FROM pg_class`,
      ),
    dbUrl(database),
  );
  const row = counts.rows[0]!;
  if (row.tables !== TABLES || row.indexes !== 2 * TABLES) throw new Error(`setup made ${row.tables} tables and ${row.indexes} indexes`);
  ctx.note(`database: ${row.tables} tables, ${row.indexes} indexes, ${row.classes} pg_class rows`);
}

interface Run {
  ms: number;
  report: DiagnosticsReport;
  jsonBytes: number;
}

async function runOnce(db: Db): Promise<Run> {
  const deps = await createDeps(parseEnv({}), { db, redis: createMemoryRedis(), log: () => undefined });
  const started = performance.now();
  const report = await runDiagnostics(deps, parseConfig({}), { only: ['postgres'] }, new Date());
  const ms = performance.now() - started;
  return { ms, report, jsonBytes: Buffer.byteLength(JSON.stringify(report)) };
}

/** The checks must answer correctly at this scale, or the timing means nothing. */
function verify(run: Run, label: string, ctx: BenchContext): void {
  const byId = new Map(run.report.checks.map((c) => [c.id, c]));
  const tables = byId.get('postgres.largest-tables');
  if (tables && tables.status === 'ok' && (tables.details?.length ?? 0) + (tables.more ?? 0) !== TABLES) {
    throw new Error(`${label}: largest-tables counted ${(tables.details?.length ?? 0) + (tables.more ?? 0)} tables, not ${TABLES}`);
  }
  const indexes = byId.get('postgres.largest-indexes');
  if (indexes && indexes.status === 'ok' && (indexes.details?.length ?? 0) + (indexes.more ?? 0) !== 2 * TABLES) {
    throw new Error(`${label}: largest-indexes counted ${(indexes.details?.length ?? 0) + (indexes.more ?? 0)} indexes, not ${2 * TABLES}`);
  }
  const bad = run.report.checks.filter((c) => c.status === 'error');
  for (const c of bad) ctx.note(`${label}: ${c.id} → error: ${c.summary}`);
}

function figuresFor(label: string, first: Run, warm: Run[], ctx: BenchContext, requests?: { first: number; warm: number[] }): Figure[] {
  const warmMs = warm.map((r) => r.ms);
  const ids = first.report.checks.map((c) => c.id);
  ctx.note(`${label}: ${ids.length} checks: ${ids.join(', ')}`);
  ctx.note(`${label}: first run ${first.ms.toFixed(0)} ms; warm ${describe(warmMs)}`);
  ctx.note(`${label}: statuses ${JSON.stringify(first.report.counts)}`);
  const roundTrips = Math.max(first.report.postgresRoundTrips, ...warm.map((r) => r.report.postgresRoundTrips));
  const errors = Math.max(...[first, ...warm].map((r) => r.report.counts.error));
  const figures: Figure[] = [
    judged(`${label}: all Postgres diagnostics, first run (fresh connections)`, Math.round(first.ms), 'ms', { max: GOAL_MS }),
    judged(`${label}: all Postgres diagnostics, warm (median of ${warm.length})`, Math.round(median(warmMs)), 'ms', { max: GOAL_MS }),
    judged(`${label}: response JSON`, Math.round(Math.max(first.jsonBytes, ...warm.map((r) => r.jsonBytes)) / 102.4) / 10, 'KB', { max: GOAL_KB }),
    judged(`${label}: Postgres round trips (report.postgresRoundTrips)`, roundTrips, 'round trips', { max: GOAL_ROUND_TRIPS }),
    judged(`${label}: checks in error (timeouts included)`, errors, 'checks', { equals: 0 }),
  ];
  if (requests) {
    ctx.note(
      `${label}: HTTP requests seen by the peer: first run ${requests.first} (includes Opsbook's one-off schema migration), warm ${requests.warm.join(', ')}`,
    );
    figures.push(judged(`${label}: HTTP requests per warm run (peer count)`, Math.max(...requests.warm), 'requests', { max: GOAL_ROUND_TRIPS }));
    figures.push(info(`${label}: HTTP requests, first run (with schema migration)`, requests.first, 'requests'));
  }
  return figures;
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  const database = `opsbook_bench_scale_${randomBytes(4).toString('hex')}`;
  const limits = limitsFromEnv(parseEnv({}));
  const figures: Figure[] = [];
  try {
    ctx.progress(`creating ${database}: ${TABLES} tables, ${2 * TABLES} indexes`);
    const setupStart = performance.now();
    await createScaleDatabase(database, ctx);
    figures.push(info('setup: create 10,000 tables + 20,000 indexes', Math.round((performance.now() - setupStart) / 100) / 10, 's'));

    ctx.progress('node-postgres: first run, then warm runs');
    {
      const db = createPgDb(dbUrl(database), limits);
      try {
        const first = await runOnce(db);
        verify(first, 'pg', ctx);
        const warm: Run[] = [];
        for (let i = 0; i < WARM_RUNS; i++) warm.push(await runOnce(db));
        warm.forEach((r) => verify(r, 'pg', ctx));
        figures.push(...figuresFor('pg', first, warm, ctx));
        const slow = [...first.report.checks].sort((a, b) => b.durationMs - a.durationMs)[0];
        if (slow) ctx.note(`pg: slowest check in the first run ${slow.id} ${slow.durationMs} ms (checks share one batch, so most wait as long)`);
      } finally {
        await db.close();
      }
    }

    ctx.progress(`Neon HTTP driver through the local peer (+${PEER_LATENCY_MS} ms per request)`);
    {
      const peer = await startNeonPeer({ upstream: PG_ADMIN_URL, latencyMs: PEER_LATENCY_MS });
      const db = createNeonDb(peer.connectionString(database, 'postgres'), limits, { fetchEndpoint: peer.fetchEndpoint });
      try {
        peer.resetCount();
        const first = await runOnce(db);
        const firstRequests = peer.requests;
        verify(first, 'neon', ctx);
        const warm: Run[] = [];
        const warmRequests: number[] = [];
        for (let i = 0; i < WARM_RUNS; i++) {
          peer.resetCount();
          warm.push(await runOnce(db));
          warmRequests.push(peer.requests);
        }
        warm.forEach((r) => verify(r, 'neon', ctx));
        figures.push(...figuresFor('neon', first, warm, ctx, { first: firstRequests, warm: warmRequests }));
      } finally {
        await db.close();
        await peer.close();
      }
    }
    return figures;
  } finally {
    ctx.progress(`dropping ${database}`);
    await admin((c) => c.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)).catch((err: unknown) =>
      ctx.note(`WARNING: could not drop ${database}: ${(err as Error).message}`),
    );
  }
}
