import type { Check, CheckContext, CheckFamily, CheckOutcome, CheckStatus } from '../types.js';
import { postgresChecks } from './check.js';
import type { QueryResult, Row } from '../../db/index.js';
import { actionHint, bytes, fail, ok, skipped, warn } from '../outcome.js';
import { lockedNote, lockedOidsParam } from '../pg-locks.js';
import { snapshotKind } from '../selector.js';
import { displayQueryText } from '../../sql/normalize.js';

/**
 * Postgres storage diagnostics (runbook 001: "weekly ANALYZE / VACUUM ANALYZE; table sizes, bloat"):
 * cache hit rate, database size, largest tables and indexes, dead tuples and (auto)vacuum/analyze age.
 * Defaults follow PgHero.
 *
 * Cost: every check awaits the shared `caps()` and then makes exactly one `batch()` call, synchronously,
 * so all Postgres checks of a run share one round trip. The SQL must stay cheap on catalogs of 10,000+
 * tables: functions that open a relation (pg_relation_size, pg_table_size, pg_total_relation_size) cost
 * 10-60 µs each on a fresh backend (relcache build), so they run only on a bounded set of candidates
 * ranked by catalog columns (pg_class.relpages, refreshed by VACUUM, ANALYZE and CREATE INDEX) and cheap
 * statistics lookups (pg_stat_get_*, no lock, no relcache).
 */

export const MAINTENANCE_PATH = '/api/admin/db/maintenance';

/** Schemas whose relations are not the application's: the catalogs, TOAST, temp schemas and Opsbook's own. */
const APP_SCHEMA = (ns: string) => `${ns}.nspname NOT IN ('pg_catalog', 'information_schema', 'opsbook') AND ${ns}.nspname !~ '^pg_(toast|temp_)'`;

/** Below this many block accesses (hits + reads) a hit rate says nothing. */
export const CACHE_MIN_BLOCK_ACCESSES = 1000;

/**
 * Tables ranked by catalog page counts may be a little stale (pages are refreshed by (auto)VACUUM and
 * ANALYZE): exact sizes are measured for this many times topN candidates, then the top N shown.
 */
const CANDIDATE_FACTOR = 3;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
/** Timestamps travel as epoch seconds (float8): the same on every driver. */
const iso = (epoch: unknown): string | null => (epoch === null || epoch === undefined ? null : new Date(Number(epoch) * 1000).toISOString());
const pct = (part: number, whole: number): number => (whole > 0 ? Math.round((part / whole) * 10_000) / 100 : 0);
const rowsOf = (results: QueryResult[], i = 0): Row[] => results[i]?.rows ?? [];

function thresholds(ctx: CheckContext) {
  return ctx.config.checks.postgres.thresholds;
}

// ---------------------------------------------------------------------------------------------------------------
// Cache hit rate

export interface CacheCounters {
  heapHit: number;
  heapRead: number;
  indexHit: number;
  indexRead: number;
}

/**
 * Grade heap and index hit rates (PgHero: warn below 99 %). A kind with fewer than
 * CACHE_MIN_BLOCK_ACCESSES block accesses is not judged; when neither is, the answer is "not enough reads".
 */
export function gradeCacheHit(c: CacheCounters, warnPct: number, failPct = 0): { status: CheckStatus; summary: string; value?: number } {
  const judge = (hit: number, read: number) => (hit + read >= CACHE_MIN_BLOCK_ACCESSES ? (hit / (hit + read)) * 100 : undefined);
  const heap = judge(c.heapHit, c.heapRead);
  const index = judge(c.indexHit, c.indexRead);
  if (heap === undefined && index === undefined) {
    return { status: 'ok', summary: `not enough reads to judge (fewer than ${CACHE_MIN_BLOCK_ACCESSES} block accesses since the statistics were reset)` };
  }
  const fmt = (v: number | undefined) => (v === undefined ? 'too few reads' : `${(Math.floor(v * 100) / 100).toFixed(2)} %`);
  const judged = [heap, index].filter((v): v is number => v !== undefined);
  const lowest = Math.min(...judged);
  const status: CheckStatus = lowest < failPct ? 'fail' : lowest < warnPct ? 'warn' : 'ok';
  const parts = `tables ${fmt(heap)}, indexes ${fmt(index)}`;
  return {
    status,
    summary: status === 'ok' ? `cache hit rate ${parts}` : `cache hit rate below ${status === 'fail' ? failPct : warnPct} %: ${parts}`,
    value: Math.floor(lowest * 100) / 100,
  };
}

/**
 * Block hits and reads of application tables (heap) and indexes, from the statistics functions that back
 * pg_statio_user_tables/indexes, in one pass over pg_class; plus the relations with the most reads.
 */
const CACHE_SQL = `WITH rel AS (
  SELECT c.relkind = 'i' AS is_index, n.nspname, c.relname,
         pg_stat_get_blocks_hit(c.oid)::float8 AS hit,
         (pg_stat_get_blocks_fetched(c.oid) - pg_stat_get_blocks_hit(c.oid))::float8 AS read
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm', 'i') AND ${APP_SCHEMA('n')}
), agg AS (
  SELECT COALESCE(sum(hit) FILTER (WHERE NOT is_index), 0)::float8 AS heap_hit,
         COALESCE(sum(read) FILTER (WHERE NOT is_index), 0)::float8 AS heap_read,
         COALESCE(sum(hit) FILTER (WHERE is_index), 0)::float8 AS index_hit,
         COALESCE(sum(read) FILTER (WHERE is_index), 0)::float8 AS index_read,
         count(*) FILTER (WHERE read > 0)::int AS with_reads
  FROM rel
)
SELECT agg.*, top.relation, top.kind, top.hit, top.read
FROM agg LEFT JOIN LATERAL (
  SELECT format('%I.%I', nspname, relname) AS relation, CASE WHEN is_index THEN 'index' ELSE 'table' END AS kind, hit, read
  FROM rel WHERE read > 0 ORDER BY read DESC, relname LIMIT $1::int
) top ON true`;

