import type * as z from 'zod';
import { errored, ok, warn } from '../checks/outcome.js';
import type { CheckOutcome } from '../checks/types.js';
import type { Statement } from '../db/index.js';
import { ensureSchema } from '../db/schema.js';
import { budget, errorText, took } from './identifiers.js';
import type { TaskContext, TaskDefinition } from './types.js';
import { pruneHistoryParams } from './params.js';

/**
 * "Run history, snapshots and sent reports are pruned by a task after a configurable number of days
 * (default 90)": Opsbook's own tables, older than `days` (default `retentionDays` from the config).
 *
 * What is never deleted, whatever its age:
 * - a run still `running` (claimed, not finished), and a run whose report is still pending delivery
 *   (deliverPending would lose it);
 * - the latest successful run of each checklist: the next run's transitions (new failure / still
 *   failing) and the missed-run check read it, so a checklist scheduled less often than the retention
 *   keeps working;
 * - the latest snapshot of each kind: the next diagnostics run diffs against it;
 * - an incident still open, and a notification still pending delivery.
 * Incidents resolved before the cutoff go, with the notifications about them.
 * Deleting a run cascades to its results and report. Audit rows are append-only: their delete runs with
 * `set_config('opsbook.pruning', 'on', true)` in the same transaction, which the trigger lets through.
 *
 * In bounded batches, each one transaction with its own audit row (action `prune-history`), so a large
 * first prune never holds long locks; it stops before the time limit and reports what remains.
 */
export { pruneHistoryParams };

export type PruneHistoryParams = z.output<typeof pruneHistoryParams>;

interface Target {
  table: string;
  label: string;
  /** Rows to delete, as a condition on alias `x`; $1 is the cutoff. */
  condition: string;
  batchSize: number;
  /** Audit rows are append-only: only the pruning switch lets their delete through. */
  pruningSwitch?: boolean;
}

const TARGETS: Target[] = [
  {
    table: 'opsbook.job_runs',
    label: 'runs',
    condition: `x.started_at < $1 AND x.status <> 'running'
      AND NOT EXISTS (SELECT 1 FROM opsbook.reports r WHERE r.run_id = x.id AND r.delivery = 'pending')
      AND (x.status <> 'ok' OR EXISTS (SELECT 1 FROM opsbook.job_runs k WHERE k.job = x.job AND k.status = 'ok' AND (k.started_at, k.id) > (x.started_at, x.id)))`,
    // Each run takes its results and report (HTML) with it: smaller batches.
    batchSize: 200,
  },
  {
    table: 'opsbook.reports',
    label: 'reports without a run',
    condition: `x.run_id IS NULL AND x.created_at < $1 AND x.delivery <> 'pending'`,
    batchSize: 200,
  },
  {
    table: 'opsbook.snapshots',
    label: 'snapshots',
    condition: `x.taken_at < $1 AND EXISTS (SELECT 1 FROM opsbook.snapshots n WHERE n.kind = x.kind AND (n.taken_at, n.id) > (x.taken_at, x.id))`,
    batchSize: 1000,
  },
  { table: 'opsbook.heartbeat_pings', label: 'heartbeat pings', condition: 'x.received_at < $1', batchSize: 1000 },
  // An incident resolved before the cutoff, and the notifications about it (subject `<alert key>#<seq>`),
  // these first; an open incident stays whatever its age, and so does a notification still pending.
  {
    table: 'opsbook.notifications',
    label: 'notifications of resolved incidents',
    condition: `x.status <> 'pending' AND EXISTS (SELECT 1 FROM opsbook.incidents i WHERE i.resolved_at < $1 AND x.subject = i.alert_key || '#' || i.seq)`,
    batchSize: 1000,
  },
  { table: 'opsbook.incidents', label: 'resolved incidents', condition: 'x.resolved_at < $1', batchSize: 500 },
  { table: 'opsbook.audit_log', label: 'audit rows', condition: 'x.at < $1', batchSize: 1000, pruningSwitch: true },
];

/** Batches per table per run, besides the time limit. */
const MAX_BATCHES = 500;
/** Dry-run and remaining counts stop here, so counting stays cheap. */
const COUNT_CAP = 100_000;

/** One batch and its audit row, in one statement; the condition is checked again on the rows deleted. */
function batchStatement(t: Target): string {
  return `WITH d AS (
  DELETE FROM ${t.table} x
  WHERE x.id = ANY(ARRAY(SELECT x.id FROM ${t.table} x WHERE ${t.condition} LIMIT $2::int)) AND ${t.condition}
  RETURNING 1
), a AS (
  INSERT INTO opsbook.audit_log (at, actor, role, action, target, params, after, result)
  SELECT $3::timestamptz, 'checklist', 'system', 'prune-history', $4::text, $5::jsonb, jsonb_build_object('deleted', count(*)), 'ok'
  FROM d HAVING count(*) > 0
)
SELECT count(*)::int AS deleted FROM d`;
}

function countStatement(t: Target, cutoff: string): Statement {
  return { text: `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${t.table} x WHERE ${t.condition} LIMIT $2::int) s`, params: [cutoff, COUNT_CAP + 1] };
}

const counted = (n: number) => (n > COUNT_CAP ? `more than ${COUNT_CAP}` : String(n));

