import { adminRoute } from '../../lib/admin/handler.js';
import { actionById } from '../../lib/admin/registry.js';

/** POST /api/admin/maintenance — see lib/actions/maintenance-mode.ts. */
export const POST = adminRoute(actionById('maintenance.set'));
