import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../db/index.js';
import { ensureSchema } from '../db/schema.js';
import type { Principal, Role, TokenResolver } from '../auth.js';
import { bootstrapResolver } from '../auth.js';
import type { Env } from '../env.js';
import { OpsbookError } from '../errors.js';

/** `ops_` + 32 random bytes (256 bits) in base64url. Only its SHA-256 is stored. */
export function generateToken(): string {
  return `ops_${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The part shown in lists, enough to recognise a token, useless to use it. */
export function tokenPrefix(token: string): string {
  return token.slice(0, 10);
}

export interface StoredToken {
  id: number;
  name: string;
  role: Role;
  prefix: string;
  createdAt: string;
  revokedAt?: string;
}

/** Create a token; the plain value is returned once and never stored. */
export async function createToken(db: Db, input: { name: string; role: Role; createdBy: string }): Promise<{ token: string; stored: StoredToken }> {
  await ensureSchema(db);
  const token = generateToken();
  const { rows } = await db.query<{ id: string; created_at: string }>(
    `INSERT INTO opsbook.tokens (name, role, hash, prefix, created_by) VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
    [input.name, input.role, hashToken(token), tokenPrefix(token), input.createdBy],
  );
  const row = rows[0]!;
  return { token, stored: { id: Number(row.id), name: input.name, role: input.role, prefix: tokenPrefix(token), createdAt: new Date(row.created_at).toISOString() } };
}

/**
 * Stored tokens behind the bootstrap one. Lookup is by hash (an index probe; the hash of a wrong token
 * matches nothing), and a revoked token is refused at once: there is no cache to outlive a revocation.
 */
export function storedTokenResolver(db: Db, env: Pick<Env, 'OPSBOOK_ADMIN_TOKEN'>): TokenResolver {
  const bootstrap = bootstrapResolver(env);
  return async (token) => {
    const boot = await bootstrap(token);
    if (boot) return boot;
    if (!/^ops_[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
    let rows: Array<{ id: string; name: string; role: Role }>;
    try {
      ({ rows } = await db.query<{ id: string; name: string; role: Role }>(
        `UPDATE opsbook.tokens SET last_used_at = now() WHERE hash = $1 AND revoked_at IS NULL RETURNING id, name, role`,
        [hashToken(token)],
      ));
    } catch (err) {
      // No token table yet: no stored token can exist.
      if ((err as { code?: string }).code === '42P01') return undefined;
      throw new OpsbookError('DEPENDENCY_UNAVAILABLE', 'Cannot check the token: the database is unavailable.', { cause: err });
    }
    const row = rows[0];
    return row ? ({ id: `token:${row.id}`, name: row.name, role: row.role, via: 'token' } satisfies Principal) : undefined;
  };
}
