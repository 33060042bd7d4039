import { adminRoute } from '../../../lib/admin/handler.js';
import { actionById } from '../../../lib/admin/registry.js';

/** POST /api/admin/api-keys/revoke — see lib/actions/api-keys-revoke.ts. */
export const POST = adminRoute(actionById('api-keys.revoke'));