const cacheHit: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  await ctx.pg.caps();
  const rows = rowsOf(await ctx.pg.batch([{ text: CACHE_SQL, params: [t.topN] }]));
  const first = rows[0] ?? {};
  const counters: CacheCounters = {
    heapHit: num(first.heap_hit),
    heapRead: num(first.heap_read),
    indexHit: num(first.index_hit),
    indexRead: num(first.index_read),
  };
  const graded = gradeCacheHit(counters, t.cacheHitWarnPct, t.cacheHitFailPct);
  const details = rows
    .filter((r) => r.relation !== null && r.relation !== undefined)
    .map((r) => ({ relation: r.relation, kind: r.kind, blocksRead: num(r.read), blocksHit: num(r.hit), hitPct: pct(num(r.hit), num(r.hit) + num(r.read)) }));
  const withReads = num(first.with_reads);
  const outcome: CheckOutcome = {
    status: graded.status,
    summary: graded.summary,
    ...(graded.value !== undefined ? { value: graded.value, unit: '%' } : {}),
    ...(details.length ? { details } : {}),
    ...(withReads > details.length ? { more: withReads - details.length } : {}),
  };
  if (graded.status === 'warn') {
    outcome.hint = {
      text:
        'The working set does not fit in memory: look at the relations with the most reads (details) — a missing index ' +
        'turning lookups into sequential scans of a large table is the usual cause — or give the database more memory ' +
        '(shared_buffers ≈ 25 % of RAM, a larger instance or compute size).',
    };
  }
  return outcome;
};

// ---------------------------------------------------------------------------------------------------------------
// Database size

const DATABASE_SIZE_SQL = `SELECT current_database() AS database, pg_database_size(current_database())::float8 AS bytes`;

const databaseSize: Check['run'] = async (ctx, now) => {
  const caps = await ctx.pg.caps();
  const row = rowsOf(await ctx.pg.batch([{ text: DATABASE_SIZE_SQL }]))[0] ?? {};
  const size = num(row.bytes);
  ctx.snapshot.set(snapshotKind(ctx, 'database_size'), { bytes: size, database: String(row.database ?? caps.database) });
  let trend = '';
  const previous = caps.previous[snapshotKind(ctx, 'database_size')];
  const prevBytes = (previous?.data as { bytes?: unknown } | undefined)?.bytes;
  if (previous && typeof prevBytes === 'number' && Number.isFinite(prevBytes)) {
    const delta = size - prevBytes;
    const days = (now.getTime() - Date.parse(previous.takenAt)) / 86_400_000;
    const since = days >= 1 ? `${Math.round(days)} d ago` : previous.takenAt;
    trend = ` (${delta >= 0 ? '+' : '−'}${bytes(Math.abs(delta))} since ${since})`;
  }
  return ok(`database ${String(row.database ?? caps.database)} is ${bytes(size)}${trend}`, { value: size, unit: 'bytes' });
};

// ---------------------------------------------------------------------------------------------------------------
// Largest tables and indexes

/**
 * Candidates are the tables with the most pages in the catalog (heap + TOAST + indexes) plus, because a
 * table that was never vacuumed or analyzed still shows 0 pages there, the never-analyzed ones with the
 * most live rows by the statistics; exact sizes are measured only for those.
 */
const LARGEST_TABLES_SQL = `WITH t AS (
  SELECT c.oid, n.nspname, c.relname, c.reltuples, c.reltoastrelid AS toast_oid,
         (c.relpages::float8 + COALESCE(tc.relpages, 0) + COALESCE(ix.pages, 0)) AS est_pages,
         (c.relpages::float8 + COALESCE(tc.relpages, 0)) AS est_table_pages
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
  LEFT JOIN (SELECT x.indrelid, sum(ci.relpages)::float8 AS pages FROM pg_index x JOIN pg_class ci ON ci.oid = x.indexrelid GROUP BY x.indrelid) ix
    ON ix.indrelid = c.oid
  WHERE c.relkind IN ('r', 'm') AND ${APP_SCHEMA('n')}
), cand AS (
  (SELECT oid FROM t ORDER BY est_pages DESC LIMIT $2::int)
  UNION
  (SELECT oid FROM t WHERE reltuples < 0 ORDER BY pg_stat_get_live_tuples(oid) DESC LIMIT $2::int)
), locked AS (
  SELECT cand.oid, (SELECT min(o) FROM unnest($3::text::oid[]) AS o
                    WHERE o = cand.oid OR o = t.toast_oid OR o IN (SELECT indexrelid FROM pg_index WHERE indrelid = cand.oid)) AS locked_oid
  FROM cand JOIN t ON t.oid = cand.oid
), sized AS (
  -- Measuring opens the table, its TOAST table and its indexes: one that is locked would make this wait,
  -- so its size is the catalog's estimate instead (relpages × block size) and the row says why.
  SELECT t.oid, t.nspname, t.relname, t.reltuples, l.locked_oid,
         CASE WHEN l.locked_oid IS NULL THEN pg_total_relation_size(t.oid)::float8 END AS total_bytes,
         CASE WHEN l.locked_oid IS NULL THEN pg_table_size(t.oid)::float8 END AS table_bytes,
         t.est_pages * current_setting('block_size')::float8 AS est_total_bytes,
         t.est_table_pages * current_setting('block_size')::float8 AS est_table_bytes
  FROM t JOIN locked l ON l.oid = t.oid
)
SELECT format('%I.%I', nspname, relname) AS "table", total_bytes, table_bytes,
       (total_bytes - table_bytes)::float8 AS index_bytes, est_total_bytes, est_table_bytes, locked_oid::int8 AS locked_oid,
       (CASE WHEN reltuples < 0 THEN pg_stat_get_live_tuples(oid) ELSE reltuples END)::float8 AS rows,
       (SELECT count(*) FROM t)::int AS total_tables
FROM sized
ORDER BY COALESCE(total_bytes, est_total_bytes) DESC NULLS LAST, 1
LIMIT $1::int`;

