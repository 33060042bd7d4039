import * as z from 'zod';
import type { ActionContext, ActionDefinition } from '../admin/action.js';
import { roleAllows } from '../auth.js';
import { bytes } from '../checks/outcome.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';
import { resolveTables, tableNameField } from '../tasks/identifiers.js';
import { TimeoutError } from '../timeout.js';
import { auditAfter } from '../admin/audit.js';

export const schema = z.object({
  op: z.enum(['analyze', 'vacuum-analyze', 'vacuum-full', 'reindex']),
  /** `table`, `schema.table` or `"schema"."Table"` (the form the diagnostics hints give). */
  table: tableNameField.optional(),
});
export type Params = z.output<typeof schema>;
type Op = Params['op'];

interface OpSpec {
  statement: string;
  heavy: boolean;
  lock: string;
  timeoutMs: number;
}

/**
 * Statement timeouts: these run for minutes on big tables, far beyond Opsbook's 5 s default. The lock
 * timeout stays Opsbook's own (2 s): VACUUM FULL waiting in the lock queue would stall every query on
 * the table behind it, so it fails fast instead and says to retry in the maintenance window.
 */
const OPS: Record<Op, OpSpec> = {
  analyze: { statement: 'ANALYZE', heavy: false, lock: 'SHARE UPDATE EXCLUSIVE: reads and writes go on', timeoutMs: 120_000 },
  'vacuum-analyze': { statement: 'VACUUM (ANALYZE)', heavy: false, lock: 'SHARE UPDATE EXCLUSIVE: reads and writes go on', timeoutMs: 240_000 },
  'vacuum-full': { statement: 'VACUUM (FULL, ANALYZE)', heavy: true, lock: 'ACCESS EXCLUSIVE: every read and write of the table waits until the rewrite ends', timeoutMs: 240_000 },
  reindex: { statement: 'REINDEX TABLE', heavy: true, lock: 'SHARE on the table and ACCESS EXCLUSIVE on each index: writes, and reads that use the indexes, wait until it ends', timeoutMs: 240_000 },
};

const STATS_SQL = `SELECT pg_has_role(c.relowner, 'USAGE') AS owned, pg_total_relation_size(c.oid)::float8 AS bytes,
    s.n_live_tup::float8 AS live_rows, s.n_dead_tup::float8 AS dead_rows,
    s.last_vacuum, s.last_autovacuum, s.last_analyze, s.last_autoanalyze,
    (SELECT count(*) FROM pg_index i WHERE i.indrelid = c.oid)::int AS indexes
  FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid WHERE c.oid = $1::oid`;

const DATABASE_SQL = `SELECT count(*) FILTER (WHERE pg_has_role(c.relowner, 'USAGE'))::int AS owned,
    count(*) FILTER (WHERE NOT pg_has_role(c.relowner, 'USAGE'))::int AS not_owned,
    COALESCE(sum(pg_total_relation_size(c.oid)) FILTER (WHERE pg_has_role(c.relowner, 'USAGE')), 0)::float8 AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
    AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname !~ '^pg_(toast_)?temp_'`;

const iso = (v: unknown) => (v === null || v === undefined ? null : new Date(v as string).toISOString());

function failure(err: unknown, op: Op, target: string): OpsbookError {
  const code = (err as { code?: string }).code;
  if (err instanceof TimeoutError || code === '57014') return new OpsbookError('TIMEOUT', `${OPS[op].statement} ${target} did not finish within its time limit and was cancelled.`, { cause: err });
  if (code === '55P03') {
    return new OpsbookError('CONFLICT', `${OPS[op].statement} ${target} could not get its lock within the lock timeout: the table is in use. Run it in the maintenance window, when the app is stopped.`, { cause: err });
  }
  if (code === '42501') return new OpsbookError('FORBIDDEN', `Opsbook's database role may not run ${OPS[op].statement} on ${target}: ${redactSecrets(messageOf(err)).slice(0, 200)}`, { cause: err });
  return new OpsbookError('DEPENDENCY_UNAVAILABLE', `${OPS[op].statement} ${target} failed: ${redactSecrets(messageOf(err)).slice(0, 200)}`, { cause: err });
}

