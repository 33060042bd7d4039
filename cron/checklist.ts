import type { OpsbookConfig } from '../lib/config/index.js';
import type { Deps } from '../lib/deps.js';
import { runChecklist, type ChecklistRunResult } from '../lib/checklists/run.js';

/**
 * The scheduled job behind every checklist: `GET /api/cron/<checklist id>` on its vercel.json schedule.
 * Not due today, already claimed, or run: each is a 200 with the reason, because Vercel does not retry.
 */
export function runChecklistJob(deps: Deps, config: OpsbookConfig, id: string, now: Date): Promise<ChecklistRunResult> {
  return runChecklist(deps, config, id, now, { mode: 'scheduled' });
}