const largestTables: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  await ctx.pg.caps();
  const caps = await ctx.pg.caps();
  const rows = rowsOf(
    await ctx.pg.batch([{ text: LARGEST_TABLES_SQL, params: [t.topN, t.topN * CANDIDATE_FACTOR, lockedOidsParam(caps.locks)] }]),
  );
  const details = rows.map((r) => {
    const note = r.locked_oid === null || r.locked_oid === undefined ? undefined : lockedNote(caps.locks, num(r.locked_oid));
    if (note) {
      return {
        table: String(r.table),
        totalBytes: null,
        tableBytes: null,
        indexBytes: null,
        estimatedTotalBytes: num(r.est_total_bytes),
        estimatedTableBytes: num(r.est_table_bytes),
        rowsEstimate: Math.round(num(r.rows)),
        sizeUnknown: `size unknown: ${note}`,
      };
    }
    return {
      table: String(r.table),
      totalBytes: num(r.total_bytes),
      tableBytes: num(r.table_bytes),
      indexBytes: num(r.index_bytes),
      rowsEstimate: Math.round(num(r.rows)),
    };
  });
  // Trends take measured sizes only: an estimate would show as a jump.
  ctx.snapshot.set(
    snapshotKind(ctx, 'table_sizes'),
    details.filter((d) => d.totalBytes !== null).map((d) => ({ table: d.table, bytes: d.totalBytes, tableBytes: d.tableBytes, indexBytes: d.indexBytes })),
  );
  const total = num(rows[0]?.total_tables);
  if (details.length === 0) return ok('no application tables');
  const top = details[0]!;
  const unknown = details.filter((d) => d.totalBytes === null).length;
  const topSize =
    top.totalBytes === null
      ? `about ${bytes(num(top.estimatedTotalBytes))} by the catalog (${top.sizeUnknown})`
      : `${bytes(top.totalBytes)} with indexes`;
  const tail = unknown > 0 && top.totalBytes !== null ? `; ${unknown} locked, size estimated — see postgres.blocked` : '';
  return ok(`largest table ${top.table}: ${topSize} (of ${total} table${total === 1 ? '' : 's'})${tail}`, {
    value: top.totalBytes ?? num(top.estimatedTotalBytes),
    unit: 'bytes',
    details,
    ...(total > details.length ? { more: total - details.length } : {}),
  });
};

const LARGEST_INDEXES_SQL = `WITH i AS (
  SELECT x.indexrelid AS oid, x.indrelid, n.nspname, ci.relname, ct.relname AS table_name, ci.relpages, ct.reltuples AS table_tuples
  FROM pg_index x
  JOIN pg_class ci ON ci.oid = x.indexrelid
  JOIN pg_class ct ON ct.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ci.relnamespace
  WHERE ci.relkind = 'i' AND ${APP_SCHEMA('n')}
), cand AS (
  (SELECT oid FROM i ORDER BY relpages DESC LIMIT $2::int)
  UNION
  (SELECT oid FROM i WHERE table_tuples < 0 ORDER BY pg_stat_get_live_tuples(indrelid) DESC LIMIT $2::int)
)
SELECT * FROM (
SELECT format('%I.%I', i.nspname, i.relname) AS index, format('%I.%I', i.nspname, i.table_name) AS "table",
       -- An index's size opens only the index (not its table); one locked itself (REINDEX, DROP INDEX) is estimated.
       CASE WHEN i.oid = ANY ($3::text::oid[]) THEN NULL ELSE pg_relation_size(i.oid)::float8 END AS bytes,
       i.relpages::float8 * current_setting('block_size')::float8 AS est_bytes, i.oid::int8 AS oid,
       pg_stat_get_numscans(i.oid)::float8 AS scans,
       (SELECT count(*) FROM i)::int AS total_indexes
FROM i JOIN cand ON cand.oid = i.oid
) s
ORDER BY COALESCE(bytes, est_bytes) DESC NULLS LAST, index
LIMIT $1::int`;

const largestIndexes: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(
    await ctx.pg.batch([{ text: LARGEST_INDEXES_SQL, params: [t.topN, t.topN * CANDIDATE_FACTOR, lockedOidsParam(caps.locks)] }]),
  );
  const details = rows.map((r) => {
    const note = r.bytes === null ? lockedNote(caps.locks, num(r.oid)) : undefined;
    return {
      index: String(r.index),
      table: String(r.table),
      bytes: note ? null : num(r.bytes),
      ...(note ? { estimatedBytes: num(r.est_bytes), sizeUnknown: `size unknown: ${note}` } : {}),
      scans: num(r.scans),
    };
  });
  const total = num(rows[0]?.total_indexes);
  if (details.length === 0) return ok('no application indexes');
  const top = details[0]!;
  const topSize = top.bytes === null ? `about ${bytes(num(top.estimatedBytes))} by the catalog (${top.sizeUnknown})` : bytes(top.bytes);
  return ok(`largest index ${top.index}: ${topSize} (of ${total} index${total === 1 ? '' : 'es'})`, {
    value: top.bytes ?? num(top.estimatedBytes),
    unit: 'bytes',
    details,
    ...(total > details.length ? { more: total - details.length } : {}),
  });
};

// ---------------------------------------------------------------------------------------------------------------
// Dead tuples and (auto)vacuum / (auto)analyze age

/**
 * One row per application table that needs attention, worst first:
 * - dead: n_dead_tup ≥ $1 rows and ≥ $2 % of live rows (PgHero's bloat signal) → VACUUM.
 * - vacuum_stale: more dead rows than autovacuum's own trigger (threshold + scale factor × rows) and no
 *   (auto)vacuum since $3 (or ever): autovacuum is off for it, blocked, or not keeping up.
 * - analyze_stale: the same for changes since the last (auto)analyze: the planner works from stale statistics.
 * Tables with changes but not analyzed/vacuumed for $3 that are below autovacuum's triggers are expected
 * (small, quiet tables) and only counted.
 */
