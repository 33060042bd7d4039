import { adminRoute } from '../../lib/admin/handler.js';
import { actionById } from '../../lib/admin/registry.js';

/** GET /api/admin/flags (read) and POST /api/admin/flags (operate) — see lib/actions/flags.ts. */
export const GET = adminRoute(actionById('flags.get'));
export const POST = adminRoute(actionById('flags.set'));
