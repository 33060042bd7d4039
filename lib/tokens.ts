import { bootstrapResolver, type TokenResolver } from './auth.js';
import type { Deps } from './deps.js';

/**
 * How a request's token becomes a principal. For now only the bootstrap OPSBOOK_ADMIN_TOKEN exists;
 * stored tokens (hashed, with roles) plug in here without touching any route.
 */
export function resolverFor(deps: Pick<Deps, 'env'>): TokenResolver {
  return bootstrapResolver(deps.env);
}