const VACUUM_SQL = `WITH s AS (
  SELECT st.relid, st.schemaname, st.relname,
         st.n_live_tup::float8 AS live, st.n_dead_tup::float8 AS dead, st.n_mod_since_analyze::float8 AS mods,
         GREATEST(st.last_vacuum, st.last_autovacuum) AS vacuumed,
         GREATEST(st.last_analyze, st.last_autoanalyze) AS analyzed,
         GREATEST(c.reltuples, 0)::float8 AS reltuples,
         COALESCE('autovacuum_enabled=false' = ANY (c.reloptions), false) AS av_off
  FROM pg_stat_user_tables st JOIN pg_class c ON c.oid = st.relid
  WHERE st.schemaname NOT IN ('opsbook') AND st.schemaname !~ '^pg_(toast|temp_)'
), flagged AS (
  SELECT s.*,
         dead >= $1::float8 AND dead >= $2::float8 / 100 * live AS is_dead,
         dead > 0 AND dead >= current_setting('autovacuum_vacuum_threshold')::float8 + current_setting('autovacuum_vacuum_scale_factor')::float8 * reltuples
           AND (vacuumed IS NULL OR vacuumed < $3::timestamptz) AS vacuum_stale,
         mods > 0 AND mods >= current_setting('autovacuum_analyze_threshold')::float8 + current_setting('autovacuum_analyze_scale_factor')::float8 * reltuples
           AND (analyzed IS NULL OR analyzed < $3::timestamptz) AS analyze_stale,
         (dead > 0 AND (vacuumed IS NULL OR vacuumed < $3::timestamptz)) OR (mods > 0 AND (analyzed IS NULL OR analyzed < $3::timestamptz)) AS quiet_stale
  FROM s
), picked AS (
  SELECT *, (is_dead OR vacuum_stale OR analyze_stale) AS needs_action FROM flagged WHERE is_dead OR vacuum_stale OR analyze_stale OR quiet_stale
)
SELECT format('%I.%I', schemaname, relname) AS "table", live, dead, mods, is_dead, vacuum_stale, analyze_stale, needs_action, av_off,
       extract(epoch FROM vacuumed)::float8 AS vacuumed, extract(epoch FROM analyzed)::float8 AS analyzed,
       (count(*) FILTER (WHERE needs_action) OVER ())::int AS flagged_count,
       (count(*) FILTER (WHERE NOT needs_action) OVER ())::int AS quiet_count,
       current_setting('autovacuum') = 'on' AS autovacuum_on
FROM picked
ORDER BY needs_action DESC, is_dead DESC, dead DESC, mods DESC, 1
LIMIT $4::int`;

