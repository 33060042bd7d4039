import * as z from 'zod';
import type { PostgresThresholds } from '../../config/index.js';
import type { Row, Statement } from '../../db/index.js';
import { duration, ok, skipped, warn } from '../outcome.js';
import { snapshotKind } from '../selector.js';
import type { CheckContext, CheckFamily, CheckOutcome, PgCapabilities } from '../types.js';
import { bounded, grantMonitorFix, num, pgCheck, plural, QUERY_CHARS, round1, shownQuery, sqlIdent } from './activity.js';

/**
 * Slow queries from pg_stat_statements (PgHero's defaults: mean ≥ 20 ms over ≥ 100 calls), over all
 * time and since the previous snapshot. One statement reads the view once: the slow statements (top N
 * by total time), the top SNAPSHOT_LIMIT statements by total time for the snapshot, and the figures
 * for the summary. Opsbook never resets the statistics; per-period figures come from diffing
 * snapshots, and a reset (or lost statistics, as on a Neon compute restart) is reported as a gap.
 */

const FAMILY = 'postgres.statements';
export const SNAPSHOT_KIND = 'pg_stat_statements';
/** Statements kept per snapshot: the top ones by total time. */
export const SNAPSHOT_LIMIT = 200;

export interface StatementCounters {
  queryid: string;
  calls: number;
  totalMs: number;
}

/** What a snapshot holds: cumulative counters per queryid and when the statistics last started over. */
export interface StatementsSnapshot {
  /** pg_stat_statements_info.stats_reset (PG14+) or the server start, as epoch seconds. */
  resetMarker: number | null;
  statements: StatementCounters[];
}

const snapshotSchema = z.object({
  resetMarker: z.number().nullable(),
  statements: z.array(z.object({ queryid: z.string(), calls: z.number(), totalMs: z.number() })),
});

export interface StatementDelta extends StatementCounters {
  meanMs: number;
  /** Absent from the previous snapshot (new, or below its top SNAPSHOT_LIMIT then). */
  isNew: boolean;
  /** Slow in the period, and was not slow (or not there) at the previous snapshot. */
  newlySlow: boolean;
}

export type StatementsDiff =
  | { kind: 'first' }
  | { kind: 'gap'; reason: string }
  | { kind: 'period'; deltas: StatementDelta[]; newlySlow: StatementDelta[] };

const isSlow = (calls: number, totalMs: number, t: Thresholds) => calls >= t.minCalls && calls > 0 && totalMs / calls >= t.meanMs;
type Thresholds = { meanMs: number; minCalls: number };

/**
 * Per-statement activity between two snapshots. Pure. A changed reset marker or any counter that went
 * down means the statistics started over in between: that is a gap, never a negative delta. Statements
 * that did not run in the period are left out; newly slow ones are sorted by time spent.
 */
export function diffStatements(previous: StatementsSnapshot | undefined, current: StatementsSnapshot, t: Thresholds): StatementsDiff {
  if (!previous) return { kind: 'first' };
  if (previous.resetMarker !== current.resetMarker) {
    return { kind: 'gap', reason: 'the statistics were reset or the server restarted since the previous snapshot' };
  }
  const before = new Map(previous.statements.map((s) => [s.queryid, s]));
  let wentDown = 0;
  for (const s of current.statements) {
    const p = before.get(s.queryid);
    if (p && (s.calls < p.calls || s.totalMs < p.totalMs - 1e-6)) wentDown++;
  }
  if (wentDown > 0) {
    return { kind: 'gap', reason: `counters went down for ${plural(wentDown, 'statement')} (statistics lost or reset since the previous snapshot)` };
  }
  const deltas: StatementDelta[] = [];
  for (const s of current.statements) {
    const p = before.get(s.queryid);
    const calls = s.calls - (p?.calls ?? 0);
    const totalMs = Math.max(0, s.totalMs - (p?.totalMs ?? 0));
    if (calls <= 0) continue;
    const slowNow = isSlow(calls, totalMs, t);
    const slowBefore = p !== undefined && isSlow(p.calls, p.totalMs, t);
    deltas.push({ queryid: s.queryid, calls, totalMs, meanMs: totalMs / calls, isNew: p === undefined, newlySlow: slowNow && !slowBefore });
  }
  deltas.sort((a, b) => b.totalMs - a.totalMs);
  return { kind: 'period', deltas, newlySlow: deltas.filter((d) => d.newlySlow) };
}

