/**
 * Issue 12, the lock incident: "with a relation locked ACCESS EXCLUSIVE, every Postgres check answers: no
 * check errors, the full run takes ≤ 1.5× the lock-free run, and it still uses ≤ 2 round trips."
 *
 * A scratch database gets the schema of test/support/lock-incident.ts (duplicate, expression, partial,
 * INCLUDE and invalid indexes, a NOT VALID constraint, a sequence, all on `orders`). Each round runs every
 * Postgres check (`only: ['postgres']`, production defaults) once on the quiet database, then plants the
 * incident — a migration's ALTER TABLE holding ACCESS EXCLUSIVE on `orders`, idle in transaction, four
 * queries queued behind it, and a second smaller queue — runs them again, and releases it. Quiet and
 * locked runs alternate on the same warm Db, so they share the machine's noise. Over node-postgres and
 * over Neon's HTTP driver through the local Neon peer, which counts HTTP requests (the real round trips).
 */
import pg from 'pg';
import { parseConfig } from '../lib/config/index.js';
import { createNeonDb } from '../lib/db/neon.js';
import { createPgDb } from '../lib/db/pg.js';
import { limitsFromEnv } from '../lib/db/index.js';
import type { Db } from '../lib/db/types.js';
import { createDeps } from '../lib/deps.js';
import { runDiagnostics, type DiagnosticsReport } from '../lib/diagnostics/run.js';
import { parseEnv } from '../lib/env.js';
import { createMemoryRedis } from '../lib/redis/memory.js';
import { startNeonPeer } from '../test/peers/neon-http.js';
import { plantLock, plantSchema } from '../test/support/lock-incident.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { createScratchDatabase, PG_ADMIN_URL } from './support/services.js';
import { describe, median } from './support/stats.js';

export const name = 'lock-incident';
export const description = 'every Postgres check while a migration holds ACCESS EXCLUSIVE on the busiest table';

const ROUNDS = 7;
const WARMUP = 2;
const GOAL_RATIO = 1.5;
const GOAL_ROUND_TRIPS = 2;

interface Sample {
  ms: number;
  report: DiagnosticsReport;
  requests?: number;
}

async function runOnce(db: Db, count?: () => number): Promise<Sample> {
  const deps = await createDeps(parseEnv({}), { db, redis: createMemoryRedis(), log: () => undefined });
  const before = count?.();
  const started = performance.now();
  const report = await runDiagnostics(deps, parseConfig({}), { only: ['postgres'] }, new Date());
  const ms = performance.now() - started;
  return { ms, report, ...(count ? { requests: count() - before! } : {}) };
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  const figures: Figure[] = [];
  for (const driver of ['pg', 'neon'] as const) {
    const dbName = `opsbook_bench_lock_${driver}`;
    const scratch = await createScratchDatabase(dbName);
    const url = new URL(PG_ADMIN_URL);
    url.pathname = `/${dbName}`;
    const admin = new pg.Pool({ connectionString: url.toString(), max: 2 });
    admin.on('error', () => undefined);
    const peer = driver === 'neon' ? await startNeonPeer({ upstream: PG_ADMIN_URL }) : undefined;
    const db =
      driver === 'pg'
        ? createPgDb(url.toString(), limitsFromEnv(parseEnv({})))
        : createNeonDb(peer!.connectionString(dbName, 'postgres'), limitsFromEnv(parseEnv({})), { fetchEndpoint: peer!.fetchEndpoint });
    try {
      await scratch.migrate(db);
      await plantSchema(admin);
      const quiet: Sample[] = [];
      const locked: Sample[] = [];
      ctx.progress(`${name}: ${driver}: ${ROUNDS} rounds of a quiet run and a run under the planted lock`);
      for (let i = 0; i < ROUNDS; i++) {
        const q = await runOnce(db, peer && (() => peer.requests));
        const incident = await plantLock(url.toString(), admin);
        let l: Sample;
        try {
          l = await runOnce(db, peer && (() => peer.requests));
          const blocked = l.report.checks.find((c) => c.id === 'postgres.blocked');
          if (blocked?.hint?.action?.body && (blocked.hint.action.body as { pid?: number }).pid !== incident.migration) {
            throw new Error(`${driver}: postgres.blocked named pid ${JSON.stringify(blocked.hint.action.body)}, not the migration ${incident.migration}`);
          }
        } finally {
          await incident.release();
        }
        if (i >= WARMUP) {
          quiet.push(q);
          locked.push(l);
        }
      }
      const qMs = quiet.map((s) => s.ms);
      const lMs = locked.map((s) => s.ms);
      const errors = Math.max(...locked.map((s) => s.report.counts.error));
      const trips = Math.max(...locked.map((s) => (driver === 'neon' ? s.requests! : s.report.postgresRoundTrips)));
      for (const c of locked[0]!.report.checks.filter((x) => x.status === 'error')) ctx.note(`${driver}: under the lock ${c.id} → error: ${c.summary}`);
      ctx.note(`${driver}: quiet ${describe(qMs)}; under the lock ${describe(lMs)}; ${locked[0]!.report.checks.length} checks`);
      figures.push(
        judged(`${driver}: all Postgres checks under the lock ÷ lock-free (medians)`, Math.round((median(lMs) / median(qMs)) * 100) / 100, 'ratio', { max: GOAL_RATIO }),
        judged(
          `${driver}: ${driver === 'neon' ? 'HTTP requests at the Neon peer' : 'Postgres round trips (report.postgresRoundTrips)'} under the lock`,
          trips,
          'round trips',
          { max: GOAL_ROUND_TRIPS },
        ),
        judged(`${driver}: checks in error under the lock`, errors, 'checks', { equals: 0 }),
        info(`${driver}: all Postgres checks under the lock, median`, Math.round(median(lMs)), 'ms'),
        info(`${driver}: all Postgres checks lock-free, median`, Math.round(median(qMs)), 'ms'),
      );
    } finally {
      await db.close().catch(() => undefined);
      await admin.end().catch(() => undefined);
      await peer?.close();
      await scratch.drop();
    }
  }
  return figures;
}