async function resolveTarget(ctx: ActionContext, table: string | undefined) {
  if (table === undefined) {
    const { rows } = await ctx.deps.db.query<{ owned: number; not_owned: number; bytes: number }>(DATABASE_SQL);
    const r = rows[0]!;
    return { kind: 'database' as const, quoted: '', shown: 'the whole database', count: Number(r.owned), stats: { tables: Number(r.owned), notOwned: Number(r.not_owned), bytes: Number(r.bytes) } };
  }
  const resolved = await resolveTables(ctx.deps.db, [table], ['r', 'p', 'm']);
  if (!resolved.ok) {
    const problem = resolved.problems.join('; ');
    throw new OpsbookError(/: no table /.test(problem) ? 'NOT_FOUND' : 'BAD_REQUEST', `table: ${problem}`);
  }
  const t = resolved.tables[0]!;
  const { rows } = await ctx.deps.db.query<Record<string, unknown>>(STATS_SQL, [t.oid]);
  const r = rows[0]!;
  if (r.owned !== true) {
    // VACUUM and ANALYZE skip a table they may not maintain with a mere WARNING: refuse instead of answering "ok".
    throw new OpsbookError('FORBIDDEN', `Opsbook's database role does not own ${t.quoted}, so Postgres would skip it. Run this as the table's owner.`);
  }
  return {
    kind: 'table' as const,
    quoted: t.quoted,
    shown: t.quoted,
    count: 1,
    stats: {
      bytes: Number(r.bytes),
      liveRows: r.live_rows === null ? null : Number(r.live_rows),
      deadRows: r.dead_rows === null ? null : Number(r.dead_rows),
      indexes: Number(r.indexes),
      lastVacuum: iso(r.last_vacuum),
      lastAutovacuum: iso(r.last_autovacuum),
      lastAnalyze: iso(r.last_analyze),
      lastAutoanalyze: iso(r.last_autoanalyze),
    },
  };
}

/**
 * `POST /api/admin/db/maintenance` `{"op":"vacuum-analyze","table":"\"public\".\"Order Items\""}` — runbook
 * 001's weekly ANALYZE / VACUUM ANALYZE and monthly VACUUM FULL / REINDEX (002 and 004 too), and the
 * action behind the storage and integrity checks' hints. analyze and vacuum-analyze need operate and may
 * cover the whole database (no table); vacuum-full and reindex take exclusive locks, so they need admin,
 * the dry run's confirm token and a table: a whole-database VACUUM FULL or REINDEX locks every table in
 * turn for longer than a function may run, which is a job for psql in the maintenance window.
 * The table is parsed by Postgres' rules, looked up in the catalog, and only the catalog's name, quoted,
 * reaches SQL. VACUUM cannot run in a transaction, so the statement goes through `db.exec`, and the audit
 * row is written after it (its own statement; nothing to roll back).
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'db.maintenance',
  method: 'POST',
  path: '/api/admin/db/maintenance',
  role: 'operate',
  summary: 'ANALYZE or VACUUM ANALYZE a table or the database (operate); VACUUM FULL or REINDEX a table (admin, with confirm)',
  schema,
  // A heavy op without a table is refused (400) in `run`: no point asking for a confirm token first.
  confirm: (p) => OPS[p.op].heavy && p.table !== undefined,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const spec = OPS[params.op];
    if (spec.heavy && !roleAllows(ctx.actor.role, 'admin')) {
      throw new OpsbookError('FORBIDDEN', `${params.op} takes exclusive locks: it needs the admin role.`);
    }
    if (spec.heavy && params.table === undefined) {
      throw new OpsbookError('BAD_REQUEST', `${params.op} needs a table: a whole-database ${spec.statement} locks every table in turn and outlasts a function's time limit. Run it table by table.`);
    }
    const target = await resolveTarget(ctx, params.table);
    const text = target.kind === 'table' ? `${spec.statement} ${target.quoted}` : spec.statement;
    const size = bytes(target.stats.bytes);
    if (dryRun) {
      const scope = target.kind === 'table' ? `${target.shown} (${size})` : `${target.shown}: ${target.stats.tables} table(s) Opsbook's role owns (${size})`;
      const skipped = target.kind === 'database' && target.stats.notOwned ? `; ${target.stats.notOwned} table(s) owned by other roles would be skipped` : '';
      return {
        status: target.count ? 'ok' : 'noop',
        dryRun,
        summary: `Would run ${text} on ${scope}${skipped}. Lock: ${spec.lock}.${spec.heavy ? ' Run it in a maintenance window.' : ''}`,
        count: target.count,
        sample: [{ statement: text, table: target.kind === 'table' ? target.quoted : null, lock: spec.lock, ...target.stats }],
      };
    }
    const auditTarget = target.kind === 'table' ? `table:${target.quoted}` : 'database';
    const started = performance.now();
    try {
      await ctx.deps.db.exec(text, { statementTimeoutMs: Math.max(ctx.deps.env.OPSBOOK_STATEMENT_TIMEOUT_MS, spec.timeoutMs) });
    } catch (err) {
      const e = failure(err, params.op, target.shown);
      await auditAfter(ctx, { action: 'db.maintenance', target: auditTarget, params, before: target.stats, after: { statement: text, error: e.message.slice(0, 300) }, result: 'failed' }).catch(() => undefined);
      throw e;
    }
    const ms = Math.round(performance.now() - started);
    const auditId = await auditAfter(ctx, { action: 'db.maintenance', target: auditTarget, params, before: target.stats, after: { statement: text, ms }, result: 'ok' });
    return {
      status: 'ok',
      dryRun,
      summary: `${text} done in ${ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`}.`,
      count: target.count,
      sample: [{ statement: text, table: target.kind === 'table' ? target.quoted : null, ms }],
      auditId,
    };
  },
};
