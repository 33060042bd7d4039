import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/queues/retry — see lib/actions/queues-retry.ts. */
export const POST = adminRoute(actionById('queues.retry'));
