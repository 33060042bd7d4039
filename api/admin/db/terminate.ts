import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/db/terminate — see lib/actions/db-terminate.ts. */
export const POST = adminRoute(actionById('db.terminate'));
