import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/checklists/run — see lib/actions/checklists-run.ts. */
export const POST = adminRoute(actionById('checklists.run'));
