import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/users/reinstate — see lib/actions/users-reinstate.ts. */
export const POST = adminRoute(actionById('users.reinstate'));