export function parseSnapshot(data: unknown): StatementsSnapshot | undefined {
  const parsed = snapshotSchema.safeParse(data);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The one statement. `b` reads the view once (this database, statements that ran); other roles'
 * statements have no queryid without pg_read_all_stats: they are counted, and their slow ones too.
 * Text is sent only where it can be shown: slow statements and those with enough calls to turn slow.
 */
export function statementsSql(caps: PgCapabilities, t: PostgresThresholds): Statement {
  const schema = sqlIdent(caps.pgStatStatementsSchema ?? 'public');
  const total = caps.serverVersionNum >= 130_000 ? 'total_exec_time' : 'total_time';
  const marker =
    caps.serverVersionNum >= 140_000
      ? `(SELECT extract(epoch FROM stats_reset)::float8 FROM ${schema}.pg_stat_statements_info)`
      : 'extract(epoch FROM pg_postmaster_start_time())::float8';
  return {
    text: `WITH b AS MATERIALIZED (
  SELECT queryid, calls::float8 AS calls, ${total}::float8 AS total_ms, left(query, ${QUERY_CHARS}) AS query
  FROM ${schema}.pg_stat_statements
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND calls > 0
), s AS (
  SELECT queryid::text AS queryid, sum(calls) AS calls, sum(total_ms) AS total_ms, min(query) AS query
  FROM b WHERE queryid IS NOT NULL GROUP BY queryid
), r AS (
  SELECT s.*, total_ms / calls AS mean_ms, (calls >= $1::float8 AND total_ms / calls >= $2::float8) AS slow,
    row_number() OVER (ORDER BY total_ms DESC, queryid) AS total_rank
  FROM s
), x AS (
  SELECT r.*, row_number() OVER (PARTITION BY slow ORDER BY total_ms DESC, queryid) AS slow_rank FROM r
), agg AS (
  SELECT count(*)::int AS statements, COALESCE(sum(total_ms), 0)::float8 AS all_ms,
    (count(*) FILTER (WHERE queryid IS NULL))::int AS hidden,
    (count(*) FILTER (WHERE queryid IS NULL AND calls >= $1::float8 AND total_ms / calls >= $2::float8))::int AS hidden_slow,
    (SELECT count(*) FROM r WHERE slow)::int AS slow_count,
    (SELECT COALESCE(sum(total_ms), 0) FROM r WHERE slow)::float8 AS slow_ms,
    ${marker} AS reset_marker
  FROM b
)
SELECT agg.*, y.queryid, y.calls, y.total_ms, y.mean_ms::float8 AS mean_ms, y.slow, y.total_rank::int AS total_rank,
  CASE WHEN y.slow OR y.calls >= $1::float8 THEN y.query END AS query
FROM agg LEFT JOIN (SELECT * FROM x WHERE total_rank <= ${SNAPSHOT_LIMIT} OR (slow AND slow_rank <= $3::int)) y ON true
ORDER BY y.total_ms DESC NULLS LAST, y.queryid`,
    params: [t.slowQueryMinCalls, t.slowQueryMeanMs, t.topN + 1],
  };
}

/** A statement that failed because of how pg_stat_statements is set up, as a `skipped` with its fix. */
export function setupProblem(err: unknown, caps: PgCapabilities): CheckOutcome | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (/shared_preload_libraries/i.test(message)) {
    return skipped('pg_stat_statements is installed but not loaded', 'Add pg_stat_statements to shared_preload_libraries and restart PostgreSQL.');
  }
  if (/pg_stat_statements_info|total_exec_time|total_time/.test(message) && /does not exist/.test(message)) {
    return skipped(
      `The pg_stat_statements extension in ${caps.database} is older than this PostgreSQL server`,
      'ALTER EXTENSION pg_stat_statements UPDATE;',
    );
  }
  if (/permission denied/i.test(message)) {
    return skipped(`${caps.user} may not read pg_stat_statements`, `${grantMonitorFix(caps)} (or GRANT SELECT ON pg_stat_statements TO ${sqlIdent(caps.user)};)`);
  }
  return undefined;
}

interface Current {
  queryid: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  slow: boolean;
  totalRank: number;
  query: string | null;
}

async function slowQueries(ctx: CheckContext, t: PostgresThresholds, now: Date): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  if (caps.pgStatStatements === 'not-installed') {
    return skipped(
      `pg_stat_statements is not installed in ${caps.database}`,
      'CREATE EXTENSION pg_stat_statements; (it must also be in shared_preload_libraries: add it there and restart if it is not)',
    );
  }
  if (caps.pgStatStatements === 'not-loaded') {
    return skipped('pg_stat_statements is installed but not loaded', 'Add pg_stat_statements to shared_preload_libraries and restart PostgreSQL.');
  }
  let rows: Row[];
  try {
    const [res] = await ctx.pg.batch([statementsSql(caps, t)]);
    rows = res!.rows;
  } catch (err) {
    const problem = setupProblem(err, caps);
    if (problem) return problem;
    throw err;
  }
  return evaluate(ctx, caps, t, now, rows);
}

