import { provideChecklistRunner } from '../../../lib/actions/checklists-run.js';
import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';
import { runChecklist } from '../../../lib/checklists/run.js';

// Only this function carries the checklist runner (see lib/actions/checklists-run.ts).
provideChecklistRunner(runChecklist);

/** POST /api/admin/checklists/run — see lib/actions/checklists-run.ts. */
export const POST = adminRoute(actionById('checklists.run'));
