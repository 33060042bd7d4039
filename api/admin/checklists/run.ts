import { action, provideChecklistRunner } from '../../../lib/actions/checklists-run.js';
import { adminRoute } from '../../../lib/admin/handler.js';
import { runChecklist } from '../../../lib/checklists/run.js';

// Only this function carries the checklist runner (see lib/actions/checklists-run.ts), and it takes its
// action straight from its file rather than through the registry: the registry pulls in every action
// (BullMQ, the user tables…), and with the runner beside them this function would pass the 10 MB budget.
// The action is still in lib/admin/registry.ts (the route-table test holds both to it).
provideChecklistRunner(runChecklist);

/** POST /api/admin/checklists/run — see lib/actions/checklists-run.ts. */
export const POST = adminRoute(action);
