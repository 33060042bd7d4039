import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/db/maintenance — see lib/actions/db-maintenance.ts. */
export const POST = adminRoute(actionById('db.maintenance'));
