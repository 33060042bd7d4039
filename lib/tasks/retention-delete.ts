import type * as z from 'zod';
import { errored, ok, warn, worst } from '../checks/outcome.js';
import type { CheckOutcome, CheckStatus, Hint } from '../checks/types.js';
import { ensureSchema } from '../db/schema.js';
import { budget, errorText, lookupTables, parseColumnName, quoteIdent, shown, SYSTEM_SCHEMAS, took } from './identifiers.js';
import type { TaskContext, TaskDefinition } from './types.js';
import { retentionDeleteParams } from './params.js';

/**
 * Data retention (runbook 001: "audit_logs older than 90 days, session_logs older than 30 days"): delete
 * the rows of each of `tables` whose date/timestamp `column` is older than `olderThanDays` before the run's
 * `now`.
 *
 * In bounded batches, each its own short transaction, so a large backlog never holds locks or bloats
 * one transaction: `DELETE … WHERE key = ANY(ARRAY(SELECT key … WHERE col < $cutoff LIMIT $batch))`, keyed
 * by the primary key (composite ones too), by ctid when there is none. Each batch writes its audit row
 * (opsbook.audit_log) in the same statement, so a delete and its record commit together or not at all.
 * A table stops when a batch finds fewer rows than its size, after `maxBatches` (per table), or before
 * the item's time limit (shared: later tables then start no batch); what remains is counted (bounded,
 * one round trip for every table) and reported as a warning.
 *
 * The tables are independent: each is checked against the catalog, deleted from and reported on its own,
 * in the order written, so a missing table or a column that is not a date refuses that table (an error
 * for the item, naming it) while the others are still cleaned. With one table the outcome is that
 * table's; with several, one summary clause and one details row per table.
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

/** One table of the list: ready to delete from, or refused with the reason (which names the table). */
type Plan = { target: Target } | { table: string; problem: string };

type Prepared = { ok: true; plans: Plan[]; params: RetentionDeleteParams } | { ok: false; outcome: CheckOutcome };

/** What one table came to: its clause of the summary (without the dry-run or refusal prefix) and its details row. */
interface TableReport {
  status: CheckStatus;
  refused: boolean;
  text: string;
  rows: number;
  detail: Record<string, unknown>;
  hint?: Hint;
}

