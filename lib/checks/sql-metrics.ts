import type { SqlMetricConfig } from '../config/index.js';
import type { Statement } from '../db/index.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import { errored, grade } from './outcome.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome, Need } from './types.js';

/**
 * Config-defined SQL metrics (`sql.<id>`): one SELECT/WITH returning a number, graded by thresholds.
 *
 * Each metric travels in the run's shared READ ONLY batch as four statements:
 *   1. stash the statement_timeout in force (in a custom setting, local to the transaction),
 *   2. set the metric's own statement_timeout (local to the transaction),
 *   3. the metric,
 *   4. put the stashed statement_timeout back,
 * so the metric's limit applies to the metric only, not to the statements other checks merged after it.
 * A metric that fails (a timeout, a write refused by READ ONLY) aborts the merged transaction; the
 * batcher then re-runs each check's statements on their own, so the failure stays with this metric.
 */
const STASH = { text: "SELECT set_config('opsbook.outer_statement_timeout', current_setting('statement_timeout'), true)" };
const RESTORE = { text: "SELECT set_config('statement_timeout', current_setting('opsbook.outer_statement_timeout'), true)" };

/** The statements of one metric, in order; the metric's result is at index 2. */
export function metricStatements(metric: SqlMetricConfig, checkTimeoutMs: number): Statement[] {
  // Past the check's own time limit nobody waits for the answer: stop the query there too.
  const timeoutMs = Math.max(1, Math.floor(Math.min(metric.timeoutMs, checkTimeoutMs)));
  return [
    STASH,
    { text: "SELECT set_config('statement_timeout', $1, true)", params: [`${timeoutMs}ms`] },
    // Without a trailing semicolon, and ending on a new line so a trailing `-- comment` cannot swallow
    // the separator the pg driver puts after each statement.
    { text: `${metric.sql.trim().replace(/;\s*$/, '')}\n`, params: metric.params },
    RESTORE,
  ];
}

/** The first column of the first row as a finite number, or why it is not one. */
export function metricValue(rows: Array<Record<string, unknown>>): { value: number } | { problem: string } {
  const row = rows[0];
  if (!row) return { problem: 'returned no rows' };
  const columns = Object.keys(row);
  if (columns.length === 0) return { problem: 'returned no columns' };
  const v = row[columns[0]!];
  if (v === null || v === undefined) return { problem: `returned NULL in its first column "${columns[0]}"` };
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'bigint') n = Number(v);
  else if (typeof v === 'string' && /^\s*[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\s*$/.test(v)) n = Number(v);
  if (n === undefined) return { problem: `returned ${describe(v)} in its first column "${columns[0]}", not a number` };
  if (!Number.isFinite(n)) return { problem: `returned ${n} in its first column "${columns[0]}", not a finite number` };
  return { value: n };
}

/** The type of a value, never the value itself: the metric could select anything. */
function describe(v: unknown): string {
  if (typeof v === 'string') return 'text';
  if (typeof v === 'boolean') return 'a boolean';
  if (v instanceof Date) return 'a timestamp';
  if (Array.isArray(v)) return 'an array';
  return `a ${typeof v}`;
}

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : String(Math.round(n * 1000) / 1000));

function thresholds(m: SqlMetricConfig): string {
  const word = m.direction === 'below' ? 'below' : 'above';
  const parts = [m.warn !== undefined ? `warn ${word} ${fmt(m.warn)}` : '', m.fail !== undefined ? `fail ${word} ${fmt(m.fail)}` : ''].filter(Boolean);
  return parts.length ? parts.join(', ') : 'no thresholds';
}

/** Grade a value by the metric's thresholds and direction. */
export function metricOutcome(m: SqlMetricConfig, value: number): CheckOutcome {
  const status = grade(value, m);
  const shown = `${fmt(value)}${m.unit ? ` ${m.unit}` : ''}`;
  const word = m.direction === 'below' ? 'below' : 'above';
  const summary =
    status === 'fail'
      ? `${shown}: ${word} the fail threshold ${fmt(m.fail!)}`
      : status === 'warn'
        ? `${shown}: ${word} the warn threshold ${fmt(m.warn!)}`
        : `${shown} (${thresholds(m)})`;
  return { status, summary, value, ...(m.unit ? { unit: m.unit } : {}) };
}

/** A failed metric, with what to do for the failures we know. */
function failedOutcome(m: SqlMetricConfig, err: unknown, timeoutMs: number): CheckOutcome {
  const code = (err as { code?: unknown } | undefined)?.code;
  const message = redactSecrets(messageOf(err)).slice(0, 300);
  const summary = `query failed: ${message}${typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? ` (${code})` : ''}`;
  if (code === '57014') {
    return errored(summary, { hint: { text: `The metric ran longer than its ${timeoutMs} ms statement_timeout: make it cheaper (an index, a narrower time range) or raise timeoutMs.` } });
  }
  if (code === '25006') {
    return errored(summary, { hint: { text: 'SQL metrics run in a READ ONLY transaction: the query (or a function it calls) tried to write. Use a read-only query.' } });
  }
  return errored(summary, { hint: { text: `Run the metric's SQL by hand to see why it fails (id ${m.id}).` } });
}

function sqlMetricCheck(m: SqlMetricConfig): Check {
  return {
    id: `sql.${m.id}`,
    title: m.title,
    family: 'sql-metrics',
    severity: m.severity,
    needs: ['postgres', ...(m.needs as Need[])],
    async run(ctx: CheckContext) {
      const statements = metricStatements(m, ctx.timeoutMs);
      let rows: Array<Record<string, unknown>>;
      try {
        await ctx.pg.caps();
        const results = await ctx.pg.batch(statements);
        rows = results[2]!.rows;
      } catch (err) {
        return failedOutcome(m, err, Math.min(m.timeoutMs, ctx.timeoutMs));
      }
      const read = metricValue(rows);
      if ('problem' in read) {
        return errored(`the query ${read.problem}`, { hint: { text: 'A metric returns one number: the first column of the first row, e.g. SELECT count(*) FROM …' } });
      }
      return metricOutcome(m, read.value);
    },
  };
}

export const family: CheckFamily = {
  family: 'sql-metrics',
  checks: (config) => config.checks.sqlMetrics.map(sqlMetricCheck),
};
