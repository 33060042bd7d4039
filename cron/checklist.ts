import type { OpsbookConfig } from '../lib/config/index.js';
import type { Deps } from '../lib/deps.js';
import { messageOf } from '../lib/errors.js';
import { redactSecrets } from '../lib/env.js';
import { runChecklist, takeOverDeadRuns, type ChecklistRunResult, type TakenOver } from '../lib/checklists/run.js';

export type ChecklistJobResult = ChecklistRunResult & { takenOver?: TakenOver[] };

/**
 * The scheduled job behind every checklist: `GET /api/cron/<checklist id>` on its vercel.json schedule.
 * Not due today, already claimed, or run: each is a 200 with the reason, because Vercel does not retry.
 * After its own run it takes over the dead runs of other checklists (a process killed mid-run leaves its
 * run `running`; a daily cron has no later call that day, so this invocation is the next chance).
 */
export async function runChecklistJob(deps: Deps, config: OpsbookConfig, id: string, now: Date): Promise<ChecklistJobResult> {
  const result = await runChecklist(deps, config, id, now, { mode: 'scheduled' });
  const takenOver = await takeOverDeadRuns(deps, config, now, id).catch((err) => {
    deps.log('warn', `dead-run takeover skipped: ${redactSecrets(messageOf(err))}`);
    return [];
  });
  return takenOver.length ? { ...result, takenOver } : result;
}
