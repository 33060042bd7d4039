import { errored, ok, topN, warn } from '../checks/outcome.js';
import type { CheckOutcome } from '../checks/types.js';
import { budget, errorText, quoteQualified, resolveTables, took, type CatalogTable } from './identifiers.js';
import type { TaskContext } from './types.js';

/**
 * What ANALYZE and VACUUM (ANALYZE) share: pick the tables (named ones, checked against the catalog, or
 * every table this role may maintain), then one statement per table through `db.exec` (outside a
 * transaction block, as VACUUM requires, with the task's remaining time as its statement timeout),
 * a progress line per table, and a stop before the time limit.
 */

/** Rows shown in an outcome; the rest are counted in `more`. */
const SHOWN = 20;

/** Relations maintained: tables, partitioned tables (which recurse into their partitions), materialized views. */
const KINDS = ['r', 'p', 'm'] as const;

/**
 * The whole database: every table the current role owns (or is a member of the owner of; a superuser
 * owns everything), outside the system schemas. Partitions are reached through their parent. Ordered by
 * need so the time budget goes where it matters first.
 */
const LIST_SQL = (orderBy: 'dead' | 'mods') => `SELECT c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       pg_has_role(c.relowner, 'USAGE') AS owned,
       COALESCE(s.n_dead_tup, 0)::float8 AS dead, COALESCE(s.n_mod_since_analyze, 0)::float8 AS mods
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast\\_temp\\_%'
ORDER BY ${orderBy} DESC, n.nspname, c.relname`;

export interface MaintenanceSpec {
  /** "ANALYZE" or "VACUUM (ANALYZE)": the statement, before the table name. */
  statement: string;
  /** Past tense for summaries: "analyzed", "vacuumed and analyzed". */
  done: string;
  /** Which statistic orders the whole-database list. */
  orderBy: 'dead' | 'mods';
}

export async function runMaintenance(ctx: TaskContext, tables: string[] | undefined, spec: MaintenanceSpec): Promise<CheckOutcome> {
  const time = budget(ctx.timeoutMs);
  const { db } = ctx.deps;
  const progress = ctx.progress ?? (() => undefined);

  let targets: CatalogTable[];
  let notOwned = 0;
  if (tables && tables.length > 0) {
    const resolved = await resolveTables(db, tables, [...KINDS]);
    if (!resolved.ok) return errored(`nothing was done: ${resolved.problems.join('; ')}`, { details: resolved.problems.map((problem) => ({ problem })) });
    targets = resolved.tables;
  } else {
    const [res] = await db.batch([{ text: LIST_SQL(spec.orderBy) }]);
    targets = [];
    for (const r of res!.rows) {
      if (r.owned !== true) {
        notOwned++;
        continue;
      }
      const t = { oid: String(r.oid), schema: String(r.schema), name: String(r.name), relkind: String(r.relkind) as CatalogTable['relkind'] };
      targets.push({ ...t, quoted: quoteQualified(t) });
    }
  }
  const scope = tables && tables.length > 0 ? '' : ' (whole database)';
  const skippedNote = notOwned ? `; ${notOwned} table(s) owned by other roles skipped` : '';

  if (targets.length === 0) return ok(`no tables to ${spec.statement}${scope}${skippedNote}`, { value: 0, unit: 'tables' });

  if (ctx.dryRun) {
    const shown = topN(targets.map((t) => ({ table: t.quoted, statement: `${spec.statement} ${t.quoted}` })), SHOWN);
    return ok(`dry run: would run ${spec.statement} on ${targets.length} table(s)${scope}, one at a time${skippedNote}`, {
      value: targets.length,
      unit: 'tables',
      ...shown,
    });
  }

  const done: Array<{ table: string; ms: number }> = [];
  const failed: Array<{ table: string; error: string }> = [];
  let notReached: CatalogTable[] = [];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!;
    if (!time.canStart()) {
      notReached = targets.slice(i);
      break;
    }
    const started = performance.now();
    try {
      // The name is the catalog's own, quoted: never the config's text.
      await db.exec(`${spec.statement} ${t.quoted}`, { statementTimeoutMs: time.remainingMs() });
      const ms = Math.round(performance.now() - started);
      done.push({ table: t.quoted, ms });
      progress(`${spec.statement} ${t.quoted}: ${took(ms)} (${i + 1}/${targets.length})`);
    } catch (err) {
      failed.push({ table: t.quoted, error: errorText(err) });
      progress(`${spec.statement} ${t.quoted}: failed (${i + 1}/${targets.length})`);
    }
  }

  const elapsed = took(time.elapsedMs());
  const head = `${spec.done} ${done.length} of ${targets.length} table(s)${scope} in ${elapsed}`;
  const extra = { value: done.length, unit: 'tables' };
  if (failed.length || notReached.length) {
    const rows = [
      ...failed.map((f) => ({ table: f.table, result: 'failed', error: f.error })),
      ...notReached.map((t) => ({ table: t.quoted, result: 'not reached (time limit)' })),
      ...done.map((d) => ({ table: d.table, result: 'done', ms: d.ms })),
    ];
    const why = [failed.length ? `${failed.length} failed (${failed[0]!.table}: ${failed[0]!.error})` : '', notReached.length ? `${notReached.length} not reached before the time limit` : '']
      .filter(Boolean)
      .join(', ');
    const make = done.length === 0 && failed.length > 0 ? errored : warn;
    return make(`${head}; ${why}${skippedNote}`, { ...extra, ...topN(rows, SHOWN) });
  }
  return ok(`${head}${skippedNote}`, { ...extra, ...topN(done.map((d) => ({ table: d.table, ms: d.ms })), SHOWN) });
}
