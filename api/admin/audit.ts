import { adminRoute } from '../../lib/admin/handler.js';
import { actionById } from '../../lib/admin/registry.js';

/** GET /api/admin/audit — see lib/actions/audit-query.ts. */
export const GET = adminRoute(actionById('audit.query'));
