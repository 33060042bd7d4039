import type { Check, CheckContext, CheckFamily, CheckOutcome } from '../types.js';
import { postgresChecks } from './check.js';
import type { QueryResult, Row } from '../../db/index.js';
import { actionHint, bytes, fail, ok, skipped, warn } from '../outcome.js';
import { lockedNote, lockedOidsParam, type LockSnapshot } from '../pg-locks.js';

/**
 * Postgres integrity diagnostics: transaction ID wraparound, sequences near overflow, invalid indexes and
 * constraints, duplicate and unused indexes. Defaults follow PgHero.
 *
 * Cost: every check awaits the shared `caps()` and then makes exactly one `batch()` call, synchronously,
 * so all Postgres checks of a run share one round trip. Relation-opening functions (pg_relation_size,
 * pg_get_indexdef…) run only on the bounded rows that are shown; ranking uses catalog columns. They are
 * skipped for a relation the run's lock snapshot shows under ACCESS EXCLUSIVE (they would queue behind
 * the migration holding it): the row then says "locked by pid N" instead of a definition or a size, and
 * comparisons use the stored expression trees, which need no lock.
 */

const MAINTENANCE_PATH = '/api/admin/db/maintenance';

/** Relations that are not the application's: the catalogs, TOAST, temp schemas and Opsbook's own. */
const APP_SCHEMA = (ns: string) => `${ns}.nspname NOT IN ('pg_catalog', 'information_schema', 'opsbook') AND ${ns}.nspname !~ '^pg_(toast|temp_)'`;
/** For integrity findings nothing is noise but the catalogs and other sessions' temp objects. */
const NON_SYSTEM_SCHEMA = (ns: string) => `${ns}.nspname NOT IN ('pg_catalog', 'information_schema') AND ${ns}.nspname !~ '^pg_temp_'`;

/** Transaction IDs: 2^31 - 1 are usable before wraparound (Postgres stops assigning ~3 million before). */
export const XID_LIMIT = 2 ** 31 - 1;
/**
 * Fail when fewer than 10 % of the XID space remains (~215 million transactions, i.e. age ≈ 1.93 billion):
 * that is ten times autovacuum_freeze_max_age's default margin and still well before Postgres' own warnings
 * (40 million left) and refusal (3 million left), so there is time for an aggressive VACUUM.
 */
export const WRAPAROUND_FAIL_REMAINING = Math.floor(XID_LIMIT * 0.1);

/** A sequence this full (or its column) is an imminent outage: inserts start failing at 100 %. */
export const SEQUENCE_FAIL_PCT = 99;

/**
 * Reading a sequence's last value (pg_sequence_last_value) takes a lock held to the end of the transaction,
 * and all checks share one transaction: reading 10,000 sequences would hold 10,000 locks and can exhaust
 * the server's lock table (max_locks_per_transaction × connections, ~13,000 by default) for every other
 * session. So at most this many are read per run, those with the narrowest limits on the busiest tables
 * first; the summary says how many were not read.
 */
export const SEQUENCE_READ_LIMIT = 1000;

const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const iso = (epoch: unknown): string | null => (epoch === null || epoch === undefined ? null : new Date(Number(epoch) * 1000).toISOString());
const rowsOf = (results: QueryResult[], i = 0): Row[] => results[i]?.rows ?? [];
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * A definition or size that was not read because the relation is locked: the value, or null with the
 * reason beside it. `oids` are the relations whose lock would have made the read wait, in order.
 */
function lockAware(locks: LockSnapshot, value: unknown, oids: unknown[]): { value: string | null; note?: string } {
  if (value !== null && value !== undefined) return { value: String(value) };
  for (const oid of oids) {
    if (oid === null || oid === undefined) continue;
    const note = lockedNote(locks, Number(oid));
    if (note) return { value: null, note: `unknown: ${note}` };
  }
  return { value: null };
}

/** An expression tree as stored (pg_node_tree) minus parse positions: equal trees are equal expressions. */
const TREE = (col: string) => `regexp_replace(${col}::text, ' :location -?[0-9]+', '', 'g')`;

function thresholds(ctx: CheckContext) {
  return ctx.config.checks.postgres.thresholds;
}

function bounded<T extends Record<string, unknown>>(details: T[], total: number): { details?: T[]; more?: number } {
  return { ...(details.length ? { details } : {}), ...(total > details.length ? { more: total - details.length } : {}) };
}

// ---------------------------------------------------------------------------------------------------------------
// Transaction ID wraparound

