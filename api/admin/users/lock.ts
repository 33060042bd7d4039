import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/users/lock — see lib/actions/users-lock.ts. */
export const POST = adminRoute(actionById('users.lock'));
