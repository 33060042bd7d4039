import { adminRoute } from '../../lib/admin/handler.js';
import { actionById } from '../../lib/admin/registry.js';

/** GET /api/admin/users?email=… or ?id=… — see lib/actions/users-lookup.ts. */
export const GET = adminRoute(actionById('users.lookup'));
