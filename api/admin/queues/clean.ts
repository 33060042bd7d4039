import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/queues/clean — see lib/actions/queues-clean.ts. */
export const POST = adminRoute(actionById('queues.clean'));
