/**
 * Full diagnostics runs, and the same diagnosis done the runbooks' way. Three figures from the issue:
 *
 * 1. "Postgres round trips per full run, counted at the local Neon peer. Goal: at most 2."
 *    Every check of the default config (`parseConfig({})`: Postgres, Redis, queues) through
 *    `runDiagnostics`, with the production Neon adapter (lib/db/neon.ts) talking to the local Neon peer
 *    (PEER_LATENCY_MS added per request) and the TCP Redis adapter (lib/redis/tcp.ts). Opsbook's schema is
 *    migrated first (`ensureSchema`), so each counted run is a warm instance's; the peer's HTTP request
 *    counter is read around each run.
 *
 * 2. "Run wall ÷ slowest single check. Goal: at most 1.2."
 *    For the same runs, with node-postgres (lib/db/pg.ts, direct) and with the Neon driver:
 *    report.durationMs ÷ max(report.checks[].durationMs), per run, median over the measured runs after a
 *    warm-up. Near 1 when the checks run in parallel; a run that awaited its checks one by one would score
 *    about Σ durations ÷ max, which is printed beside it. The Postgres checks share Opsbook's two round trips
 *    (capabilities, then one merged batch), so their durations overlap by construction.
 *
 * 3. "The same diagnosis done the runbooks' way: a script of the psql / redis-cli commands of runbook 004's
 *    'P1: Database Connection Issues' and 'P2: Slow Response Times', one connection per command. Goal:
 *    Opsbook ≥ 5× faster, measured side by side."
 *    The runbook's diagnostic commands, as written there (only the connection strings adapted), run as a
 *    real `bash -c` script: every psql / redis-cli line is its own process and connection, as when an
 *    engineer pastes them. Opsbook answers the same questions with the checks its playbooks for those two
 *    runbook sections name (lib/diagnostics/playbooks.ts: 'database-connections' and 'slow-responses'), in
 *    one `runDiagnostics` over node-postgres and TCP Redis, on a warm instance (clients connected). Contenders
 *    alternate in a rotating order; ratio = median(script) ÷ median(Opsbook). Also measured, for context:
 *    the same script with P1's two queries typed into one psql session (as the runbook shows them), the two
 *    playbooks through `runPlaybook` in parallel, and a cold process: a fresh `node` that imports the bundled
 *    GET /api/diagnostics (esbuild, as shipped) and answers one request, timed from spawn to exit.
 *
 * Everything runs in a scratch database (`opsbook_bench_diagnostics`, with pg_stat_statements created in it
 * so the runbook's query and Opsbook's slow-queries check both have something to read), dropped at the end.
 * Redis is only read (INFO, SLOWLOG GET, DBSIZE, SCAN): nothing to clean there.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { allChecks } from '../lib/checks/registry.js';
import { parseConfig, type OpsbookConfig } from '../lib/config/index.js';
import { limitsFromEnv } from '../lib/db/index.js';
import { createNeonDb } from '../lib/db/neon.js';
import { createPgDb } from '../lib/db/pg.js';
import type { Db } from '../lib/db/types.js';
import { createDeps, type Deps } from '../lib/deps.js';
import { runPlaybook } from '../lib/diagnostics/playbook-run.js';
import { PLAYBOOKS } from '../lib/diagnostics/playbooks.js';
import { runDiagnostics, selects, type DiagnosticsReport } from '../lib/diagnostics/run.js';
import { parseEnv } from '../lib/env.js';
import { createTcpRedis } from '../lib/redis/tcp.js';
import { startNeonPeer, type NeonPeer } from '../test/peers/neon-http.js';
import { bundleFunction } from './support/bundle.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { createScratchDatabase, PEER_LATENCY_MS, PG_ADMIN_URL, REDIS_URL } from './support/services.js';
import { describe, median, quantile, rotation } from './support/stats.js';

export const name = 'diagnostics';
export const description = "full diagnostics runs (round trips, parallelism), and runbook 004's psql / redis-cli script vs Opsbook";

const DATABASE = 'opsbook_bench_diagnostics';
const FULL_WARMUP = 3;
const FULL_RUNS = 15;
/** Rounds of each check run on its own, for context. */
const ALONE_RUNS = 5;
const SIDE_WARMUP = 2;
const SIDE_ROUNDS = 12;
const GOAL_ROUND_TRIPS = 2;
const GOAL_WALL_RATIO = 1.2;
const GOAL_SPEEDUP = 5;
/** Issue 11: `opsbook run daily --dry-run` at most half the runbook script's wall time. */
const GOAL_CLI_RATIO = 0.5;
const CHILD_TIMEOUT_MS = 30_000;
/** The playbooks that encode runbook 004's two sections. */
const RUNBOOK_PLAYBOOKS = ['database-connections', 'slow-responses'] as const;

