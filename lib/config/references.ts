import type { OpsbookConfig } from './schema.js';
import { allChecks, FAMILIES } from '../checks/registry.js';
import { listedFamilyOf } from '../checks/listed-families.js';
import { selects } from '../diagnostics/run.js';

/**
 * Problems the schema cannot see: checklist items naming checks that do not exist. Shared by
 * check-config, the runner's start and every function's cold start (through getConfig), so a config
 * check-config rejects is never served. It loads the check registry, so lib/config/index.ts imports it
 * lazily.
 */
export function referenceProblems(config: OpsbookConfig): string[] {
  const checks = allChecks(config);
  const problems: string[] = [];
  config.checklists.forEach((list, i) => {
    list.items.forEach((item, j) => {
      const sel = (item as { check?: unknown }).check;
      if (typeof sel !== 'string' || 'task' in item) return;
      // A listed family with nothing listed yet (`sql` before any checks.sqlMetrics) is known: the run reports it as not configured.
      const known = checks.some((c) => selects(sel, c)) || FAMILIES.some((f) => f.family === sel || f.family.startsWith(`${sel}.`)) || listedFamilyOf(sel) !== undefined;
      if (!known) problems.push(`checklists.${i}.items.${j}.check: no check or family "${sel}"`);
    });
  });
  return problems;
}
