import { allChecks } from '../../../lib/checks/registry.js';
import type { OpsbookConfig } from '../../../lib/config/index.js';
import { selects } from '../../../lib/diagnostics/run.js';

/**
 * COVERAGE.md, as data: each runbook item (its text copied verbatim from the table in
 * /work/shared/runbooks/COVERAGE.md) and the config entries that cover it. `coverageProblems` checks that
 * every entry named exists in the config and, for checks, tasks and heartbeats, that a checklist runs it.
 */
export type Cover =
  /** A check id or family the config defines, run by at least one checklist. */
  | { check: string }
  /** A task item in some checklist (in checklist `in` when given), with these params when given; `table` is one of its `tables`. */
  | { task: string; table?: string; olderThanDays?: number; in?: string }
  /** A configured heartbeat whose check a checklist runs; with rpoSeconds, exactly that RPO. */
  | { heartbeat: string; rpoSeconds?: number }
  /** A manual checklist item whose text matches. */
  | { manual: RegExp }
  /** A value of the app schema mapping, e.g. `users.columns.suspendedAt` = `suspendedAt`. */
  | { app: string; is: string }
  /** A variable in checks.requiredEnv. */
  | { env: string }
  /** An admin endpoint (no config entry beyond `app`): listed for completeness, nothing to assert. */
  | { action: string }
  /** Something the config states in a threshold: `checks.postgres.thresholds.longRunningSeconds` = 300. */
  | { setting: string; is: unknown }
  /** A checklist on exactly this schedule, e.g. `{ type: 'nth-weekday', nth: 2, weekday: 'mon', at: '10:00' }`. */
  | { schedule: Record<string, unknown> };

export interface CoverageRow {
  /** The item, verbatim from COVERAGE.md. */
  item: string;
  /** Its kind there: check, action, task, heartbeat, manual (or a combination). */
  kind: string;
  by: Cover[];
}

function at(root: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), root);
}

export function coverageProblems(config: OpsbookConfig, rows: CoverageRow[]): string[] {
  const checks = allChecks(config);
  const items = config.checklists.flatMap((l) => l.items.map((item) => ({ list: l.id, item: item as Record<string, unknown> })));
  const checkItems = items.filter((i) => typeof i.item.check === 'string' && !('task' in i.item)).map((i) => String(i.item.check));
  const runs = (checkId: string) => checkItems.some((sel) => checks.some((c) => c.id === checkId && selects(sel, c)));
  const problems: string[] = [];
  for (const row of rows) {
    if (row.by.length === 0) problems.push(`"${row.item}": nothing covers it`);
    for (const cover of row.by) {
      const where = `"${row.item}" → ${JSON.stringify(cover, (_k, v) => (v instanceof RegExp ? String(v) : v))}`;
      if ('check' in cover) {
        const matched = checks.filter((c) => selects(cover.check, c));
        if (matched.length === 0) problems.push(`${where}: no such check in the config`);
        else if (!matched.some((c) => runs(c.id))) problems.push(`${where}: no checklist runs it`);
      } else if ('task' in cover) {
        const found = items.some(
          (i) =>
            i.item.task === cover.task &&
            (cover.in === undefined || i.list === cover.in) &&
            (cover.table === undefined || (Array.isArray(i.item.tables) && i.item.tables.includes(cover.table))) &&
            (cover.olderThanDays === undefined || i.item.olderThanDays === cover.olderThanDays),
        );
        if (!found) problems.push(`${where}: no such task item`);
      } else if ('heartbeat' in cover) {
        const h = config.heartbeats.find((x) => x.name === cover.heartbeat);
        if (!h) problems.push(`${where}: no such heartbeat`);
        else if (cover.rpoSeconds !== undefined && h.rpoSeconds !== cover.rpoSeconds) problems.push(`${where}: rpoSeconds is ${h.rpoSeconds}`);
        else if (!runs(`heartbeat.${cover.heartbeat}`)) problems.push(`${where}: no checklist checks it`);
      } else if ('manual' in cover) {
        if (!items.some((i) => typeof i.item.manual === 'string' && cover.manual.test(i.item.manual))) problems.push(`${where}: no such manual item`);
      } else if ('app' in cover) {
        const v = at(config.app, cover.app);
        if (v !== cover.is) problems.push(`${where}: app.${cover.app} is ${JSON.stringify(v)}`);
      } else if ('env' in cover) {
        if (!config.checks.requiredEnv.includes(cover.env)) problems.push(`${where}: not in checks.requiredEnv`);
        else if (!runs('env.required')) problems.push(`${where}: no checklist runs env.required`);
      } else if ('schedule' in cover) {
        if (!config.checklists.some((l) => JSON.stringify(l.schedule) === JSON.stringify(cover.schedule))) problems.push(`${where}: no checklist on that schedule`);
      } else if ('setting' in cover) {
        const v = at(config, cover.setting);
        if (JSON.stringify(v) !== JSON.stringify(cover.is)) problems.push(`${where}: ${cover.setting} is ${JSON.stringify(v)}`);
      }
    }
  }
  return problems;
}