const WRAPAROUND_SQL = [
  // Every database counts (one whose datfrozenxid is old stops the whole cluster, wherever it is), but
  // only the worst is named: the list of a server's databases is not a read token's business.
  `SELECT datname, age(datfrozenxid)::float8 AS xid_age, mxid_age(datminmxid)::float8 AS mxid_age,
          datname = current_database() AS current, (count(*) OVER ())::int AS total
   FROM pg_database
   ORDER BY GREATEST(age(datfrozenxid), mxid_age(datminmxid)) DESC, datname
   LIMIT 1`,
  // The tables holding this database's horizon back (their TOAST table counts with them).
  `SELECT format('%I.%I', n.nspname, c.relname) AS "table",
          GREATEST(age(c.relfrozenxid), COALESCE(age(tc.relfrozenxid), 0))::float8 AS xid_age,
          GREATEST(mxid_age(c.relminmxid), COALESCE(mxid_age(tc.relminmxid), 0))::float8 AS mxid_age,
          n.nspname ~ '^pg_temp_' AS temporary
   FROM pg_class c
   JOIN pg_namespace n ON n.oid = c.relnamespace
   LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid
   WHERE c.relkind IN ('r', 'm')
   ORDER BY 2 DESC, 3 DESC, 1
   LIMIT 3`,
];

export function gradeWraparound(remaining: number, warnRemaining: number): 'ok' | 'warn' | 'fail' {
  if (remaining < WRAPAROUND_FAIL_REMAINING) return 'fail';
  if (remaining < warnRemaining) return 'warn';
  return 'ok';
}

const wraparound: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  await ctx.pg.caps();
  const results = await ctx.pg.batch(WRAPAROUND_SQL.map((text) => ({ text })));
  const dbs = rowsOf(results, 0).map((r) => ({
    database: String(r.datname),
    transactionIdAge: num(r.xid_age),
    multixactAge: num(r.mxid_age),
    remaining: XID_LIMIT - Math.max(num(r.xid_age), num(r.mxid_age)),
    current: r.current === true,
  }));
  const tables = rowsOf(results, 1).map((r) => ({
    table: String(r.table),
    transactionIdAge: num(r.xid_age),
    multixactAge: num(r.mxid_age),
    temporary: r.temporary === true,
  }));
  const worst = dbs[0];
  if (!worst) return ok('no database visible');
  const status = gradeWraparound(worst.remaining, t.wraparoundWarnRemaining);
  const kind = worst.multixactAge > worst.transactionIdAge ? 'multixact IDs' : 'transaction IDs';
  const summary = `${(worst.remaining / 1e6).toFixed(0)} million ${kind} left before wraparound in ${worst.database} (${(
    (worst.remaining / XID_LIMIT) *
    100
  ).toFixed(1)} % of the space)`;
  const databases = num(rowsOf(results, 0)[0]?.total);
  const outcome: CheckOutcome = {
    status,
    summary: databases > 1 ? `${summary}, the worst of ${databases} databases` : summary,
    value: worst.remaining,
    unit: 'transactions',
    details: [worst],
  };
  if (status !== 'ok') {
    const why =
      ' An aggressive VACUUM freezes old rows and advances the horizon; if autovacuum already runs, look for what holds it back: ' +
      'long-running or idle-in-transaction sessions, prepared transactions (pg_prepared_xacts), abandoned replication slots, orphaned temporary tables.';
    const oldest = tables[0];
    if (worst.current) {
      // The tables holding this database back, after the databases.
      outcome.details = [...(outcome.details ?? []), ...tables.map((x) => ({ database: worst.database, ...x }))];
    }
    if (worst.current && oldest && !oldest.temporary) {
      outcome.hint = actionHint(`VACUUM the tables with the oldest rows first, starting with ${oldest.table}.${why}`, MAINTENANCE_PATH, {
        op: 'vacuum-analyze',
        table: oldest.table,
      });
    } else {
      outcome.hint = {
        text: `Connect to database ${worst.database} and VACUUM its tables with the oldest rows (vacuumdb --all --freeze does every database).${why}`,
      };
    }
  }
  return outcome;
};

// ---------------------------------------------------------------------------------------------------------------
// Sequences near overflow

/**
 * Every sequence, with the narrowest integer column it feeds: the column a serial/identity sequence is
 * OWNED BY (pg_depend 'a'/'i') and every column whose DEFAULT calls nextval() on it (the default expression
 * depends on the sequence). An int4 column fed by a bigint sequence fails at 2^31 - 1 whatever the sequence
 * allows (PgHero checks the column type too). Last values are read for at most $2 sequences (see
 * SEQUENCE_READ_LIMIT), narrowest limit and busiest table first, and only with SELECT or USAGE on them.
 */
