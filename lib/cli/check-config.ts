import { existsSync, readFileSync } from 'node:fs';
import type { OpsbookConfig } from '../config/index.js';
import { allChecks } from '../checks/registry.js';
import { referenceProblems } from '../config/references.js';
import { describeSchedule, toVercelCron } from '../checklists/schedule.js';
import { vercelJsonDrift } from '../checklists/vercel-json.js';

// One definition for check-config, the runner's start and every function's cold start.
export { referenceProblems } from '../config/references.js';

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
    out(`  checklist ${list.id}: ${list.title} — ${describeSchedule(list.schedule)} (${toVercelCron(list.schedule) === undefined ? 'no vercel cron: run it with `opsbook run` or POST /api/admin/checklists/run' : `vercel cron "${toVercelCron(list.schedule)}"`}), ${list.items.length} items, notify ${list.notify}`);
  }
  return 0;
}