const vacuum: Check['run'] = async (ctx, now) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  if (caps.isReplica) {
    return skipped(
      'this server is a replica: dead tuples and vacuum times are tracked on the primary',
      'Point DATABASE_URL at the primary to judge vacuum and analyze.',
    );
  }
  const cutoff = new Date(now.getTime() - t.vacuumStaleDays * 86_400_000);
  const rows = rowsOf(
    await ctx.pg.batch([{ text: VACUUM_SQL, params: [t.deadTuplesMinRows, t.deadTuplesWarnPct, cutoff.toISOString(), t.topN] }]),
  );
  const flaggedCount = num(rows[0]?.flagged_count);
  const quietCount = num(rows[0]?.quiet_count);
  const quietNote = quietCount
    ? `${quietCount} table${quietCount === 1 ? '' : 's'} with a few changes not (auto)vacuumed/analyzed for ${t.vacuumStaleDays} d, below autovacuum's thresholds (expected)`
    : '';
  if (flaggedCount === 0) {
    return ok(quietNote || `no table with ≥ ${t.deadTuplesWarnPct} % dead rows, and vacuum and analyze are keeping up`, {
      value: 0,
      unit: 'tables',
    });
  }
  const details = rows
    .filter((r) => r.needs_action === true)
    .map((r) => {
      const reasons: string[] = [];
      if (r.is_dead) reasons.push('dead-tuples');
      if (r.vacuum_stale) reasons.push(r.vacuumed === null ? 'never-vacuumed' : 'vacuum-stale');
      if (r.analyze_stale) reasons.push(r.analyzed === null ? 'never-analyzed' : 'analyze-stale');
      return {
        table: String(r.table),
        reasons,
        deadTuples: num(r.dead),
        liveTuples: num(r.live),
        deadPct: pct(num(r.dead), num(r.live)),
        modifiedSinceAnalyze: num(r.mods),
        lastVacuum: iso(r.vacuumed),
        lastAnalyze: iso(r.analyzed),
        autovacuumDisabled: r.av_off === true,
      };
    });
  const worst = details[0]!;
  const needsVacuum = worst.reasons.some((r) => r !== 'never-analyzed' && r !== 'analyze-stale');
  const autovacuumOn = rows[0]?.autovacuum_on === true;
  const why = !autovacuumOn
    ? ' autovacuum is off on this server: turn it on (autovacuum = on).'
    : worst.autovacuumDisabled
      ? ` autovacuum is disabled on ${worst.table} (ALTER TABLE ${worst.table} RESET (autovacuum_enabled)).`
      : ' If this keeps coming back, autovacuum is not keeping up: look for long transactions holding old rows, or lower autovacuum_vacuum_scale_factor for the table.';
  const op = needsVacuum ? 'vacuum-analyze' : 'analyze';
  const shown = details.length;
  return warn(
    `${flaggedCount} table${flaggedCount === 1 ? ' needs' : 's need'} ${needsVacuum ? 'VACUUM' : 'ANALYZE'}: ${worst.table} ` +
      `(${worst.reasons.join(', ')}; ${Math.round(worst.deadTuples)} dead rows, ${worst.deadPct} % of live)` +
      (quietNote ? `; ${quietNote}` : ''),
    {
      value: flaggedCount,
      unit: 'tables',
      details,
      ...(flaggedCount > shown ? { more: flaggedCount - shown } : {}),
      hint: actionHint(`Run ${needsVacuum ? 'VACUUM ANALYZE' : 'ANALYZE'} on ${worst.table}${flaggedCount > 1 ? ' and the other tables listed' : ''}.${why}`, MAINTENANCE_PATH, {
        op,
        table: worst.table,
      }),
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------
// Bloat (an estimate)

/**
 * What both bloat estimates answer, from their `sized` step (pages, needed_pages, block size): the
 * relation's bytes, the bytes its contents need, the difference and its share, whether it could be
 * estimated, and the counts; the most bloated first, the unestimated last.
 */
const BLOAT_TAIL = `pages * bs AS rel_bytes, needed_pages * bs AS needed_bytes,
       GREATEST(pages - needed_pages, 0) * bs AS bloat_bytes,
       CASE WHEN pages > 0 THEN round((100 * GREATEST(pages - needed_pages, 0) / pages)::numeric, 1)::float8 END AS bloat_pct,
       needed_pages IS NOT NULL AS estimated,
       (count(*) OVER ())::int AS total, (count(*) FILTER (WHERE needed_pages IS NULL) OVER ())::int AS unestimated
FROM sized
ORDER BY needed_pages IS NULL, GREATEST(pages - COALESCE(needed_pages, pages), 0) DESC, 1
LIMIT $2::int`;

/**
 * Table bloat estimated from statistics, the established way (no page is read, no lock is taken): the
 * bytes a row needs follow from pg_stats (average width and null share per column) plus the tuple header
 * (23 bytes and a null bitmap, aligned to 8) and its 4-byte line pointer; pages the live rows need follow
 * from the table's fillfactor and the 24-byte page header; bloat is what the table has beyond that. It is
 * an estimate: wide variable-length columns, TOAST and alignment padding between columns move it, and it
 * is only as fresh as the last ANALYZE. Tables under $1 bytes are left out; a table whose columns lack
 * statistics (never analyzed, or columns this role may not read) is counted, not estimated.
 */
const BLOAT_SQL = `WITH t AS (
  SELECT c.oid, n.nspname, c.relname, c.reltuples::float8 AS tuples, c.relpages::float8 AS pages,
         current_setting('block_size')::float8 AS bs,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::float8 FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%'), 100) AS fillfactor
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'm') AND ${APP_SCHEMA('n')}
    AND c.relpages::float8 * current_setting('block_size')::float8 >= $1::float8
), cols AS (
  SELECT t.oid, count(*)::int AS ncols, count(s.attname)::int AS with_stats,
         COALESCE(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
         COALESCE(bool_or(s.null_frac > 0), false) AS has_nulls
  FROM t
  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_stats s ON s.schemaname = t.nspname AND s.tablename = t.relname AND s.attname = a.attname AND NOT s.inherited
  GROUP BY t.oid
), est AS (
  SELECT t.*, cols.ncols, cols.with_stats,
         -- header and null bitmap, then the data, each aligned to 8 bytes (MAXALIGN on 64-bit)
         ceil((23 + CASE WHEN cols.has_nulls THEN ceil(cols.ncols / 8.0) ELSE 0 END) / 8.0) * 8 + ceil(cols.data_width / 8.0) * 8 AS row_bytes
  FROM t JOIN cols ON cols.oid = t.oid
), sized AS (
  SELECT *, CASE WHEN with_stats = ncols AND tuples >= 0
                 THEN ceil(tuples / GREATEST(floor((bs - 24) * fillfactor / 100 / (row_bytes + 4)), 1)) END AS needed_pages
  FROM est
)
SELECT format('%I.%I', nspname, relname) AS "table", ${BLOAT_TAIL}`;

/** How one bloat estimate reads: its noun, what its contents are, how it is skipped and fixed. */
interface BloatKind {
  sql: string;
  /** `table` or `index`, with its plural. */
  noun: string;
  nouns: string;
  /** What the contents need, in the summary: "its live rows need". */
  contents: string;
  /** The detail row's name column and size column. */
  nameKey: 'table' | 'index';
  sizeKey: 'tableBytes' | 'indexBytes';
  fix: (user: string) => string;
  hint: (worst: Record<string, unknown> & { table: string }, flagged: number) => CheckOutcome['hint'];
}

/** Run a bloat estimate and grade it by bloatMinBytes / bloatWarnPct. Shared by table and index bloat. */
async function estimateBloat(ctx: CheckContext, kind: BloatKind): Promise<CheckOutcome> {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(await ctx.pg.batch([{ text: kind.sql, params: [t.bloatMinBytes, t.topN] }]));
  const total = num(rows[0]?.total);
  const unestimated = num(rows[0]?.unestimated);
  const prefix = kind.noun === 'table' ? '' : `${kind.noun} `;
  if (total === 0) return ok(`no ${kind.noun === 'table' ? 'table' : 'B-tree index'} of ${bytes(t.bloatMinBytes)} or more to estimate bloat for`, { value: 0, unit: '%' });
  if (unestimated === total) {
    return skipped(
      `${prefix}bloat not estimated: ${total === 1 ? `the ${kind.noun}` : `all ${total} ${kind.nouns}`} of ${bytes(t.bloatMinBytes)} or more lack${total === 1 ? 's' : ''} column statistics readable by ${caps.user}`,
      kind.fix(caps.user),
    );
  }
  const details = rows
    .filter((r) => r.estimated === true)
    .map((r) => ({
      ...(kind.nameKey === 'index' ? { index: String(r.index) } : {}),
      table: String(r.table),
      [kind.sizeKey]: num(r.rel_bytes),
      neededBytes: num(r.needed_bytes),
      estimatedBloatBytes: num(r.bloat_bytes),
      estimatedBloatPct: num(r.bloat_pct),
    })) as Array<Record<string, unknown> & { table: string; estimatedBloatBytes: number; estimatedBloatPct: number }>;
  const worst = details[0]!;
  const flagged = details.filter((d) => d.estimatedBloatPct >= t.bloatWarnPct);
  const note = unestimated ? `; ${unestimated} without readable statistics not estimated` : '';
  const head = `${String(worst[kind.nameKey])}: about ${bytes(worst.estimatedBloatBytes)} (${worst.estimatedBloatPct} %) beyond what ${kind.contents} (an estimate from statistics)`;
  const extra = { value: worst.estimatedBloatPct, unit: '%', details, ...(total - unestimated > details.length ? { more: total - unestimated - details.length } : {}) };
  if (flagged.length === 0) return ok(`most bloated ${prefix}${head}${note}`, extra);
  return warn(`${flagged.length} ${flagged.length === 1 ? kind.noun : kind.nouns} bloated past ${t.bloatWarnPct} %: ${head}${note}`, { ...extra, hint: kind.hint(worst, flagged.length) });
}

const bloat: Check['run'] = (ctx) =>
  estimateBloat(ctx, {
    sql: BLOAT_SQL,
    noun: 'table',
    nouns: 'tables',
    contents: 'its live rows need',
    nameKey: 'table',
    sizeKey: 'tableBytes',
    fix: (user) => `ANALYZE them (autovacuum does it after enough changes), and let ${user} read them (statistics of columns it may not SELECT are hidden: GRANT SELECT on the tables).`,
    hint: (worst) =>
      actionHint(
        `VACUUM makes the space reusable but does not return it; to shrink ${worst.table}, rewrite it off-hours (VACUUM FULL takes an ACCESS EXCLUSIVE lock for the whole rewrite; pg_repack does it online). ` +
          'If it comes back, autovacuum is not keeping up with the deletes and updates (see postgres.vacuum).',
        MAINTENANCE_PATH,
        { op: 'vacuum-analyze', table: worst.table },
      ),
  });

/**
 * B-tree index bloat, estimated the same way from statistics (no page read, no lock): an index tuple is
 * an 8-byte header (plus a 4-byte null bitmap when a key can be null), MAXALIGNed, then the key and
 * INCLUDE columns' average widths, MAXALIGNed, and a 4-byte line pointer; a leaf page holds block_size
 * less its 24-byte header and 16-byte B-tree special space, filled to the index's fillfactor (90 by
 * default), and there is one meta page. Column widths come from the table's pg_stats, and for an
 * expression from the statistics ANALYZE keeps under the index's own name. Inner pages and B-tree
 * deduplication (PostgreSQL 13+, which packs repeated keys) are left out, so the estimate leans low:
 * a freshly built index reads about 0 %. Indexes under $1 bytes are left out.
 */
const INDEX_BLOAT_SQL = `WITH i AS (
  SELECT x.indexrelid, x.indrelid, x.indkey, x.indnatts, n.nspname, ci.relname AS index_name, ct.relname AS table_name,
         ci.reltuples::float8 AS tuples, ci.relpages::float8 AS pages, current_setting('block_size')::float8 AS bs,
         COALESCE((SELECT substring(o FROM 'fillfactor=([0-9]+)')::float8 FROM unnest(ci.reloptions) o WHERE o LIKE 'fillfactor=%'), 90) AS fillfactor
  FROM pg_index x
  JOIN pg_class ci ON ci.oid = x.indexrelid
  JOIN pg_class ct ON ct.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ci.relnamespace
  JOIN pg_am am ON am.oid = ci.relam
  WHERE am.amname = 'btree' AND ${APP_SCHEMA('n')}
    AND ci.relpages::float8 * current_setting('block_size')::float8 >= $1::float8
), cols AS (
  SELECT i.indexrelid, count(*)::int AS ncols, count(s.attname)::int AS with_stats,
         COALESCE(sum((1 - s.null_frac) * s.avg_width), 0)::float8 AS data_width,
         COALESCE(bool_or(s.null_frac > 0), false) AS has_nulls
  FROM i
  CROSS JOIN LATERAL generate_series(1, i.indnatts) AS k(pos)
  LEFT JOIN pg_attribute ta ON ta.attrelid = i.indrelid AND ta.attnum = i.indkey[k.pos - 1]
  LEFT JOIN pg_attribute ia ON ia.attrelid = i.indexrelid AND ia.attnum = k.pos
  LEFT JOIN pg_stats s ON s.schemaname = i.nspname AND NOT s.inherited
    AND ((i.indkey[k.pos - 1] <> 0 AND s.tablename = i.table_name AND s.attname = ta.attname)
      OR (i.indkey[k.pos - 1] = 0 AND s.tablename = i.index_name AND s.attname = ia.attname))
  GROUP BY i.indexrelid
), sized AS (
  SELECT i.*, CASE WHEN cols.with_stats = cols.ncols AND i.tuples >= 0 THEN
           ceil(i.tuples / GREATEST(floor((i.bs - 24 - 16) * i.fillfactor / 100
             / (ceil((8 + CASE WHEN cols.has_nulls THEN 4 ELSE 0 END) / 8.0) * 8 + ceil(cols.data_width / 8.0) * 8 + 4)), 1)) + 1
         END AS needed_pages
  FROM i JOIN cols ON cols.indexrelid = i.indexrelid
)
SELECT format('%I.%I', nspname, index_name) AS index, format('%I.%I', nspname, table_name) AS "table", ${BLOAT_TAIL}`;

const indexBloat: Check['run'] = (ctx) =>
  estimateBloat(ctx, {
    sql: INDEX_BLOAT_SQL,
    noun: 'index',
    nouns: 'indexes',
    contents: 'its entries need',
    nameKey: 'index',
    sizeKey: 'indexBytes',
    fix: (user) => `ANALYZE their tables (autovacuum does it after enough changes), and let ${user} read them (GRANT SELECT on the tables).`,
    hint: (worst) =>
      actionHint(
        `Rebuild it online with REINDEX INDEX CONCURRENTLY ${String(worst.index)} (PostgreSQL 12+; it needs twice the space while it runs). ` +
          `The admin action rebuilds every index of ${worst.table} with REINDEX TABLE, which blocks writes while it runs: use it off-hours, after its dry run.`,
        MAINTENANCE_PATH,
        { op: 'reindex', table: worst.table },
      ),
  });

// ---------------------------------------------------------------------------------------------------------------
// Growth

/** History read for growth: the window's oldest and the latest snapshots of each kind are compared. */
export const GROWTH_WINDOW_DAYS = 28;
/** A rate over less than this says little (one busy afternoon): no figure until the history is a day old. */
const GROWTH_MIN_DAYS = 1;

const GROWTH_HISTORY_SQL = `SELECT DISTINCT ON (kind, edge) kind, edge, extract(epoch FROM taken_at)::float8 AS taken_at, data
FROM (
  SELECT kind, taken_at, data, 'oldest' AS edge FROM opsbook.snapshots WHERE kind IN ($3, $4) AND taken_at >= $1::timestamptz AND taken_at <= $2::timestamptz
  UNION ALL
  SELECT kind, taken_at, data, 'latest' FROM opsbook.snapshots WHERE kind = $4 AND taken_at >= $1::timestamptz AND taken_at <= $2::timestamptz
) s
ORDER BY kind, edge, CASE WHEN edge = 'oldest' THEN taken_at END ASC, taken_at DESC`;

/** Days until `limit` at `perDay` bytes a day from `current`; null when not growing. Pure. */
export function daysUntilLimit(current: number, perDay: number, limit: number): number | null {
  if (current >= limit) return 0;
  if (perDay <= 0) return null;
  return (limit - current) / perDay;
}

const growth: Check['run'] = async (ctx, now) => {
  const t = thresholds(ctx);
  const limit = ctx.config.checks.postgres.sizeLimitBytes;
  const [caps, storeCaps] = await Promise.all([ctx.pg.caps(), ctx.store.caps()]);
  const from = new Date(now.getTime() - GROWTH_WINDOW_DAYS * 86_400_000).toISOString();
  const sizeStatement = { text: DATABASE_SIZE_SQL };
  if (!storeCaps.snapshotsReadable) {
    return skipped(
      'no history to measure growth from: Opsbook\'s snapshots table cannot be read by this role',
      'Let Opsbook create its schema (run it once with a role that may CREATE in the database), then take snapshots (?snapshot=1 or the snapshot task).',
    );
  }
  // A target's history is stored under its own kinds (`database_size@staging`).
  const [sizeKind, tablesKind] = [snapshotKind(ctx, 'database_size'), snapshotKind(ctx, 'table_sizes')];
  const historyStatement = { text: GROWTH_HISTORY_SQL, params: [from, now.toISOString(), sizeKind, tablesKind] };
  // One batch each: on the same database the two merge into the run's one round trip.
  const [sizeRows, history] = await Promise.all([
    ctx.pg.batch([sizeStatement]).then((r) => rowsOf(r)),
    ctx.store.batch([historyStatement]).then((r) => rowsOf(r)),
  ]);
  const current = num(sizeRows[0]?.bytes);
  const oldest = history.find((r) => r.kind === sizeKind && r.edge === 'oldest');
  const oldBytes = (oldest?.data as { bytes?: unknown } | undefined)?.bytes;
  const days = oldest ? (now.getTime() / 1000 - num(oldest.taken_at)) / 86_400 : 0;
  if (!oldest || typeof oldBytes !== 'number' || days < GROWTH_MIN_DAYS) {
    return ok(
      `database ${caps.database} is ${bytes(current)}; growth needs a size snapshot at least a day old (none in the last ${GROWTH_WINDOW_DAYS} days yet: ?snapshot=1 or the snapshot task takes them)`,
      { value: 0, unit: 'bytes/day' },
    );
  }
  const perDay = (current - oldBytes) / days;
  // Per table: the window's oldest and latest table_sizes snapshots, tables present in both.
  const tables = (edge: string) =>
    new Map(
      ((history.find((r) => r.kind === tablesKind && r.edge === edge)?.data as Array<{ table?: unknown; bytes?: unknown }> | undefined) ?? [])
        .filter((x) => typeof x.table === 'string' && typeof x.bytes === 'number')
        .map((x) => [x.table as string, x.bytes as number]),
    );
  const tOld = history.find((r) => r.kind === tablesKind && r.edge === 'oldest');
  const tNew = history.find((r) => r.kind === tablesKind && r.edge === 'latest');
  const tDays = tOld && tNew ? (num(tNew.taken_at) - num(tOld.taken_at)) / 86_400 : 0;
  const before = tables('oldest');
  const growers =
    tDays >= GROWTH_MIN_DAYS
      ? [...tables('latest')]
          .filter(([name]) => before.has(name))
          .map(([table, b]) => ({ table, bytes: b, bytesPerDay: Math.round((b - before.get(table)!) / tDays) }))
          .filter((g) => g.bytesPerDay > 0)
          .sort((a, b) => b.bytesPerDay - a.bytesPerDay || a.table.localeCompare(b.table))
          .slice(0, t.topN)
      : [];
  const rate = `${perDay >= 0 ? '+' : '−'}${bytes(Math.abs(perDay))}/day over ${Math.round(days * 10) / 10} d`;
  const head = `database ${caps.database} is ${bytes(current)}, ${rate}`;
  const extra = { value: Math.round(perDay), unit: 'bytes/day', ...(growers.length ? { details: growers } : {}) };
  if (limit === undefined) return ok(`${head} (no sizeLimitBytes configured)`, extra);
  const left = daysUntilLimit(current, perDay, limit);
  const reach = left === null ? `not growing toward the ${bytes(limit)} limit` : left === 0 ? `at or past the ${bytes(limit)} limit` : `${bytes(limit)} limit in about ${Math.floor(left)} days`;
  const summary = `${head}: ${reach}`;
  if (left === null || left > t.growthWarnDays) return ok(summary, extra);
  const hint = {
    text:
      `Raise the storage limit (a larger plan) or make room: drop what duplicate-indexes and unused-indexes name, delete or archive old rows ` +
      `(the retention-delete task)${growers[0] ? `, starting with ${growers[0].table} (the fastest grower)` : ''}, then VACUUM to reuse the space.`,
  };
  return (left <= t.growthFailDays ? fail : warn)(summary, { ...extra, hint });
};

// ---------------------------------------------------------------------------------------------------------------
// Missing indexes

/**
 * Tables read mostly by sequential scans over many rows (PgHero's missing-indexes ratio): index scans under
 * $1 % of all scans, at least $2 live rows, and both kinds counted (a table never index-scanned may have no
 * index at all, which is the strongest case, so it is included when it is sequentially scanned). Ranked by
 * rows read sequentially. With pg_stat_statements, the statements with the most time that name the table
 * (by its name in the normalised text, which is a hint, not a proof) are linked.
 */
const missingIndexesSql = (withStatements: string | undefined) => `WITH t AS (
  SELECT st.relid, format('%I.%I', st.schemaname, st.relname) AS "table", st.relname,
         st.seq_scan::float8 AS seq_scan, COALESCE(st.idx_scan, 0)::float8 AS idx_scan,
         st.seq_tup_read::float8 AS seq_rows, st.n_live_tup::float8 AS live
  FROM pg_stat_user_tables st
  WHERE st.schemaname NOT IN ('opsbook') AND st.schemaname !~ '^pg_(toast|temp_)'
    AND st.n_live_tup >= $2::float8 AND st.seq_scan > 0
    AND 100 * COALESCE(st.idx_scan, 0)::float8 / (st.seq_scan + COALESCE(st.idx_scan, 0)) < $1::float8
), shown AS (
  SELECT *, (count(*) OVER ())::int AS total FROM t ORDER BY seq_rows DESC, "table" LIMIT $3::int
)
SELECT s."table", s.seq_scan, s.idx_scan, s.seq_rows, s.live, s.total,
       round((100 * s.idx_scan / (s.seq_scan + s.idx_scan))::numeric, 1)::float8 AS index_pct${
         withStatements
           ? `,
       (SELECT left(q.query, ${200}) FROM ${withStatements} q
        WHERE q.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND q.query ~* '^\\s*(select|with|update|delete)\\M'
          AND q.query ~* ('\\m' || regexp_replace(s.relname, '([^a-zA-Z0-9_])', '\\\\\\1', 'g') || '\\M')
        ORDER BY q.total_exec_time DESC LIMIT 1) AS top_query`
           : ''
       }
FROM shown s ORDER BY s.seq_rows DESC, s."table"`;

const missingIndexes: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  // Only when pg_stat_statements can be read (loaded, PG13+ column names): its absence must not fail this check.
  const pss =
    caps.pgStatStatements === 'available' && caps.serverVersionNum >= 130_000 && caps.pgStatStatementsSchema
      ? `${caps.pgStatStatementsSchema === 'public' ? '' : `"${caps.pgStatStatementsSchema.replace(/"/g, '""')}".`}pg_stat_statements`
      : undefined;
  const rows = rowsOf(await ctx.pg.batch([{ text: missingIndexesSql(pss), params: [t.missingIndexWarnPct, t.missingIndexMinRows, t.topN] }]));
  const total = num(rows[0]?.total);
  if (total === 0) {
    return ok(`no table of ${t.missingIndexMinRows} rows or more is read mostly by sequential scans (index use ≥ ${t.missingIndexWarnPct} %)`, {
      value: 0,
      unit: 'tables',
    });
  }
  const details = rows.map((r) => ({
    table: String(r.table),
    sequentialScans: num(r.seq_scan),
    indexScans: num(r.idx_scan),
    indexUsedPct: num(r.index_pct),
    rowsReadSequentially: num(r.seq_rows),
    liveRows: num(r.live),
    ...(r.top_query !== undefined ? { topStatement: displayQueryText(r.top_query === null ? null : String(r.top_query), ctx.queryText) } : {}),
  }));
  const first = details[0]!;
  return warn(
    `${total} table${total === 1 ? '' : 's'} read mostly by sequential scans: ${first.table} uses an index in ${first.indexUsedPct} % of ` +
      `${first.sequentialScans + first.indexScans} scans (${Math.round(first.liveRows)} rows)`,
    {
      value: total,
      unit: 'tables',
      details,
      ...(total > details.length ? { more: total - details.length } : {}),
      hint: {
        text:
          `Find the queries that scan ${first.table} (${pss ? 'topStatement in details, and postgres.slow-queries' : 'pg_stat_statements shows them once installed'}), ` +
          'EXPLAIN them and index the columns they filter or join on: CREATE INDEX CONCURRENTLY … (it does not block writes).',
      },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------

const FAMILY = 'postgres.storage';
const check = postgresChecks(FAMILY);

export const family: CheckFamily = {
  family: FAMILY,
  checks: (config) =>
    config.checks.postgres.enabled
      ? [
          check('postgres.cache-hit', 'Postgres cache hit rate', 'P3', cacheHit),
          check('postgres.database-size', 'Postgres database size', 'P4', databaseSize),
          check('postgres.largest-tables', 'Largest tables', 'P4', largestTables),
          check('postgres.largest-indexes', 'Largest indexes', 'P4', largestIndexes),
          check('postgres.vacuum', 'Dead rows and (auto)vacuum / analyze age', 'P3', vacuum),
          check('postgres.missing-indexes', 'Missing indexes', 'P3', missingIndexes),
          check('postgres.growth', 'Database growth', 'P3', growth),
          check('postgres.bloat', 'Table bloat (estimate)', 'P4', bloat),
          check('postgres.index-bloat', 'B-tree index bloat (estimate)', 'P4', indexBloat),
        ]
      : [],
};
