import type { TokenResolver } from './auth.js';
import type { Deps } from './deps.js';
import { storedTokenResolver } from './admin/tokens.js';

/**
 * How a request's token becomes a principal: the bootstrap OPSBOOK_ADMIN_TOKEN first, then the stored
 * tokens (hashed, with roles, revocable at once; see lib/admin/tokens.ts). Every non-admin route that
 * needs a role (diagnostics, reports, heartbeats) resolves through here, admin routes through the same
 * stored resolver in lib/admin/handler.ts.
 */
export function resolverFor(deps: Pick<Deps, 'env' | 'db'>): TokenResolver {
  return storedTokenResolver(deps.db, deps.env);
}
