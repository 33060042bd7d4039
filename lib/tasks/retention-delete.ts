import type * as z from 'zod';
import { errored, ok, warn } from '../checks/outcome.js';
import type { CheckOutcome } from '../checks/types.js';
import { ensureSchema } from '../db/schema.js';
import { budget, errorText, parseColumnName, quoteIdent, resolveTables, shown, SYSTEM_SCHEMAS, took } from './identifiers.js';
import type { TaskContext, TaskDefinition } from './types.js';
import { retentionDeleteParams } from './params.js';

/**
 * Data retention (runbook 001: "audit_logs older than 90 days, session_logs older than 30 days"): delete
 * the rows of one table whose date/timestamp column is older than `olderThanDays` before the run's `now`.
 *
 * In bounded batches, each its own short transaction, so a large backlog never holds locks or bloats
 * one transaction: `DELETE … WHERE key = ANY(ARRAY(SELECT key … WHERE col < $cutoff LIMIT $batch))`, keyed
 * by the primary key (composite ones too), by ctid when there is none. Each batch writes its audit row
 * (opsbook.audit_log) in the same statement, so a delete and its record commit together or not at all.
 * Stops when a batch finds fewer rows than its size, after `maxBatches`, or before the time limit; what
 * remains is counted (bounded) and reported as a warning.
 *
 * Names are checked against the catalog and quoted from it (see identifiers.ts); the cutoff and limits
 * are bound parameters. A `timestamp without time zone` column is compared as UTC.
 */
export { retentionDeleteParams };

export type RetentionDeleteParams = z.output<typeof retentionDeleteParams>;

/** Remaining rows are counted up to this many: the count stays cheap on a huge backlog. */
const REMAINING_COUNT_CAP = 100_000;

const COLUMN_SQL = `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END) IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) AS is_time
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped AND lower(a.attname) = lower($2)
ORDER BY a.attname = $2 DESC, a.attname`;

/** The primary key's columns, in key order (a partitioned table's includes its partition key). */
const PRIMARY_KEY_SQL = `SELECT a.attname AS name
FROM pg_index i
CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
WHERE i.indrelid = $1::oid AND i.indisprimary AND k.ord <= i.indnkeyatts
ORDER BY k.ord`;

interface Target {
  table: string;
  column: string;
  columnName: string;
  /** The row key: the primary key's columns (quoted), or ctid when there is none. */
  key: string[];
}

type Prepared = { ok: true; target: Target; params: RetentionDeleteParams } | { ok: false; outcome: CheckOutcome };

