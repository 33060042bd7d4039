import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/tokens/revoke — see lib/actions/tokens-revoke.ts. */
export const POST = adminRoute(actionById('tokens.revoke'));
