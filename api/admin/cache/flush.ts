import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/cache/flush — see lib/actions/cache-flush.ts. */
export const POST = adminRoute(actionById('cache.flush'));
