import { adminRoute } from '../../lib/admin/handler.js';
import { actionById } from '../../lib/admin/registry.js';

/** POST /api/admin/tokens — see lib/actions/tokens-create.ts. */
export const POST = adminRoute(actionById('tokens.create'));