const SEQUENCES_SQL = `WITH feeds AS (
  SELECT d.objid AS seq, d.refobjid AS rel, d.refobjsubid AS att
  FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.objid
  WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
  UNION
  SELECT d.refobjid, ad.adrelid, ad.adnum
  FROM pg_depend d JOIN pg_sequence s ON s.seqrelid = d.refobjid JOIN pg_attrdef ad ON ad.oid = d.objid
  WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass
), columns AS (
  SELECT DISTINCT ON (f.seq) f.seq, f.rel, a.attname,
         format('%I.%I', tn.nspname, tc.relname) AS table_name,
         format_type(a.atttypid, NULL) AS column_type,
         CASE COALESCE(NULLIF(ty.typbasetype, 0), a.atttypid)
           WHEN 'int2'::regtype THEN 32767::numeric WHEN 'int4'::regtype THEN 2147483647::numeric ELSE 9223372036854775807::numeric END AS col_max,
         CASE COALESCE(NULLIF(ty.typbasetype, 0), a.atttypid)
           WHEN 'int2'::regtype THEN -32768::numeric WHEN 'int4'::regtype THEN -2147483648::numeric ELSE -9223372036854775808::numeric END AS col_min
  FROM feeds f
  JOIN pg_attribute a ON a.attrelid = f.rel AND a.attnum = f.att AND NOT a.attisdropped
  JOIN pg_type ty ON ty.oid = a.atttypid
  JOIN pg_class tc ON tc.oid = f.rel
  JOIN pg_namespace tn ON tn.oid = tc.relnamespace
  ORDER BY f.seq, 6, 4
), seqs AS (
  SELECT s.seqrelid, format('%I.%I', n.nspname, c.relname) AS sequence, format_type(s.seqtypid, NULL) AS sequence_type,
         s.seqincrement > 0 AS ascending, s.seqcycle, c.relpersistence = 'u' AS unlogged,
         col.table_name, col.attname, col.column_type, col.rel,
         CASE WHEN s.seqincrement > 0 THEN LEAST(s.seqmax::numeric, COALESCE(col.col_max, s.seqmax::numeric))
              ELSE GREATEST(s.seqmin::numeric, COALESCE(col.col_min, s.seqmin::numeric)) END AS lim,
         CASE WHEN s.seqincrement > 0 THEN COALESCE(col.col_max, s.seqmax::numeric) < s.seqmax::numeric
              ELSE COALESCE(col.col_min, s.seqmin::numeric) > s.seqmin::numeric END AS column_limited
  FROM pg_sequence s
  JOIN pg_class c ON c.oid = s.seqrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN columns col ON col.seq = s.seqrelid
  WHERE ${APP_SCHEMA('n')}
), readable AS (
  SELECT seqs.*, has_sequence_privilege(seqrelid, 'SELECT,USAGE') AS can_read
  FROM seqs
  ORDER BY abs(lim), COALESCE(pg_stat_get_tuples_inserted(rel), 0) DESC, sequence
  LIMIT $2::int
), valued AS (
  -- An unlogged sequence has no value on a standby (older minor releases raise an error there).
  -- A sequence under ACCESS EXCLUSIVE (ALTER SEQUENCE, DROP) would make the read wait: left unread.
  SELECT r.*, CASE WHEN can_read AND NOT (unlogged AND pg_is_in_recovery()) AND NOT seqrelid = ANY ($4::text::oid[])
                   THEN pg_sequence_last_value(seqrelid::regclass) END AS last_value
  FROM readable r
), graded AS (
  SELECT v.*, CASE WHEN last_value IS NULL THEN NULL ELSE round(100 * GREATEST(last_value::numeric / NULLIF(lim, 0), 0), 2)::float8 END AS used_pct
  FROM valued v
), agg AS (
  SELECT (SELECT count(*) FROM seqs)::int AS total,
         count(*)::int AS examined,
         count(*) FILTER (WHERE NOT can_read)::int AS unreadable,
         count(*) FILTER (WHERE can_read AND last_value IS NULL)::int AS unused,
         count(*) FILTER (WHERE used_pct >= $3::float8 AND NOT (seqcycle AND NOT column_limited))::int AS at_risk
  FROM graded
)
SELECT agg.*, top.*
FROM agg LEFT JOIN LATERAL (
  SELECT sequence, sequence_type, table_name, attname AS column_name, column_type, ascending, seqcycle AS cycles, column_limited,
         last_value::float8 AS last_value, lim::float8 AS limit_value, used_pct
  FROM graded WHERE used_pct IS NOT NULL
  ORDER BY used_pct DESC, sequence
  LIMIT $1::int
) top ON true`;