/** Validate everything against the catalog before touching a row: the params for the whole item, then each table. */
async function prepare(ctx: TaskContext, raw: RetentionDeleteParams): Promise<Prepared> {
  // Params normally come parsed from the config; a direct call is checked the same way.
  const parsed = retentionDeleteParams.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`);
    return { ok: false, outcome: errored(`nothing was deleted: ${problems.join('; ')}`) };
  }
  const params = parsed.data;
  const column = parseColumnName(params.column);
  if (!column.ok) return { ok: false, outcome: errored(`nothing was deleted: ${shown(params.column)}: invalid column name (${column.error})`) };
  const { db } = ctx.deps;
  const plans: Array<Plan | { oid: string; quoted: string; partitioned: boolean }> = [];
  const seen = new Set<string>();
  for (const found of await lookupTables(db, params.tables, ['r', 'p'])) {
    if (!found.ok) {
      plans.push({ table: found.input, problem: found.problem });
      continue;
    }
    const t = found.table;
    // The same table written twice (`audit_logs`, `public.audit_logs`) is one table: deleted from once.
    if (seen.has(t.oid)) continue;
    seen.add(t.oid);
    if (SYSTEM_SCHEMAS.includes(t.schema) || t.schema.startsWith('pg_')) {
      const why = t.schema === 'opsbook' ? "Opsbook's own history is pruned by the prune-history task" : 'system catalogs are not app data';
      plans.push({ table: t.quoted, problem: `${t.quoted} is in schema ${quoteIdent(t.schema)} (${why})` });
      continue;
    }
    plans.push({ oid: t.oid, quoted: t.quoted, partitioned: t.relkind === 'p' });
  }
  const pending = plans.filter((p): p is { oid: string; quoted: string; partitioned: boolean } => 'oid' in p);
  // Every table's column and primary key in one round trip.
  const answers = pending.length ? await db.batch(pending.flatMap((p) => [{ text: COLUMN_SQL, params: [p.oid, column.value] }, { text: PRIMARY_KEY_SQL, params: [p.oid] }])) : [];
  const checked = new Map(pending.map((p, i) => [p, targetOf(p, column.value, answers[2 * i]!.rows, answers[2 * i + 1]!.rows)]));
  return { ok: true, params, plans: plans.map((p) => ('oid' in p ? checked.get(p)! : p)) };
}

/** A table whose column and key were read: a target, or why rows cannot be deleted from it by that column. */
function targetOf(t: { quoted: string; partitioned: boolean }, column: string, cols: Array<Record<string, unknown>>, pk: Array<Record<string, unknown>>): Plan {
  const exact = cols.find((r) => r.name === column);
  if (!exact) {
    const alt = cols[0] ? ` (did you mean ${quoteIdent(String(cols[0].name))}? a mixed-case name is written quoted)` : '';
    return { table: t.quoted, problem: `${t.quoted} has no column ${quoteIdent(column)}${alt}` };
  }
  if (exact.is_time !== true) return { table: t.quoted, problem: `${t.quoted}.${quoteIdent(column)} is ${String(exact.type)}, not a date or timestamp column` };
  const key = pk.map((r) => quoteIdent(String(r.name)));
  if (key.length === 0 && t.partitioned) {
    // ctid is only unique within one partition: deleting by it across partitions could hit other rows.
    return { table: t.quoted, problem: `${t.quoted} is partitioned and has no primary key to delete by; drop old partitions instead` };
  }
  return { target: { table: t.quoted, column: quoteIdent(column), columnName: column, key: key.length ? key : ['ctid'] } };
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

const MORE_REMAIN_HINT: Hint = { text: 'The rest is deleted by the next runs; raise batchSize or maxBatches (or run it more often) if the backlog keeps growing.' };

function refusal(p: { table: string; problem: string }): TableReport {
  return { status: 'error', refused: true, text: p.problem, rows: 0, detail: { table: p.table, problem: p.problem } };
}

/** What a dry run finds for each table: the rows one run would delete and the oldest, two statements per table in one round trip. */
async function dryRun(ctx: TaskContext, plans: Plan[], p: RetentionDeleteParams, cutoff: string): Promise<TableReport[]> {
  const perRun = p.batchSize * p.maxBatches;
  const targets = plans.flatMap((plan) => ('target' in plan ? [plan.target] : []));
  const answers = targets.length
    ? await ctx.deps.db.batch(
        targets.flatMap((t) => [
          { text: countStatement(t), params: [cutoff, perRun + 1] },
          { text: `SELECT to_json(min(${t.column}))#>>'{}' AS oldest FROM ${t.table} WHERE ${t.column} < $1`, params: [cutoff] },
        ]),
      )
    : [];
  return plans.map((plan) => {
    if (!('target' in plan)) return refusal(plan);
    const t = plan.target;
    const i = targets.indexOf(t);
    const n = Number(answers[2 * i]!.rows[0]?.n ?? 0);
    const oldestRow = answers[2 * i + 1]!.rows[0]?.oldest;
    const oldestAt = oldestRow ? String(oldestRow) : undefined;
    const what = described(t, cutoff, p);
    const detail = { table: t.table, column: t.column, cutoff, rows: n > perRun ? `more than ${perRun}` : n, ...(oldestAt ? { oldest: oldestAt } : {}), batchSize: p.batchSize, maxBatches: p.maxBatches };
    if (n === 0) return { status: 'ok', refused: false, text: `nothing to delete: no ${what}`, rows: 0, detail };
    if (n > perRun) {
      return {
        status: 'warn',
        refused: false,
        text: `more than ${perRun} ${what}; a run deletes at most ${perRun} (${p.maxBatches} batches of ${p.batchSize}), the rest on later runs; oldest ${oldestAt}`,
        rows: n,
        detail,
      };
    }
    const batches = Math.ceil(n / p.batchSize);
    return { status: 'ok', refused: false, text: `would delete ${n} ${what} in ${batches} batch(es) of up to ${p.batchSize}; oldest ${oldestAt}`, rows: n, detail };
  });
}

/** `"public"."t" rows with "col" before <cutoff> (older than N d)`: what a table's clause is about. */
function described(t: Target, cutoff: string, p: RetentionDeleteParams): string {
  return `${t.table} rows with ${t.column} before ${cutoff} (older than ${p.olderThanDays} d)`;
}

type Deleted = { t: Target; deleted: number; batches: number; ms: number; stop: 'done' | 'max-batches' | 'time' } | { t: Target; failed: TableReport };

/** Delete from one table, batch by batch, until it is clean, its maxBatches are used or the item's time is nearly up. */
async function deleteFrom(ctx: TaskContext, t: Target, p: RetentionDeleteParams, cutoff: string, now: Date, time: ReturnType<typeof budget>): Promise<Deleted> {
  const progress = ctx.progress ?? (() => undefined);
  const auditParams = JSON.stringify({ column: t.columnName, olderThanDays: p.olderThanDays, batchSize: p.batchSize });
  const started = performance.now();
  let deleted = 0;
  let batches = 0;
  for (;;) {
    if (batches >= p.maxBatches) return { t, deleted, batches, ms: Math.round(performance.now() - started), stop: 'max-batches' };
    if (!time.canStart()) return { t, deleted, batches, ms: Math.round(performance.now() - started), stop: 'time' };
    let n: number;
    try {
      const [res] = await ctx.deps.db.batch([{ text: batchStatement(t), params: [cutoff, p.batchSize, now.toISOString(), t.table, auditParams] }], { readOnly: false });
      n = Number(res!.rows[0]?.deleted ?? 0);
    } catch (err) {
      const what = described(t, cutoff, p);
      const soFar = deleted ? `deleted ${deleted} ${what} in ${batches} batch(es), then ` : `nothing deleted from ${t.table}: `;
      const error = errorText(err);
      progress(`retention-delete ${t.table}: batch ${batches + 1} failed (rolled back)`);
      return {
        t,
        failed: { status: 'error', refused: false, text: `${soFar}batch ${batches + 1} failed (rolled back): ${error}`, rows: deleted, detail: { table: t.table, column: t.column, cutoff, deleted, batches, error } },
      };
    }
    if (n === 0) break;
    batches++;
    deleted += n;
    progress(`retention-delete ${t.table}: batch ${batches} deleted ${n} (${deleted} so far)`);
    if (n < p.batchSize) break;
  }
  return { t, deleted, batches, ms: Math.round(performance.now() - started), stop: 'done' };
}