async function run(ctx: TaskContext, params: PruneHistoryParams, now: Date): Promise<CheckOutcome> {
  const days = params.days ?? ctx.config.retentionDays;
  const cutoff = new Date(now.getTime() - days * 86_400_000).toISOString();
  const { db } = ctx.deps;
  const progress = ctx.progress ?? (() => undefined);
  const scope = `older than ${days} d (before ${cutoff})`;

  if (ctx.dryRun) {
    // A dry run creates nothing, not even Opsbook's schema.
    const { rows } = await db.query<{ present: boolean }>(
      `SELECT to_regclass('opsbook.audit_log') IS NOT NULL AND to_regclass('opsbook.heartbeat_pings') IS NOT NULL AND to_regclass('opsbook.incidents') IS NOT NULL
         AND to_regclass('opsbook.notifications') IS NOT NULL AS present`,
    );
    if (rows[0]?.present !== true) return ok(`dry run: nothing to prune: Opsbook's tables do not exist yet`, { value: 0, unit: 'rows' });
    const res = await db.batch(TARGETS.map((t) => countStatement(t, cutoff)));
    const details = TARGETS.map((t, i) => ({ table: t.table, wouldDelete: counted(Number(res[i]!.rows[0]?.n ?? 0)) }));
    const total = res.reduce((sum, r) => sum + Math.min(Number(r.rows[0]?.n ?? 0), COUNT_CAP), 0);
    const parts = TARGETS.map((t, i) => `${counted(Number(res[i]!.rows[0]?.n ?? 0))} ${t.label}`);
    return ok(`dry run: would delete history ${scope}: ${parts.join(', ')} (running runs, pending reports, the latest run per checklist and the latest snapshot per kind are kept)`, {
      value: total,
      unit: 'rows',
      details,
    });
  }

  await ensureSchema(db);
  const time = budget(ctx.timeoutMs);
  const auditParams = JSON.stringify({ days, cutoff });
  const results: Array<{ table: string; label: string; deleted: number; batches: number; unfinished?: 'time' | 'max-batches' }> = [];
  let failure: string | undefined;
  for (const t of TARGETS) {
    const r: (typeof results)[number] = { table: t.table, label: t.label, deleted: 0, batches: 0 };
    results.push(r);
    for (;;) {
      if (r.batches >= MAX_BATCHES || !time.canStart()) {
        r.unfinished = r.batches >= MAX_BATCHES ? 'max-batches' : 'time';
        break;
      }
      const statements: Statement[] = [
        ...(t.pruningSwitch ? [{ text: "SELECT set_config('opsbook.pruning', 'on', true)" }] : []),
        { text: batchStatement(t), params: [cutoff, t.batchSize, now.toISOString(), t.table, auditParams] },
      ];
      let n: number;
      try {
        const res = await db.batch(statements, { readOnly: false });
        n = Number(res[res.length - 1]!.rows[0]?.deleted ?? 0);
      } catch (err) {
        failure = `${t.table} batch ${r.batches + 1} failed (rolled back): ${errorText(err)}`;
        break;
      }
      if (n === 0) break;
      r.batches++;
      r.deleted += n;
      progress(`prune-history ${t.table}: batch ${r.batches} deleted ${n} (${r.deleted} so far)`);
      if (n < t.batchSize) break;
    }
    // A table that used its batches lets the next one have its turn; the time limit stops them all.
    if (failure || r.unfinished === 'time') break;
  }

  // What is left of the interrupted tables and of the tables not reached, counted (bounded).
  const remaining = new Map<string, number>();
  const left = failure
    ? []
    : TARGETS.filter((t) => {
        const r = results.find((x) => x.table === t.table);
        return !r || r.unfinished !== undefined;
      });
  if (left.length > 0) {
    const res = await db.batch(left.map((t) => countStatement(t, cutoff))).catch(() => undefined);
    left.forEach((t, i) => {
      const n = Number(res?.[i]?.rows[0]?.n ?? 0);
      if (n > 0) remaining.set(t.table, n);
    });
  }
  const total = results.reduce((s, r) => s + r.deleted, 0);
  const parts = results.map((r) => `${r.deleted} ${r.label}`);
  const details = TARGETS.map((t) => {
    const r = results.find((x) => x.table === t.table);
    return { table: t.table, deleted: r?.deleted ?? 0, batches: r?.batches ?? 0, ...(remaining.has(t.table) ? { remaining: counted(remaining.get(t.table)!) } : {}) };
  });
  const head = `deleted history ${scope}: ${parts.join(', ')} in ${took(time.elapsedMs())}`;
  if (failure) return errored(`${head}; then ${failure}`, { value: total, unit: 'rows', details });
  if (remaining.size > 0) {
    const more = [...remaining].map(([table, n]) => `${table} ${counted(n)}`).join(', ');
    const why = results.some((r) => r.unfinished === 'time') ? 'stopped before the time limit' : `stopped after ${MAX_BATCHES} batches per table`;
    return warn(`${head}; ${why}, more remain: ${more}`, { value: total, unit: 'rows', details, hint: { text: 'The next run continues where this one stopped.' } });
  }
  return ok(head, { value: total, unit: 'rows', details });
}

export const pruneHistoryTask: TaskDefinition<PruneHistoryParams> = {
  name: 'prune-history',
  schema: pruneHistoryParams,
  title: (p) => `Prune Opsbook history older than ${p.days === undefined ? 'the retention period' : `${p.days} days`}`,
  run,
};