function evaluate(ctx: CheckContext, caps: PgCapabilities, t: PostgresThresholds, now: Date, rows: Row[]): CheckOutcome {
  const head = rows[0] ?? {};
  const allMs = num(head.all_ms);
  const hidden = num(head.hidden);
  const hiddenSlow = num(head.hidden_slow);
  const slowCount = num(head.slow_count);
  const current: Current[] = rows
    .filter((r) => r.queryid !== null && r.queryid !== undefined)
    .map((r) => ({
      queryid: String(r.queryid),
      calls: num(r.calls),
      totalMs: num(r.total_ms),
      meanMs: num(r.mean_ms),
      slow: r.slow === true,
      totalRank: num(r.total_rank),
      // pg_stat_statements normalises most statements, not all (utility statements such as ALTER ROLE
      // … PASSWORD keep their literals on older servers): the same rule as for live sessions applies.
      query: shownQuery(r.query, ctx.queryText),
    }));
  const marker = head.reset_marker === null || head.reset_marker === undefined ? null : num(head.reset_marker);

  const snapshot: StatementsSnapshot = {
    resetMarker: marker,
    statements: current.filter((c) => c.totalRank <= SNAPSHOT_LIMIT).map(({ queryid, calls, totalMs }) => ({ queryid, calls, totalMs })),
  };
  ctx.snapshot.set(snapshotKind(ctx, SNAPSHOT_KIND), snapshot);

  const prev = caps.previous[snapshotKind(ctx, SNAPSHOT_KIND)];
  const diff = diffStatements(parseSnapshot(prev?.data), snapshot, { meanMs: t.slowQueryMeanMs, minCalls: t.slowQueryMinCalls });
  const byId = new Map(current.map((c) => [c.queryid, c]));
  const share = (ms: number) => (allMs > 0 ? round1((ms / allMs) * 100) : 0);

  // Newly slow statements first (a regression is the news), then the slowest by total time.
  const newly = diff.kind === 'period' ? diff.newlySlow : [];
  const periodOf = new Map(diff.kind === 'period' ? diff.deltas.map((d) => [d.queryid, d]) : []);
  const details: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  const row = (c: Current) => {
    const d = periodOf.get(c.queryid);
    return {
      queryid: c.queryid,
      calls: c.calls,
      meanMs: round1(c.meanMs),
      totalMs: Math.round(c.totalMs),
      totalSharePct: share(c.totalMs),
      ...(d ? { periodCalls: d.calls, periodMeanMs: round1(d.meanMs), periodTotalMs: Math.round(d.totalMs), newlySlow: d.newlySlow } : {}),
      query: c.query,
    };
  };
  const add = (c: Current | undefined) => {
    if (!c || seen.has(c.queryid)) return;
    seen.add(c.queryid);
    details.push(row(c));
  };
  for (const n of newly) add(byId.get(n.queryid));
  for (const c of current) if (c.slow) add(c);
  const totalFindings = slowCount + newly.filter((n) => !byId.get(n.queryid)?.slow).length;
  const page = bounded(details, totalFindings, t.topN);

  const criteria = `mean ≥ ${t.slowQueryMeanMs} ms over ≥ ${t.slowQueryMinCalls} calls`;
  const parts: string[] = [];
  parts.push(
    slowCount === 0
      ? `no slow query (${criteria})`
      : `${plural(slowCount, 'slow query', 'slow queries')} (${criteria}), ${share(num(head.slow_ms))}% of total time`,
  );
  if (hiddenSlow > 0) parts.push(`${plural(hiddenSlow, 'slow statement')} of other roles (text hidden without pg_monitor)`);
  parts.push(periodText(diff, prev?.takenAt, now));
  const summary = parts.join('; ');

  const findings = slowCount + hiddenSlow + newly.length;
  const partial = !caps.canMonitor && hidden > 0;
  if (findings === 0 && partial) {
    return skipped(
      `pg_stat_statements hides ${plural(hidden, 'statement')} of other roles from ${caps.user}; none of ${caps.user}'s own is slow`,
      `${grantMonitorFix(caps)} (it includes pg_read_all_stats, which shows every role's statements).`,
    );
  }
  const extra: Partial<CheckOutcome> = { value: slowCount + hiddenSlow, unit: 'queries', ...page };
  if (findings === 0) return ok(summary, extra);
  return warn(summary, {
    ...extra,
    hint: {
      text:
        'EXPLAIN (ANALYZE, BUFFERS) the top statements: look for sequential scans on big tables (a missing index), ' +
        'row estimates far from the actual rows (run ANALYZE) and N+1 patterns in the app. ' +
        (partial ? `${grantMonitorFix(caps)} to see other roles' statement text. ` : '') +
        'Opsbook never resets pg_stat_statements; take snapshots to see what changed since the last one.',
    },
  });
}

function periodText(diff: StatementsDiff, takenAt: string | undefined, now: Date): string {
  if (diff.kind === 'first') return 'no previous snapshot to compare with';
  const ago = takenAt ? ` (${duration(Math.max(0, (now.getTime() - Date.parse(takenAt)) / 1000))} ago)` : '';
  if (diff.kind === 'gap') return `gap since the previous snapshot${ago}: ${diff.reason}; period figures start with this one`;
  const n = diff.newlySlow.length;
  return `since the previous snapshot${ago}: ${n === 0 ? 'no new slow query' : plural(n, 'new slow query', 'new slow queries')}, ${plural(diff.deltas.length, 'statement')} ran`;
}

export const family: CheckFamily = {
  family: FAMILY,
  checks(config) {
    if (!config.checks.postgres.enabled) return [];
    return [pgCheck(FAMILY, { id: 'postgres.slow-queries', title: 'Slow queries', severity: 'P3' }, slowQueries)];
  },
};
