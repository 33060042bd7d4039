import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/users/delete — see lib/actions/users-delete.ts. */
export const POST = adminRoute(actionById('users.delete'));