/**
 * Runbook 004's diagnostic commands, verbatim but for the connection: `"$DATABASE_URL"` points at the
 * scratch database, and redis-cli's `-a "$REDIS_PASSWORD"` becomes `-h "$REDIS_HOST" -p "$REDIS_PORT"`
 * (a password, if TEST_REDIS_URL has one, travels in REDISCLI_AUTH). `-X` keeps a ~/.psqlrc out of it.
 */
const P1_QUERIES = [
  'SELECT count(*), state FROM pg_stat_activity GROUP BY state;',
  "SELECT pid, now() - query_start as duration, query \nFROM pg_stat_activity \nWHERE state = 'active' \nORDER BY duration DESC;",
];
const P2_LINES = [
  '# "P2: Slow Response Times", step 2: check database performance',
  'psql -X "$DATABASE_URL" -c "\nSELECT query, mean_exec_time, calls \nFROM pg_stat_statements \nORDER BY mean_exec_time DESC \nLIMIT 10;"',
  '# step 3: check Redis performance',
  'redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" info stats',
  'redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" slowlog get 10',
];

/** One psql per query: each its own process and connection, as pasted one at a time. */
const RUNBOOK_SCRIPT = [
  'set -e',
  '# runbook 004, "P1: Database Connection Issues", step 1: check database status',
  ...P1_QUERIES.map((q) => `psql -X "$DATABASE_URL" -c "${q}"`),
  ...P2_LINES,
].join('\n');

/** P1's two queries typed into one `psql "$DATABASE_URL"` session, as the runbook shows them. */
const RUNBOOK_SCRIPT_ONE_SESSION = [
  'set -e',
  '# runbook 004, "P1: Database Connection Issues", step 1: connect, then the two queries',
  "psql -X \"$DATABASE_URL\" <<'SQL'",
  ...P1_QUERIES,
  'SQL',
  ...P2_LINES,
].join('\n');

/** What the script's output must contain, or it did not answer (and its time means nothing). */
const SCRIPT_MARKERS = ['state', 'duration', 'mean_exec_time', '# Stats', 'keyspace_hits'];

/** Commands of the two sections the script leaves out, and why. */
const DROPPED = [
  'P1 step 2 `SELECT pg_terminate_backend(pid) … WHERE pid = <problem-pid>` (an action on a pid chosen by hand, not a diagnosis)',
  'P1 step 3 `cat /var/www/bunty-backend/.env | grep DATABASE` (a file on the app server)',
  'P1 step 4 `pm2 restart bunty-backend` (an action, on the app server)',
  'P2 step 1 `uptime`, `top`, `iostat -x 1 5` (the app server\'s load: a shell on another host; top is interactive, iostat takes 5 s by design)',
  'P2 step 4 `pm2 logs bunty-backend | grep …` (logs on the app server)',
  'P2 step 5 `redis-cli FLUSHDB` (destructive, an action)',
];

/**
 * Runs in a fresh `node`: imports the bundled route and answers one GET, then reports. performance.now()
 * counts from the process's time origin, so `bootMs` is Node's own start-up.
 */
