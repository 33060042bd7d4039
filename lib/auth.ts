import { createHash, timingSafeEqual } from 'node:crypto';
import type { Env } from './env.js';
import { OpsbookError } from './errors.js';

/**
 * Roles, weakest first. `heartbeat` only pings; `read` sees diagnostics, reports and audit; `operate`
 * runs single-target actions; `admin` runs bulk and destructive ones. The bootstrap token is admin.
 */
export const ROLES = ['heartbeat', 'read', 'operate', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  /**
   * What the principal is, for binding state to it (confirm tokens, idempotency keys, per-token limits):
   * `token:<row id>` for a stored token, `bootstrap` for OPSBOOK_ADMIN_TOKEN. Unlike the name, it is
   * never reused: a new token created with a revoked one's name is another principal. Absent only for
   * callers that are not HTTP tokens (the CLI); see `principalId`.
   */
  id?: string;
  /** Token name, for the audit log. Never the token itself. */
  name: string;
  role: Role;
  via: 'bootstrap' | 'token';
}

/** `heartbeat` is a separate capability, not a weaker `read`: only admin implies it. */
export function roleAllows(held: Role, needed: Role): boolean {
  if (held === needed || held === 'admin') return true;
  if (needed === 'heartbeat') return false;
  if (held === 'heartbeat') return false;
  return ROLES.indexOf(held) >= ROLES.indexOf(needed);
}

/**
 * Constant-time comparison of two secrets of any length: both are hashed first, so neither the
 * contents nor the length of the expected value leaks through timing.
 */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The Bearer token of a request. Tokens are accepted only in the Authorization header, never in a URL. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get('authorization');
  const match = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return match?.[1];
}

/** The id state is bound to: the token's id, or, for a principal without one (the CLI), its kind and name. */
export function principalId(p: Principal): string {
  return p.id ?? `${p.via}:${p.name}`;
}

/** Looks up a token; later issues add stored tokens behind this same signature. */
export type TokenResolver = (token: string) => Promise<Principal | undefined>;

/** The bootstrap resolver: OPSBOOK_ADMIN_TOKEN is an admin named "bootstrap". */
export function bootstrapResolver(env: Pick<Env, 'OPSBOOK_ADMIN_TOKEN'>): TokenResolver {
  return async (token) =>
    env.OPSBOOK_ADMIN_TOKEN && safeEqual(token, env.OPSBOOK_ADMIN_TOKEN)
      ? { id: 'bootstrap', name: 'bootstrap', role: 'admin', via: 'bootstrap' }
      : undefined;
}

/** The caller, or undefined when there is no valid token. Never throws for a bad token. */
export async function identify(request: Request, resolve: TokenResolver): Promise<Principal | undefined> {
  const token = bearerToken(request);
  if (!token) return undefined;
  return resolve(token);
}

/** 401 without a valid token, 403 with a token whose role is too weak. */
export async function requireRole(request: Request, resolve: TokenResolver, needed: Role): Promise<Principal> {
  const principal = await identify(request, resolve);
  if (!principal) {
    throw new OpsbookError('UNAUTHORIZED', 'A valid Bearer token is required.', { headers: { 'www-authenticate': 'Bearer' } });
  }
  if (!roleAllows(principal.role, needed)) {
    throw new OpsbookError('FORBIDDEN', `This route needs the ${needed} role.`);
  }
  return principal;
}

/**
 * Vercel cron calls carry `Authorization: Bearer <CRON_SECRET>`. Anything else is refused; with no
 * CRON_SECRET configured every call is refused, and the reason is logged for the operator.
 */
export function verifyCronSecret(request: Request, env: Pick<Env, 'CRON_SECRET' | 'VERCEL_ENV'>, log: (msg: string) => void): void {
  if (!env.CRON_SECRET) {
    log(
      env.VERCEL_ENV === 'production'
        ? 'CRON_SECRET is not set in production: refusing every cron call. Set it in the Vercel project settings.'
        : 'CRON_SECRET is not set: refusing cron calls. Set it (npm start generates one for local runs).',
    );
    throw new OpsbookError('UNAUTHORIZED', 'Cron calls must carry the cron secret.');
  }
  const token = bearerToken(request);
  if (!token || !safeEqual(token, env.CRON_SECRET)) {
    throw new OpsbookError('UNAUTHORIZED', 'Cron calls must carry the cron secret.');
  }
}
