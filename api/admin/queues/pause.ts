import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/queues/pause — see lib/actions/queues-pause.ts. */
export const POST = adminRoute(actionById('queues.pause'));