const PROBE_SOURCE = `const [, , url, query] = process.argv;
const t0 = performance.now();
const mod = await import(url);
const t1 = performance.now();
const res = await mod.GET(new Request('http://localhost/api/diagnostics?' + query, { headers: { authorization: 'Bearer ' + process.env.OPSBOOK_ADMIN_TOKEN } }));
const body = await res.json();
const t2 = performance.now();
const out = { bootMs: t0, importMs: t1 - t0, requestMs: t2 - t1, status: res.status, counts: body.counts, ids: (body.checks ?? []).map((c) => c.id), roundTrips: body.postgresRoundTrips, error: body.error };
process.stdout.write(JSON.stringify(out) + '\\n', () => process.exit(0));
`;

function dbUrl(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

interface FullRun {
  wallMs: number;
  maxCheckMs: number;
  sumCheckMs: number;
  ratio: number;
  roundTrips: number;
  peerRequests?: number;
  slowest: string;
  report: DiagnosticsReport;
}

function assertAnswered(report: DiagnosticsReport, label: string): void {
  const bad = report.checks.filter((c) => c.status === 'error');
  if (bad.length > 0) throw new Error(`${label}: ${bad.map((c) => `${c.id} → ${c.summary}`).join('; ')}`);
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  // Undone in reverse order whatever happens: clients and the peer before the database they connect to.
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const scratch = await createScratchDatabase(DATABASE);
    cleanup.push(() => scratch.drop());
    const work = await mkdtemp(join(tmpdir(), 'opsbook-bench-diagnostics-'));
    cleanup.push(() => rm(work, { recursive: true, force: true }));

    // pg_stat_statements is preloaded on the test server; the extension (its view) lives per database.
    const admin = new pg.Client({ connectionString: dbUrl(DATABASE) });
    await admin.connect();
    try {
      await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    } catch (err) {
      throw new Error(`pg_stat_statements: ${(err as Error).message} (the runbook's P2 query needs it in shared_preload_libraries)`);
    } finally {
      await admin.end();
    }

    const env = parseEnv({});
    const limits = limitsFromEnv(env);
    const config = parseConfig({});
    const redis = createTcpRedis(REDIS_URL, { callTimeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS });
    cleanup.push(() => redis.close());
    const pgDb = createPgDb(dbUrl(DATABASE), limits);
    cleanup.push(() => pgDb.close());
    const peer = await startNeonPeer({ upstream: PG_ADMIN_URL, latencyMs: PEER_LATENCY_MS });
    cleanup.push(() => peer.close());
    const neonDb = createNeonDb(peer.connectionString(DATABASE), limits, { fetchEndpoint: peer.fetchEndpoint });
    cleanup.push(() => neonDb.close());
    await redis.command(['PING']).catch((err: unknown) => {
      throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}`);
    });
    // Opsbook's schema, once per Db, as a warm instance has done before: runs then cost only their own trips.
    await scratch.migrate(pgDb);
    await scratch.migrate(neonDb);
    const quiet = () => undefined;
    const pgDeps = await createDeps(env, { db: pgDb, redis, log: quiet });
    const neonDeps = await createDeps(env, { db: neonDb, redis, log: quiet });

    const figures: Figure[] = [];
    figures.push(...(await fullRuns(ctx, config, { pg: pgDeps, neon: neonDeps }, peer)));
    figures.push(...(await sideBySide(ctx, config, pgDeps, work)));
    return figures;
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => ctx.note(`cleanup: ${(err as Error).message}`));
  }
}

/** Figures 1 and 2: full runs of every default check, with each driver, rounds alternating. */
async function fullRuns(ctx: BenchContext, config: OpsbookConfig, deps: { pg: Deps; neon: Deps }, peer: NeonPeer): Promise<Figure[]> {
  const drivers = ['pg', 'neon'] as const;
  const runs: Record<(typeof drivers)[number], FullRun[]> = { pg: [], neon: [] };
  const once = async (driver: (typeof drivers)[number]): Promise<FullRun> => {
    peer.resetCount();
    const report = await runDiagnostics(deps[driver], config, {}, new Date());
    const peerRequests = peer.requests;
    assertAnswered(report, `full run (${driver})`);
    const durations = report.checks.map((c) => c.durationMs);
    const maxCheckMs = Math.max(...durations);
    const slowest = report.checks.filter((c) => c.durationMs === maxCheckMs).map((c) => c.id);
    return {
      wallMs: report.durationMs,
      maxCheckMs,
      sumCheckMs: durations.reduce((a, b) => a + b, 0),
      ratio: report.durationMs / Math.max(1, maxCheckMs),
      roundTrips: report.postgresRoundTrips,
      ...(driver === 'neon' ? { peerRequests } : {}),
      slowest: slowest.length > 3 ? `${slowest.slice(0, 2).join(', ')} and ${slowest.length - 2} more` : slowest.join(', '),
      report,
    };
  };

  ctx.progress(`full runs: ${FULL_WARMUP} warm-up + ${FULL_RUNS} measured rounds × pg, neon (+${PEER_LATENCY_MS} ms per Neon request)`);
  for (let round = 0; round < FULL_WARMUP + FULL_RUNS; round++) {
    for (const d of rotation(drivers, round)) {
      const r = await once(d);
      if (round >= FULL_WARMUP) runs[d].push(r);
    }
  }

  const first = runs.pg[0]!.report;
  const ids = first.checks.map((c) => c.id);

  // Context for the ratio: each check run on its own (`only: [id]`), so "the slowest single check" can
  // also be read as the slowest check alone, not only as the slowest inside the full run.
  ctx.progress(`each of the ${ids.length} checks alone: ${ALONE_RUNS} rounds × pg, neon`);
  const alone: Record<(typeof drivers)[number], Map<string, number[]>> = { pg: new Map(), neon: new Map() };
  for (let round = 0; round < ALONE_RUNS; round++) {
    for (const id of ids) {
      for (const d of rotation(drivers, round)) {
        const report = await runDiagnostics(deps[d], config, { only: [id] }, new Date());
        assertAnswered(report, `${id} alone (${d})`);
        alone[d].set(id, [...(alone[d].get(id) ?? []), report.durationMs]);
      }
    }
  }
  ctx.note(`full run: ${ids.length} checks (parseConfig({}), every family it defines): ${ids.join(', ')}`);
  ctx.note(`full run statuses (pg): ${JSON.stringify(first.counts)}; Redis over TCP (lib/redis/tcp.ts) for both drivers`);

  const figures: Figure[] = [];
  const neonRequests = runs.neon.map((r) => r.peerRequests ?? 0);
  ctx.note(
    `neon: HTTP requests seen by the peer per warm full run: ${neonRequests.join(', ')}; report.postgresRoundTrips: ` +
      `neon ${[...new Set(runs.neon.map((r) => r.roundTrips))].join('/')}, pg ${[...new Set(runs.pg.map((r) => r.roundTrips))].join('/')}`,
  );
  figures.push(judged('neon: Postgres round trips per full warm run (peer count, max)', Math.max(...neonRequests), 'round trips', { max: GOAL_ROUND_TRIPS }));

  for (const d of drivers) {
    const rs = runs[d];
    const ratios = rs.map((r) => r.ratio);
    const overlap = rs.map((r) => r.sumCheckMs / Math.max(1, r.wallMs));
    ctx.note(
      `${d}: wall ${describe(rs.map((r) => r.wallMs))}; slowest check ${describe(rs.map((r) => r.maxCheckMs))} ` +
        `(${[...new Set(rs.map((r) => r.slowest))].slice(0, 3).join(' | ')})`,
    );
    ctx.note(
      `${d}: wall ÷ slowest ${spread2(ratios)} (both are whole ms, so one run's ratio moves in steps of ≈ ${(1 / median(rs.map((r) => r.maxCheckMs))).toFixed(2)}); ` +
        `Σ check durations ÷ wall ${spread2(overlap)}: how many checks' worth of time overlap`,
    );
    const families = summariseFamilies(rs[rs.length - 1]!.report);
    ctx.note(`${d}: per family in the last run (max check ms): ${families}`);
    const aloneMedians = [...alone[d]].map(([id, ms]) => ({ id, ms: median(ms) })).sort((a, b) => b.ms - a.ms);
    const slowestAlone = aloneMedians[0]!;
    ctx.note(`${d}: slowest checks run alone (median of ${ALONE_RUNS}): ${aloneMedians.slice(0, 4).map((a) => `${a.id} ${a.ms} ms`).join(', ')}`);
    figures.push(judged(`${d}: run wall ÷ slowest check (median of ${rs.length})`, round2(median(ratios)), 'ratio', { max: GOAL_WALL_RATIO }));
    figures.push(info(`${d}: full run wall (report.durationMs), median`, round1(median(rs.map((r) => r.wallMs))), 'ms'));
    figures.push(info(`${d}: full run wall ÷ slowest check run alone (${slowestAlone.id})`, round2(median(rs.map((r) => r.wallMs)) / slowestAlone.ms), 'ratio'));
  }
  return figures;
}

/** "median 1.00 (p10 1.00, p90 1.04, n=15)" for ratios. */
function spread2(samples: readonly number[]): string {
  const f = (x: number) => x.toFixed(2);
  return `median ${f(median(samples))} (p10 ${f(quantile(samples, 0.1))}, p90 ${f(quantile(samples, 0.9))}, n=${samples.length})`;
}

function summariseFamilies(report: DiagnosticsReport): string {
  const byFamily = new Map<string, number>();
  for (const c of report.checks) {
    const fam = c.id.startsWith('postgres.') ? 'postgres' : c.id.split('.')[0]!;
    byFamily.set(fam, Math.max(byFamily.get(fam) ?? 0, c.durationMs));
  }
  return [...byFamily].map(([f, ms]) => `${f} ${ms}`).join(', ');
}

type SideKey = 'script' | 'scriptSession' | 'opsbook' | 'playbooks' | 'cold' | 'cli';

interface ColdSample {
  bootMs: number;
  importMs: number;
  requestMs: number;
  status: number;
  counts?: Record<string, number>;
  ids?: string[];
  roundTrips?: number;
  error?: unknown;
}

/** Figure 3: the runbook's script against Opsbook, interleaved. */
async function sideBySide(ctx: BenchContext, config: OpsbookConfig, deps: Deps, work: string): Promise<Figure[]> {
  // The checks the two playbooks name that this config defines, as runPlaybook selects them.
  const available = allChecks(config);
  const selectors = RUNBOOK_PLAYBOOKS.flatMap((p) => PLAYBOOKS[p]!.steps.flatMap((s) => s.checks));
  const only = [...new Set(selectors.filter((sel) => available.some((c) => selects(sel, c))))];
  const absent = [...new Set(selectors.filter((sel) => !available.some((c) => selects(sel, c))))];

  const redisUrl = new URL(REDIS_URL);
  const scriptEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    DATABASE_URL: dbUrl(DATABASE),
    REDIS_HOST: redisUrl.hostname || '127.0.0.1',
    REDIS_PORT: redisUrl.port || '6379',
    PGCONNECT_TIMEOUT: '5',
    ...(redisUrl.password ? { REDISCLI_AUTH: decodeURIComponent(redisUrl.password) } : {}),
  };

  ctx.progress('bundling api/diagnostics.ts with esbuild for the cold-process figure');
  const bundle = await bundleFunction({ entry: 'api/diagnostics.ts', outdir: join(work, 'bundle'), workingDir: ctx.repoRoot });
  const probe = join(work, 'probe.mjs');
  await writeFile(probe, PROBE_SOURCE);
  const coldEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    VERCEL_ENV: 'production',
    DATABASE_URL: dbUrl(DATABASE),
    REDIS_URL,
    // A throwaway bootstrap admin token: the route requires the read role. Never printed.
    OPSBOOK_ADMIN_TOKEN: `bench-${Math.random().toString(36).slice(2)}-${Date.now()}`,
    OPSBOOK_DATA_DIR: join(work, 'data'),
    // Production requires a real email sender (lib/env.ts); diagnostics never send, so a dummy key does.
    RESEND_API_KEY: 're_bench_unused',
  };
  const coldQuery = `only=${encodeURIComponent(only.join(','))}`;

  const samples: Record<SideKey, number[]> = { script: [], scriptSession: [], opsbook: [], playbooks: [], cold: [], cli: [] };
  // The compiled CLI as an engineer types it, on the same database and Redis (built once up front, so
  // the rounds measure a run, not a build).
  const cliEnv: Record<string, string> = { PATH: scriptEnv.PATH!, HOME: scriptEnv.HOME!, DATABASE_URL: dbUrl(DATABASE), REDIS_URL, OPSBOOK_DATA_DIR: join(work, 'cli-data') };
  await runCommand(process.execPath, [join(ctx.repoRoot, 'bin/build.mjs')], cliEnv, ctx.repoRoot);
  const coldInside: ColdSample[] = [];
  let opsbookReport: DiagnosticsReport | undefined;
  const scriptOutputs = { script: '', scriptSession: '' };

  const measure: Record<SideKey, () => Promise<void>> = {
    script: async () => {
      scriptOutputs.script = await runScript(RUNBOOK_SCRIPT, scriptEnv);
    },
    scriptSession: async () => {
      scriptOutputs.scriptSession = await runScript(RUNBOOK_SCRIPT_ONE_SESSION, scriptEnv);
    },
    opsbook: async () => {
      opsbookReport = await runDiagnostics(deps, config, { only }, new Date());
      assertAnswered(opsbookReport, 'opsbook');
    },
    playbooks: async () => {
      const reports = await Promise.all(RUNBOOK_PLAYBOOKS.map((p) => runPlaybook(deps, config, p, {}, new Date())));
      const bad = reports.flatMap((r) => r.steps.flatMap((s) => s.checks)).filter((c) => c.status === 'error');
      if (bad.length > 0) throw new Error(`playbooks: ${bad.map((c) => `${c.id} → ${c.summary}`).join('; ')}`);
    },
    cli: async () => {
      const out = await runCommand(process.execPath, [join(ctx.repoRoot, 'bin/opsbook.js'), 'run', 'daily', '--dry-run'], cliEnv, ctx.repoRoot);
      if (!out.includes('Dry run: nothing was stored or sent.')) throw new Error(`opsbook run daily --dry-run printed: ${out.slice(-500)}`);
    },
    cold: async () => {
      const s = await spawnProbe(probe, bundle.entryFile, coldQuery, coldEnv, work);
      if (s.status !== 200 || (s.counts?.error ?? 0) > 0) throw new Error(`cold GET /api/diagnostics answered ${s.status}: ${JSON.stringify(s.error ?? s.counts)}`);
      if (s.ids?.length !== only.length) throw new Error(`cold GET /api/diagnostics ran ${s.ids?.join(', ')}, not ${only.join(', ')}`);
      coldInside.push(s);
    },
  };

  const contenders: SideKey[] = ['script', 'scriptSession', 'opsbook', 'playbooks', 'cold', 'cli'];
  ctx.progress(`side by side: ${SIDE_WARMUP} warm-up + ${SIDE_ROUNDS} measured rounds × ${contenders.join(', ')}`);
  for (let round = 0; round < SIDE_WARMUP + SIDE_ROUNDS; round++) {
    for (const c of rotation(contenders, round)) {
      const start = performance.now();
      await measure[c]();
      const ms = performance.now() - start;
      if (round >= SIDE_WARMUP) samples[c].push(ms);
    }
  }
  coldInside.splice(0, SIDE_WARMUP);

  for (const [which, output] of Object.entries(scriptOutputs)) {
    const missing = SCRIPT_MARKERS.filter((m) => !output.includes(m));
    if (missing.length > 0) throw new Error(`the runbook script (${which}) output lacks ${missing.join(', ')}: ${output.slice(0, 500)}`);
  }

  const m = Object.fromEntries(contenders.map((c) => [c, median(samples[c])])) as Record<SideKey, number>;
  ctx.note(`runbook script (bash -c, ${countInvocations(RUNBOOK_SCRIPT)} processes, one connection each):\n    ${RUNBOOK_SCRIPT.replace(/\n/g, '\n    ')}`);
  ctx.note(`left out of the script: ${DROPPED.join('; ')}`);
  ctx.note(
    `Opsbook: runDiagnostics({ only }) with the ${only.length} checks the playbooks ${RUNBOOK_PLAYBOOKS.join(' + ')} name ` +
      `(${only.join(', ')}${absent.length ? `; none configured for ${absent.join(', ')}` : ''}), over node-postgres + TCP Redis with clients connected ` +
      `(a warm instance), ${opsbookReport?.postgresRoundTrips ?? '?'} Postgres round trips, statuses ${JSON.stringify(opsbookReport?.counts)}`,
  );
  for (const c of contenders) ctx.note(`${c.padEnd(13)} ${describe(samples[c])}`);
  ctx.note(
    `script ÷ Opsbook at other quantiles: p10 ÷ p10 ${(quantile(samples.script, 0.1) / quantile(samples.opsbook, 0.1)).toFixed(1)}×, ` +
      `p90 ÷ p90 ${(quantile(samples.script, 0.9) / quantile(samples.opsbook, 0.9)).toFixed(1)}×`,
  );
  const pick = (f: (s: ColdSample) => number) => coldInside.map(f);
  ctx.note(
    `cold process (node + bundled api/diagnostics.ts, GET ?only=…, pg + TCP Redis): spawn → exit ${describe(samples.cold)}; inside it: ` +
      `node start-up ${describe(pick((s) => s.bootMs))}, import ${describe(pick((s) => s.importMs))}, first GET ${describe(pick((s) => s.requestMs))} ` +
      `(loads the pg and ioredis chunks, connects, and on its new Db checks Opsbook's schema once, a batch that ` +
      `report.postgresRoundTrips does not count: ${coldInside[0]?.roundTrips ?? '?'} in the report)`,
  );

  return [
    judged('runbook 004 script ÷ Opsbook, warm instance (in-process runDiagnostics)', round2(m.script / m.opsbook), 'ratio', { min: GOAL_SPEEDUP }),
    info(`runbook 004 script (${countInvocations(RUNBOOK_SCRIPT)} processes, 1 connection each), median`, round1(m.script), 'ms'),
    info('Opsbook, warm runDiagnostics of the two playbooks’ checks, median', round1(m.opsbook), 'ms'),
    info('script ÷ Opsbook, warm, two runPlaybook calls in parallel', round2(m.script / m.playbooks), 'ratio'),
    info('script with P1 in one psql session ÷ Opsbook, warm', round2(m.scriptSession / m.opsbook), 'ratio'),
    info('script ÷ Opsbook, cold process (bundled GET /api/diagnostics, spawn → exit)', round2(m.script / m.cold), 'ratio'),
    info('Opsbook cold process, spawn → exit, median', round1(m.cold), 'ms'),
    judged('`opsbook run daily --dry-run` (compiled CLI, spawn → exit) ÷ runbook 004 script', round2(m.cli / m.script), 'ratio', { max: GOAL_CLI_RATIO }),
    info('`opsbook run daily --dry-run`, spawn → exit, median', round1(m.cli), 'ms'),
  ];
}

