import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/cache/delete — see lib/actions/cache-delete.ts. */
export const POST = adminRoute(actionById('cache.delete'));