const sequences: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(
    await ctx.pg.batch([{ text: SEQUENCES_SQL, params: [t.topN, SEQUENCE_READ_LIMIT, t.sequenceWarnPct, lockedOidsParam(caps.locks)] }]),
  );
  const head = rows[0] ?? {};
  const total = num(head.total);
  const examined = num(head.examined);
  const unreadable = num(head.unreadable);
  const unused = num(head.unused);
  if (total === 0) return ok('no sequences', { value: 0, unit: '%' });
  if (unreadable === examined) {
    return skipped(
      `${plural(total, 'sequence')}, none readable by role ${caps.user}`,
      `GRANT SELECT ON ALL SEQUENCES IN SCHEMA <schema> TO ${caps.user} (read-only access to their current values).`,
    );
  }
  const all = rows
    .filter((r) => r.sequence !== null && r.sequence !== undefined)
    .map((r) => ({
      sequence: String(r.sequence),
      sequenceType: String(r.sequence_type),
      column: r.table_name ? `${String(r.table_name)}.${String(r.column_name)}` : null,
      columnType: r.column_type ?? null,
      lastValue: num(r.last_value),
      limit: num(r.limit_value),
      limitedBy: r.column_limited === true ? 'column' : 'sequence',
      usedPct: num(r.used_pct),
      cycles: r.cycles === true,
    }));
  // A cycling sequence limited by itself wraps around instead of failing: reported, never graded.
  const atRisk = all.filter((s) => s.usedPct >= t.sequenceWarnPct && !(s.cycles && s.limitedBy === 'sequence'));
  const notes = [
    unreadable ? `${unreadable} not readable by ${caps.user} (GRANT SELECT)` : '',
    total > examined ? `${total - examined} not read this run (at most ${SEQUENCE_READ_LIMIT}, narrowest first)` : '',
  ].filter(Boolean);
  const tail = notes.length ? `; ${notes.join('; ')}` : '';
  const top = all[0];
  if (atRisk.length === 0) {
    return ok(
      top
        ? `fullest sequence ${top.sequence} at ${top.usedPct} % of its ${top.limitedBy === 'column' ? 'column type' : 'range'} (${plural(total, 'sequence')}, ${unused} unused)${tail}`
        : `${plural(total, 'sequence')}, none used yet${tail}`,
      { value: top?.usedPct ?? 0, unit: '%', ...(top ? { details: all.slice(0, 1) } : {}) },
    );
  }
  const worst = atRisk[0]!;
  const atRiskCount = num(head.at_risk);
  const status = worst.usedPct >= SEQUENCE_FAIL_PCT ? fail : warn;
  const target = worst.column ?? worst.sequence;
  const fix =
    worst.limitedBy === 'column' && worst.column
      ? `Widen the column: ALTER TABLE ${worst.column.slice(0, worst.column.lastIndexOf('.'))} ALTER COLUMN ${worst.column.slice(worst.column.lastIndexOf('.') + 1)} TYPE bigint (rewrites the table under an exclusive lock: plan it, or migrate through a new bigint column).`
      : worst.column
        ? `Widen the sequence and its column: ALTER SEQUENCE ${worst.sequence} AS bigint; ALTER TABLE ${worst.column.slice(0, worst.column.lastIndexOf('.'))} ALTER COLUMN ${worst.column.slice(worst.column.lastIndexOf('.') + 1)} TYPE bigint (the ALTER TABLE rewrites the table: plan it).`
        : `Widen it: ALTER SEQUENCE ${worst.sequence} AS bigint (or raise MAXVALUE).`;
  return status(
    `${plural(atRiskCount, 'sequence')} past ${t.sequenceWarnPct} % of ${atRiskCount === 1 ? 'its' : 'their'} limit: ${target} at ${worst.usedPct} % ` +
      `(${worst.lastValue} of ${worst.limit}${worst.limitedBy === 'column' ? `, the ${String(worst.columnType)} column's maximum` : ''})${tail}`,
    {
      value: worst.usedPct,
      unit: '%',
      ...bounded(atRisk, atRiskCount),
      hint: { text: `${fix} Inserts fail with "nextval: reached maximum value" or "integer out of range" at 100 %.` },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------
// Invalid indexes and constraints

/** Invalid indexes (a failed CREATE INDEX / REINDEX CONCURRENTLY), including leftovers on TOAST tables. */
const INVALID_INDEXES_SQL = `WITH bad AS (
  SELECT x.indexrelid, x.indrelid, x.indisunique, n.nspname, ci.relname, owner.oid AS owner_oid,
         COALESCE(owner_ns.nspname, n.nspname) AS table_ns, COALESCE(owner.relname, ct.relname) AS table_name
  FROM pg_index x
  JOIN pg_class ci ON ci.oid = x.indexrelid
  JOIN pg_class ct ON ct.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ci.relnamespace
  LEFT JOIN pg_class owner ON ct.relkind = 't' AND owner.reltoastrelid = ct.oid
  LEFT JOIN pg_namespace owner_ns ON owner_ns.oid = owner.relnamespace
  WHERE NOT x.indisvalid AND ${NON_SYSTEM_SCHEMA('n')}
), shown AS (
  SELECT *, (count(*) OVER ())::int AS total FROM bad ORDER BY nspname, relname LIMIT $1::int
)
SELECT format('%I.%I', nspname, relname) AS index, format('%I.%I', table_ns, table_name) AS "table", indisunique AS is_unique,
       indexrelid::int8 AS index_oid, indrelid::int8 AS table_oid, owner_oid::int8 AS owner_oid,
       CASE WHEN NOT (indexrelid = ANY ($2::text::oid[]) OR indrelid = ANY ($2::text::oid[]) OR COALESCE(owner_oid = ANY ($2::text::oid[]), false))
            THEN pg_get_indexdef(indexrelid) END AS definition,
       CASE WHEN NOT indexrelid = ANY ($2::text::oid[]) THEN pg_relation_size(indexrelid)::float8 END AS bytes,
       EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = shown.indexrelid) AS being_built,
       total
FROM shown ORDER BY nspname, relname`;

const invalidIndexes: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(await ctx.pg.batch([{ text: INVALID_INDEXES_SQL, params: [t.topN, lockedOidsParam(caps.locks)] }]));
  const total = num(rows[0]?.total);
  if (total === 0) return ok('no invalid index', { value: 0, unit: 'indexes' });
  const details = rows.map((r) => {
    const def = lockAware(caps.locks, r.definition, [r.table_oid, r.owner_oid, r.index_oid]);
    const size = lockAware(caps.locks, r.bytes, [r.index_oid]);
    return {
      index: String(r.index),
      table: String(r.table),
      unique: r.is_unique === true,
      bytes: size.value === null ? null : num(size.value),
      ...(size.note ? { sizeUnknown: `size ${size.note}` } : {}),
      beingBuilt: r.being_built === true,
      definition: def.value,
      ...(def.note ? { definitionUnknown: `definition ${def.note}` } : {}),
    };
  });
  const broken = details.filter((d) => !d.beingBuilt);
  if (broken.length === 0 && total === details.length) {
    return ok(`${plural(total, 'index', 'indexes')} being built concurrently right now (invalid until done)`, { value: 0, unit: 'indexes', details });
  }
  const first = broken[0] ?? details[0]!;
  const visibility = caps.canMonitor ? '' : ' (an index being built right now by another role also shows as invalid: this role cannot see their progress)';
  return fail(
    `${plural(total, 'invalid index', 'invalid indexes')}: ${first.index} on ${first.table}, left by a failed CREATE INDEX CONCURRENTLY or REINDEX — ` +
      `Postgres keeps updating it on every write but never uses it${visibility}`,
    {
      value: total,
      unit: 'indexes',
      ...bounded(details, total),
      hint: actionHint(
        `Rebuild it with REINDEX, or drop it (DROP INDEX CONCURRENTLY ${first.index}) and run its CREATE INDEX CONCURRENTLY again (definition in details).` +
          (first.unique ? ' It is UNIQUE: if it failed on duplicate values, remove the duplicates first or the rebuild fails the same way.' : ''),
        MAINTENANCE_PATH,
        { op: 'reindex', table: first.table },
      ),
    },
  );
};

/** Constraints added NOT VALID and never validated: existing rows were not checked. */
const INVALID_CONSTRAINTS_SQL = `SELECT con.conname, con.contype::text AS contype,
       CASE WHEN con.conrelid <> 0 THEN format('%I.%I', n.nspname, c.relname) END AS "table",
       CASE WHEN con.contypid <> 0 THEN format('%I.%I', tn.nspname, ty.typname) END AS domain,
       -- Deparsing opens the table: not while another session holds it under ACCESS EXCLUSIVE.
       CASE WHEN NOT COALESCE(con.conrelid = ANY ($2::text::oid[]), false) THEN pg_get_constraintdef(con.oid) END AS definition,
       con.conrelid::int8 AS table_oid,
       (count(*) OVER ())::int AS total
FROM pg_constraint con
LEFT JOIN pg_class c ON c.oid = con.conrelid
LEFT JOIN pg_type ty ON ty.oid = con.contypid
JOIN pg_namespace n ON n.oid = con.connamespace
LEFT JOIN pg_namespace tn ON tn.oid = ty.typnamespace
WHERE NOT con.convalidated AND ${NON_SYSTEM_SCHEMA('n')}
ORDER BY 3, 1
LIMIT $1::int`;

const CONSTRAINT_KINDS: Record<string, string> = { c: 'check', f: 'foreign key', n: 'not null', u: 'unique', p: 'primary key', x: 'exclusion' };

const invalidConstraints: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(await ctx.pg.batch([{ text: INVALID_CONSTRAINTS_SQL, params: [t.topN, lockedOidsParam(caps.locks)] }]));
  const total = num(rows[0]?.total);
  if (total === 0) return ok('no NOT VALID constraint', { value: 0, unit: 'constraints' });
  const quoteIdent = (s: string) => (/^[a-z_][a-z0-9_$]*$/.test(s) ? s : `"${s.replace(/"/g, '""')}"`);
  const details = rows.map((r) => {
    const on = r.table ? `TABLE ${String(r.table)}` : `DOMAIN ${String(r.domain)}`;
    const def = lockAware(caps.locks, r.definition, [r.table_oid]);
    return {
      constraint: String(r.conname),
      kind: CONSTRAINT_KINDS[String(r.contype)] ?? String(r.contype),
      /** The table, or the domain for a domain constraint. */
      on: r.table ? String(r.table) : String(r.domain),
      onDomain: !r.table,
      definition: def.value,
      ...(def.note ? { definitionUnknown: `definition ${def.note}` } : {}),
      sql: `ALTER ${on} VALIDATE CONSTRAINT ${quoteIdent(String(r.conname))};`,
    };
  });
  const first = details[0]!;
  return warn(
    `${plural(total, 'constraint')} NOT VALID: ${first.constraint} on ${first.on} — existing rows were never checked against it`,
    {
      value: total,
      unit: 'constraints',
      ...bounded(details, total),
      hint: {
        text:
          `Validate it once the existing rows are fixed: ${first.sql} It scans the table under a SHARE UPDATE EXCLUSIVE lock ` +
          '(reads and writes continue); if it fails, the error names a row that violates it.',
      },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------
// Duplicate indexes

/**
 * PgHero's definition. Index U is made redundant by index C on the same table when both are valid, use the
 * same access method, have the same expressions (deparsed) and the same partial-index predicate, and U's
 * key columns are a leading prefix of C's (with the same operator classes, collations and ASC/DESC/NULLS
 * options), and any INCLUDE columns of U are among C's columns. For a non-btree index a "prefix" does not
 * serve the same lookups, so the keys must be equal.
 *
 * Direction matters: U must not be UNIQUE, a primary key or an exclusion constraint, because dropping it
 * would drop the constraint. A unique index on (a) is therefore never reported as covered by an index on
 * (a, b) — uniqueness of (a, b) is a weaker guarantee — while a plain index on (a) covered by a unique index
 * on (a) is reported. When two non-unique indexes are identical, only one (the later name) is reported.
 */
/**
 * Every (unneeded, covering) pair by the rule above, as CTEs ending in \`pairs\`: shared by duplicate-indexes
 * and unused-indexes, so the two never disagree about which index of a pair to keep. \`tables\` (a subquery
 * of table oids) narrows it to those tables' indexes, all of them, so the pairs found there are the same.
 */
const duplicatePairsCte = (tables = '') => `idx AS (
  SELECT x.indexrelid, x.indrelid, x.indisunique OR x.indisexclusion AS constrains, x.indexprs, x.indpred,
         x.indkey, x.indclass, x.indcollation, x.indoption, x.indnkeyatts, x.indnatts,
         -- Key columns as text ("3 1"), for a cheap prefix test before the exact comparison.
         CASE WHEN x.indnatts = x.indnkeyatts THEN x.indkey::text
              ELSE array_to_string((string_to_array(x.indkey::text, ' '))[1:x.indnkeyatts], ' ') END AS key_text,
         ci.relname, ci.relam, ci.relpages, n.nspname, ct.relname AS table_name, ci.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') AS btree
  FROM pg_index x
  JOIN pg_class ci ON ci.oid = x.indexrelid
  JOIN pg_class ct ON ct.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ct.relnamespace
  WHERE x.indisvalid AND x.indisready AND x.indislive AND ${APP_SCHEMA('n')}${tables ? ` AND x.indrelid IN (${tables})` : ''}
), candidates AS MATERIALIZED (
  SELECT u.indexrelid AS u_oid, c.indexrelid AS c_oid
  FROM idx u
  JOIN idx c ON c.indrelid = u.indrelid AND c.relam = u.relam AND c.indexrelid <> u.indexrelid
  WHERE NOT u.constrains
    AND starts_with(c.key_text || ' ', u.key_text || ' ')
    AND (c.btree OR c.key_text = u.key_text)
), compared AS (
  SELECT u.*, c.indexrelid AS c_oid, c.relname AS c_name, c.constrains AS c_constrains, u.indnkeyatts AS n,
         string_to_array(u.indkey::text, ' ') AS u_cols, string_to_array(c.indkey::text, ' ') AS c_cols,
         c.indnkeyatts AS c_n, c.indnatts AS c_natts, c.key_text AS c_key_text,
         c.indclass AS c_indclass, c.indcollation AS c_indcollation, c.indoption AS c_indoption,
         c.indexprs AS c_indexprs, c.indpred AS c_indpred
  FROM candidates k JOIN idx u ON u.indexrelid = k.u_oid JOIN idx c ON c.indexrelid = k.c_oid
), pairs AS (
  SELECT DISTINCT ON (indexrelid) indexrelid AS u_oid, c_oid, indrelid, nspname, relname AS u_name, c_name, table_name, relpages, c_constrains
  FROM compared
  WHERE (string_to_array(c_indclass::text, ' '))[1:n] = string_to_array(indclass::text, ' ')
    AND (string_to_array(c_indcollation::text, ' '))[1:n] = string_to_array(indcollation::text, ' ')
    AND (string_to_array(c_indoption::text, ' '))[1:n] = string_to_array(indoption::text, ' ')
    AND c_cols @> u_cols[n + 1:indnatts]
    -- Stored trees, not deparsed text: pg_get_expr opens the table, and waits while a migration holds it.
    AND CASE WHEN indexprs IS NULL OR c_indexprs IS NULL THEN indexprs IS NULL AND c_indexprs IS NULL
             ELSE ${TREE('indexprs')} = ${TREE('c_indexprs')} END
    AND CASE WHEN indpred IS NULL OR c_indpred IS NULL THEN indpred IS NULL AND c_indpred IS NULL
             ELSE ${TREE('indpred')} = ${TREE('c_indpred')} END
    -- Identical non-unique indexes cover each other: report only the later name.
    AND NOT (NOT c_constrains AND c_key_text = key_text AND c_cols[c_n + 1:c_natts] = u_cols[n + 1:indnatts] AND c_name > relname)
  ORDER BY indexrelid, c_constrains DESC, c_n, c_name
)`;

const DUPLICATE_INDEXES_SQL = `WITH ${duplicatePairsCte()}, shown AS (
  SELECT *, (count(*) OVER ())::int AS total FROM pairs ORDER BY relpages DESC, nspname, table_name, u_name LIMIT $1::int
)
SELECT format('%I.%I', nspname, u_name) AS unneeded, format('%I.%I', nspname, c_name) AS covering, format('%I.%I', nspname, table_name) AS "table",
       u_oid::int8 AS u_oid, c_oid::int8 AS c_oid, indrelid::int8 AS table_oid,
       CASE WHEN NOT (indrelid = ANY ($2::text::oid[]) OR u_oid = ANY ($2::text::oid[])) THEN pg_get_indexdef(u_oid) END AS unneeded_definition,
       CASE WHEN NOT (indrelid = ANY ($2::text::oid[]) OR c_oid = ANY ($2::text::oid[])) THEN pg_get_indexdef(c_oid) END AS covering_definition,
       CASE WHEN NOT u_oid = ANY ($2::text::oid[]) THEN pg_relation_size(u_oid)::float8 END AS unneeded_bytes,
       CASE WHEN NOT c_oid = ANY ($2::text::oid[]) THEN pg_relation_size(c_oid)::float8 END AS covering_bytes, c_constrains AS c_unique, total
FROM shown ORDER BY relpages DESC, nspname, table_name, u_name`;

const duplicateIndexes: Check['run'] = async (ctx) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(await ctx.pg.batch([{ text: DUPLICATE_INDEXES_SQL, params: [t.topN, lockedOidsParam(caps.locks)] }]));
  const total = num(rows[0]?.total);
  if (total === 0) return ok('no duplicate index', { value: 0, unit: 'indexes' });
  const details = rows.map((r) => {
    const uDef = lockAware(caps.locks, r.unneeded_definition, [r.table_oid, r.u_oid]);
    const cDef = lockAware(caps.locks, r.covering_definition, [r.table_oid, r.c_oid]);
    const uSize = lockAware(caps.locks, r.unneeded_bytes, [r.u_oid]);
    const cSize = lockAware(caps.locks, r.covering_bytes, [r.c_oid]);
    const notes = [uDef.note, cDef.note, uSize.note, cSize.note].filter(Boolean);
    return {
      unneeded: String(r.unneeded),
      unneededBytes: uSize.value === null ? null : num(uSize.value),
      coveredBy: String(r.covering),
      coveringBytes: cSize.value === null ? null : num(cSize.value),
      table: String(r.table),
      unneededDefinition: uDef.value,
      coveringDefinition: cDef.value,
      ...(notes.length ? { definitionUnknown: `definitions and sizes ${notes[0]}` } : {}),
      sql: `DROP INDEX CONCURRENTLY ${String(r.unneeded)};`,
    };
  });
  const first = details[0]!;
  const wasted = details.reduce((s, d) => s + (d.unneededBytes ?? 0), 0);
  return warn(
    `${plural(total, 'duplicate index', 'duplicate indexes')} (${bytes(wasted)}${total > details.length ? ' shown' : ''}): ${first.unneeded} is covered by ${first.coveredBy}`,
    {
      value: total,
      unit: 'indexes',
      ...bounded(details, total),
      hint: {
        text:
          `Drop the shorter index — every write maintains it for nothing and it takes disk and cache: ${first.sql} ` +
          '(check first that no query hint or tool names it).',
      },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------
// Unused indexes

/**
 * Indexes never scanned since the statistics were reset, at least $2 bytes by the catalog's page count
 * (refreshed by VACUUM, ANALYZE and CREATE INDEX), excluding those that enforce a constraint (unique,
 * primary key, exclusion) and invalid ones (reported separately). Exact sizes for the rows shown.
 */
const UNUSED_INDEXES_SQL = `WITH unused AS (
  SELECT x.indexrelid, x.indrelid, n.nspname, ci.relname, ct.relname AS table_name, ci.relpages::float8 * current_setting('block_size')::float8 AS est_bytes
  FROM pg_index x
  JOIN pg_class ci ON ci.oid = x.indexrelid
  JOIN pg_class ct ON ct.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = ci.relnamespace
  WHERE NOT x.indisunique AND NOT x.indisprimary AND NOT x.indisexclusion AND x.indisvalid AND ci.relkind = 'i'
    AND ${APP_SCHEMA('n')}
    AND pg_stat_get_numscans(x.indexrelid) = 0
    AND ci.relpages::float8 * current_setting('block_size')::float8 >= $2::float8
), ${duplicatePairsCte('SELECT indrelid FROM unused')}, agg AS (
  SELECT count(*)::int AS total, COALESCE(sum(est_bytes), 0)::float8 AS total_est_bytes,
         (SELECT extract(epoch FROM stats_reset)::float8 FROM pg_stat_database WHERE datname = current_database()) AS stats_reset,
         extract(epoch FROM pg_postmaster_start_time())::float8 AS started
  FROM unused
), keepers AS (
  -- An unused index that covers a duplicate duplicate-indexes says to drop: keep it, it takes over the reads.
  SELECT p.c_oid, string_agg(format('%I.%I', p.nspname, p.u_name), ', ' ORDER BY p.u_name) AS covers
  FROM pairs p WHERE p.c_oid IN (SELECT indexrelid FROM unused) GROUP BY p.c_oid
)
SELECT agg.*, (SELECT count(*) FROM keepers)::int AS keepers, top.covers, top.index, top.table_name, top.bytes, top.est_bytes, top.definition, top.index_oid, top.table_oid
FROM agg LEFT JOIN LATERAL (
  SELECT format('%I.%I', nspname, relname) AS index, format('%I.%I', nspname, table_name) AS table_name,
         indexrelid::int8 AS index_oid, indrelid::int8 AS table_oid, est_bytes,
         (SELECT k.covers FROM keepers k WHERE k.c_oid = s.indexrelid) AS covers,
         CASE WHEN NOT indexrelid = ANY ($3::text::oid[]) THEN pg_relation_size(indexrelid)::float8 END AS bytes,
         CASE WHEN NOT (indexrelid = ANY ($3::text::oid[]) OR indrelid = ANY ($3::text::oid[])) THEN pg_get_indexdef(indexrelid) END AS definition
  FROM (SELECT * FROM unused ORDER BY est_bytes DESC, nspname, relname LIMIT $1::int) s
) top ON true
ORDER BY COALESCE(top.bytes, top.est_bytes) DESC NULLS LAST, top.index`;

const unusedIndexes: Check['run'] = async (ctx, now) => {
  const t = thresholds(ctx);
  const caps = await ctx.pg.caps();
  const rows = rowsOf(
    await ctx.pg.batch([{ text: UNUSED_INDEXES_SQL, params: [t.topN, t.unusedIndexMinBytes, lockedOidsParam(caps.locks)] }]),
  );
  const head = rows[0] ?? {};
  const total = num(head.total);
  const resetAt = iso(head.stats_reset);
  const startedAt = iso(head.started);
  const since = resetAt
    ? `since the statistics were reset on ${resetAt.slice(0, 10)}`
    : `since the statistics began (never reset, server up since ${startedAt?.slice(0, 10) ?? 'unknown'})`;
  const young = resetAt && now.getTime() - Date.parse(resetAt) < 7 * 86_400_000 ? ' — under a week of statistics: a weekly or monthly job may still use them' : '';
  if (total === 0) return ok(`no unused index of ${bytes(t.unusedIndexMinBytes)} or more: every one was scanned ${since}`, { value: 0, unit: 'indexes' });
  const details = rows
    .filter((r) => r.index !== null && r.index !== undefined)
    .map((r) => {
      const def = lockAware(caps.locks, r.definition, [r.table_oid, r.index_oid]);
      const size = lockAware(caps.locks, r.bytes, [r.index_oid]);
      return {
        index: String(r.index),
        table: String(r.table_name),
        bytes: size.value === null ? null : num(size.value),
        ...(size.note ? { estimatedBytes: num(r.est_bytes), sizeUnknown: `size ${size.note}` } : {}),
        scans: 0,
        definition: def.value,
        ...(def.note ? { definitionUnknown: `definition ${def.note}` } : {}),
        ...(r.covers
          ? {
              keep: `it covers ${String(r.covers)}, which postgres.duplicate-indexes recommends dropping: drop that one and this index serves its reads`,
              sql: null,
            }
          : { sql: `DROP INDEX CONCURRENTLY ${String(r.index)};` }),
      };
    });
  const keepers = num(head.keepers);
  const droppable = total - keepers;
  const keepNote = keepers ? `; ${plural(keepers, 'of them covers', 'of them cover')} a duplicate index to drop instead: keep ${keepers === 1 ? 'it' : 'those'}` : '';
  if (droppable === 0) {
    return ok(`${plural(total, 'unused index', 'unused indexes')} (no scans ${since}), each covering a duplicate index that postgres.duplicate-indexes recommends dropping: keep ${total === 1 ? 'it' : 'them'}`, {
      value: 0,
      unit: 'indexes',
      ...bounded(details, total),
    });
  }
  const first = details.find((d) => d.sql !== null) ?? details[0]!;
  return warn(
    `${plural(total, 'unused index', 'unused indexes')} (about ${bytes(num(head.total_est_bytes))}): no scans ${since}${young}${keepNote}; largest to drop ${first.index} ${first.bytes === null ? `about ${bytes(num(first.estimatedBytes))} (${first.sizeUnknown})` : bytes(first.bytes)}`,
    {
      value: droppable,
      unit: 'indexes',
      ...bounded(details, total),
      hint: {
        text:
          `Drop an index nothing reads — every write maintains it: ${first.sql} Scans are counted on this server only: ` +
          'check that no replica or rare job (monthly report, backfill) uses it first.',
      },
    },
  );
};

// ---------------------------------------------------------------------------------------------------------------

const FAMILY = 'postgres.integrity';
const check = postgresChecks(FAMILY);

export const family: CheckFamily = {
  family: FAMILY,
  checks: (config) =>
    config.checks.postgres.enabled
      ? [
          check('postgres.wraparound', 'Transaction ID wraparound', 'P1', wraparound),
          check('postgres.sequences', 'Sequences near overflow', 'P2', sequences),
          check('postgres.invalid-indexes', 'Invalid indexes', 'P2', invalidIndexes),
          check('postgres.invalid-constraints', 'NOT VALID constraints', 'P3', invalidConstraints),
          check('postgres.duplicate-indexes', 'Duplicate indexes', 'P4', duplicateIndexes),
          check('postgres.unused-indexes', 'Unused indexes', 'P4', unusedIndexes),
        ]
      : [],
};