function countInvocations(script: string): number {
  return script.split('\n').filter((l) => /^(psql|redis-cli) /.test(l)).length;
}

/** Run a command to completion; resolves with its stdout, rejects on a non-zero exit naming `what`. */
function runCommand(cmd: string, args: string[], env: Record<string, string>, cwd: string, what = args.join(' ')): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${cmd}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`${what} exited with ${code ?? signal}: ${(stderr || stdout).trim().slice(-1000)}`));
      else resolve(stdout);
    });
  });
}

/** Run a script with bash, as a terminal would; resolves with its stdout, rejects on a non-zero exit. */
function runScript(script: string, env: Record<string, string>): Promise<string> {
  return runCommand('bash', ['-c', script], env, process.cwd(), 'the runbook script');
}

/** One fresh `node` process that imports the bundled route and answers one GET. */
function spawnProbe(probe: string, bundle: string, query: string, env: Record<string, string>, cwd: string): Promise<ColdSample> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [probe, pathToFileURL(bundle).href, query], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) {
        reject(new Error(`cold probe exited with ${code ?? signal}: ${stderr.trim().slice(0, 2000)}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ColdSample);
      } catch {
        reject(new Error(`cold probe printed no result: ${stdout.slice(0, 500)} ${stderr.slice(0, 500)}`));
      }
    });
  });
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