async function run(ctx: TaskContext, raw: RetentionDeleteParams, now: Date): Promise<CheckOutcome> {
  const prepared = await prepare(ctx, raw);
  if (!prepared.ok) return prepared.outcome;
  const { plans, params: p } = prepared;
  const cutoff = new Date(now.getTime() - p.olderThanDays * 86_400_000).toISOString();
  if (ctx.dryRun) return combined(await dryRun(ctx, plans, p, cutoff), true);

  const { db } = ctx.deps;
  if (plans.some((plan) => 'target' in plan)) await ensureSchema(db);
  // One time limit for the item: a table whose turn comes after it starts no batch and counts what waits.
  const time = budget(ctx.timeoutMs);
  const runs: Array<Deleted | { refused: TableReport }> = [];
  for (const plan of plans) runs.push('target' in plan ? await deleteFrom(ctx, plan.target, p, cutoff, now, time) : { refused: refusal(plan) });

  // What is left on every table that stopped early, counted in one round trip.
  const perRun = p.batchSize * p.maxBatches;
  const cap = Math.min(perRun, REMAINING_COUNT_CAP);
  const stopped = runs.filter((r): r is Extract<Deleted, { stop: unknown }> => 'stop' in r && r.stop !== 'done');
  const counts = stopped.length ? await db.batch(stopped.map((r) => ({ text: countStatement(r.t), params: [cutoff, cap + 1] }))) : [];
  const reports = runs.map((r): TableReport => {
    if ('refused' in r) return r.refused;
    if ('failed' in r) return r.failed;
    const what = described(r.t, cutoff, p);
    const head = `deleted ${r.deleted} ${what} in ${r.batches} batch(es), ${took(r.ms)}`;
    const detail = { table: r.t.table, column: r.t.column, cutoff, deleted: r.deleted, batches: r.batches };
    const i = stopped.indexOf(r as (typeof stopped)[number]);
    const remaining = i < 0 ? 0 : Number(counts[i]!.rows[0]?.n ?? 0);
    if (remaining === 0) return { status: 'ok', refused: false, text: r.deleted === 0 ? `nothing to delete: no ${what}` : head, rows: r.deleted, detail };
    const why = r.stop === 'time' ? 'stopped before the time limit' : `stopped after maxBatches (${p.maxBatches})`;
    const left = remainingText(remaining, cap);
    return { status: 'warn', refused: false, text: `${head}; ${why}, more remain: ${left}`, rows: r.deleted, detail: { ...detail, remaining: left }, hint: MORE_REMAIN_HINT };
  });
  return combined(reports, false);
}

/**
 * The item's outcome. One table: exactly that table's (a refusal reads "nothing was deleted: …"). Several:
 * the worst status (a refused table makes the item an error, so a renamed table is not lost in an ok),
 * the rows of all of them, and a clause and a details row per table in the order written.
 */
function combined(reports: TableReport[], dry: boolean): CheckOutcome {
  const rows = reports.reduce((sum, r) => sum + r.rows, 0);
  const hint = reports.find((r) => r.hint)?.hint;
  const extra: Partial<CheckOutcome> = { value: rows, unit: 'rows', details: reports.map((r) => r.detail), ...(hint ? { hint } : {}) };
  const status = worst(reports.map((r) => r.status));
  if (reports.length === 1) {
    const only = reports[0]!;
    const summary = only.refused ? `nothing was deleted: ${only.text}` : dry ? `dry run: ${only.text}` : only.text;
    return { status, summary, ...extra };
  }
  const refused = reports.filter((r) => r.refused).length;
  const head = `${dry ? 'dry run: ' : ''}${reports.length} tables, ${rows} rows ${dry ? 'to delete' : 'deleted'}${refused ? `, ${refused} refused` : ''}`;
  const clauses = reports.map((r) => (r.refused ? `refused: ${r.text}` : r.text));
  return { status, summary: `${head}: ${clauses.join('; ')}`, ...extra };
}

export const retentionDeleteTask: TaskDefinition<RetentionDeleteParams> = {
  name: 'retention-delete',
  schema: retentionDeleteParams,
  title: (p) => `Delete ${p.tables.join(', ')} rows older than ${p.olderThanDays} days (by ${p.column})`,
  run,
};
