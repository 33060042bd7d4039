import { existsSync, readFileSync } from 'node:fs';
import type { OpsbookConfig } from '../config/index.js';
import { allChecks, FAMILIES } from '../checks/registry.js';
import { selects } from '../diagnostics/run.js';
import { describeSchedule, toVercelCron } from '../checklists/schedule.js';
import { vercelJsonDrift } from '../checklists/vercel-json.js';

/** Problems the schema cannot see: checklist items naming checks that do not exist. */
export function referenceProblems(config: OpsbookConfig): string[] {
  const checks = allChecks(config);
  const problems: string[] = [];
  config.checklists.forEach((list, i) => {
    list.items.forEach((item, j) => {
      const sel = (item as { check?: unknown }).check;
      if (typeof sel !== 'string' || 'task' in item) return;
      const known = checks.some((c) => selects(sel, c)) || FAMILIES.some((f) => f.family === sel || f.family.startsWith(`${sel}.`));
      if (!known) problems.push(`checklists.${i}.items.${j}.check: no check or family "${sel}"`);
    });
  });
  return problems;
}

export interface CheckConfigOptions {
  /** The vercel.json whose crons must match the config; a project without one (no Vercel) skips the comparison. */
  vercelJsonPath?: string;
}

export async function checkConfigCommand(config: OpsbookConfig, path: string, out: (l: string) => void, opts: CheckConfigOptions = {}): Promise<number> {
  const problems = referenceProblems(config);
  if (opts.vercelJsonPath && existsSync(opts.vercelJsonPath)) problems.push(...vercelJsonDrift(config, readFileSync(opts.vercelJsonPath, 'utf8')));
  if (problems.length) {
    out(`${path}: invalid\n  - ${problems.join('\n  - ')}`);
    return 1;
  }
  const checks = allChecks(config);
  out(`${path}: valid — ${config.service}`);
  out(`  ${checks.length} checks: ${checks.map((c) => c.id).join(', ')}`);
  for (const list of config.checklists) {
    out(`  checklist ${list.id}: ${list.title} — ${describeSchedule(list.schedule)} (vercel cron "${toVercelCron(list.schedule)}"), ${list.items.length} items, notify ${list.notify}`);
  }
  return 0;
}