/** Validate everything against the catalog before touching a row. */
async function prepare(ctx: TaskContext, raw: RetentionDeleteParams): Promise<Prepared> {
  // Params normally come parsed from the config; a direct call is checked the same way.
  const parsed = retentionDeleteParams.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`);
    return { ok: false, outcome: errored(`nothing was deleted: ${problems.join('; ')}`) };
  }
  const params = parsed.data;
  const { db } = ctx.deps;
  const resolved = await resolveTables(db, [params.table], ['r', 'p']);
  if (!resolved.ok) return { ok: false, outcome: errored(`nothing was deleted: ${resolved.problems.join('; ')}`) };
  const t = resolved.tables[0]!;
  if (SYSTEM_SCHEMAS.includes(t.schema) || t.schema.startsWith('pg_')) {
    const why = t.schema === 'opsbook' ? "Opsbook's own history is pruned by the prune-history task" : 'system catalogs are not app data';
    return { ok: false, outcome: errored(`nothing was deleted: ${t.quoted} is in schema ${quoteIdent(t.schema)} (${why})`) };
  }
  const column = parseColumnName(params.column);
  if (!column.ok) return { ok: false, outcome: errored(`nothing was deleted: ${shown(params.column)}: invalid column name (${column.error})`) };
  const [cols, pk] = await db.batch([
    { text: COLUMN_SQL, params: [t.oid, column.value] },
    { text: PRIMARY_KEY_SQL, params: [t.oid] },
  ]);
  const exact = cols!.rows.find((r) => r.name === column.value);
  if (!exact) {
    const alt = cols!.rows[0] ? ` (did you mean ${quoteIdent(String(cols!.rows[0].name))}? a mixed-case name is written quoted)` : '';
    return { ok: false, outcome: errored(`nothing was deleted: ${t.quoted} has no column ${quoteIdent(column.value)}${alt}`) };
  }
  if (exact.is_time !== true) {
    return {
      ok: false,
      outcome: errored(`nothing was deleted: ${t.quoted}.${quoteIdent(column.value)} is ${String(exact.type)}, not a date or timestamp column`),
    };
  }
  const key = pk!.rows.map((r) => quoteIdent(String(r.name)));
  if (key.length === 0 && t.relkind === 'p') {
    // ctid is only unique within one partition: deleting by it across partitions could hit other rows.
    return { ok: false, outcome: errored(`nothing was deleted: ${t.quoted} is partitioned and has no primary key to delete by; drop old partitions instead`) };
  }
  return {
    ok: true,
    params,
    target: { table: t.quoted, column: quoteIdent(column.value), columnName: column.value, key: key.length ? key : ['ctid'] },
  };
}

/**
 * One batch and its audit row, in one statement (one transaction). A single key column (or ctid: a TID
 * scan) is matched with `= ANY(ARRAY(…))`, a composite key with a row `IN (…)`; either way the primary
 * key's index finds the rows. The outer `col < $1` re-checks a row that a concurrent update changed
 * between the inner SELECT and the DELETE. No audit row when nothing was deleted.
 */
function batchStatement(t: Target): string {
  const key = t.key.join(', ');
  const pick = `SELECT ${key} FROM ${t.table} WHERE ${t.column} < $1 LIMIT $2::int`;
  const match = t.key.length === 1 ? `${key} = ANY(ARRAY(${pick}))` : `(${key}) IN (${pick})`;
  return `WITH d AS (
  DELETE FROM ${t.table}
  WHERE ${match} AND ${t.column} < $1
  RETURNING 1
)
INSERT INTO opsbook.audit_log (at, actor, role, action, target, params, after, result)
SELECT $3::timestamptz, 'checklist', 'system', 'retention-delete', $4::text, $5::jsonb, jsonb_build_object('deleted', count(*)), 'ok'
FROM d HAVING count(*) > 0
RETURNING (after->>'deleted')::int AS deleted`;
}

/** How many rows are older than the cutoff, counting at most `cap` + 1. */
function countStatement(t: Target): string {
  return `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${t.table} WHERE ${t.column} < $1 LIMIT $2::int) s`;
}

function remainingText(n: number, cap: number): string {
  return n > cap ? `more than ${cap}` : String(n);
}

async function run(ctx: TaskContext, raw: RetentionDeleteParams, now: Date): Promise<CheckOutcome> {
  const prepared = await prepare(ctx, raw);
  if (!prepared.ok) return prepared.outcome;
  const { target: t, params: p } = prepared;
  const { db } = ctx.deps;
  const progress = ctx.progress ?? (() => undefined);
  const cutoff = new Date(now.getTime() - p.olderThanDays * 86_400_000).toISOString();
  const what = `${t.table} rows with ${t.column} before ${cutoff} (older than ${p.olderThanDays} d)`;
  const perRun = p.batchSize * p.maxBatches;

  if (ctx.dryRun) {
    const [count, oldest] = await db.batch([
      { text: countStatement(t), params: [cutoff, perRun + 1] },
      { text: `SELECT to_json(min(${t.column}))#>>'{}' AS oldest FROM ${t.table} WHERE ${t.column} < $1`, params: [cutoff] },
    ]);
    const n = Number(count!.rows[0]?.n ?? 0);
    const oldestAt = oldest!.rows[0]?.oldest ? String(oldest!.rows[0].oldest) : undefined;
    const details = [{ table: t.table, column: t.column, cutoff, rows: n > perRun ? `more than ${perRun}` : n, ...(oldestAt ? { oldest: oldestAt } : {}), batchSize: p.batchSize, maxBatches: p.maxBatches }];
    if (n === 0) return ok(`dry run: nothing to delete: no ${what}`, { value: 0, unit: 'rows', details });
    const batches = Math.ceil(Math.min(n, perRun) / p.batchSize);
    if (n > perRun) {
      return warn(`dry run: more than ${perRun} ${what}; a run deletes at most ${perRun} (${p.maxBatches} batches of ${p.batchSize}), the rest on later runs; oldest ${oldestAt}`, {
        value: n,
        unit: 'rows',
        details,
      });
    }
    return ok(`dry run: would delete ${n} ${what} in ${batches} batch(es) of up to ${p.batchSize}; oldest ${oldestAt}`, { value: n, unit: 'rows', details });
  }

  await ensureSchema(db);
  const time = budget(ctx.timeoutMs);
  const auditParams = JSON.stringify({ column: t.columnName, olderThanDays: p.olderThanDays, batchSize: p.batchSize });
  let deleted = 0;
  let batches = 0;
  let stop: 'done' | 'max-batches' | 'time' = 'done';
  for (;;) {
    if (batches >= p.maxBatches) {
      stop = 'max-batches';
      break;
    }
    if (!time.canStart()) {
      stop = 'time';
      break;
    }
    let n: number;
    try {
      const [res] = await db.batch([{ text: batchStatement(t), params: [cutoff, p.batchSize, now.toISOString(), t.table, auditParams] }], { readOnly: false });
      n = Number(res!.rows[0]?.deleted ?? 0);
    } catch (err) {
      const soFar = deleted ? `deleted ${deleted} ${what} in ${batches} batch(es), then ` : '';
      return errored(`${soFar}batch ${batches + 1} failed (rolled back): ${errorText(err)}`, { value: deleted, unit: 'rows' });
    }
    if (n === 0) break;
    batches++;
    deleted += n;
    progress(`retention-delete ${t.table}: batch ${batches} deleted ${n} (${deleted} so far)`);
    if (n < p.batchSize) break;
  }

  const head = `deleted ${deleted} ${what} in ${batches} batch(es), ${took(time.elapsedMs())}`;
  const details = [{ table: t.table, column: t.column, cutoff, deleted, batches }];
  if (stop === 'done') {
    return ok(deleted === 0 ? `nothing to delete: no ${what}` : head, { value: deleted, unit: 'rows', details });
  }
  const cap = Math.min(perRun, REMAINING_COUNT_CAP);
  const [left] = await db.batch([{ text: countStatement(t), params: [cutoff, cap + 1] }]);
  const remaining = Number(left!.rows[0]?.n ?? 0);
  if (remaining === 0) return ok(head, { value: deleted, unit: 'rows', details });
  const why = stop === 'time' ? 'stopped before the time limit' : `stopped after maxBatches (${p.maxBatches})`;
  return warn(`${head}; ${why}, more remain: ${remainingText(remaining, cap)}`, {
    value: deleted,
    unit: 'rows',
    details: [{ ...details[0]!, remaining: remainingText(remaining, cap) }],
    hint: { text: 'The rest is deleted by the next runs; raise batchSize or maxBatches (or run it more often) if the backlog keeps growing.' },
  });
}

export const retentionDeleteTask: TaskDefinition<RetentionDeleteParams> = {
  name: 'retention-delete',
  schema: retentionDeleteParams,
  title: (p) => `Delete ${p.table} rows older than ${p.olderThanDays} days (by ${p.column})`,
  run,
};
