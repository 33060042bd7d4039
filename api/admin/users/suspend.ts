import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/users/suspend — see lib/actions/users-suspend.ts. */
export const POST = adminRoute(actionById('users.suspend'));
