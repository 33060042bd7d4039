import type { Env } from '../env.js';
import type { Db, DbDriver, DbLimits } from './types.js';

export type { BatchOptions, Db, DbDriver, DbLimits, QueryResult, Row, Statement } from './types.js';

/** Neon hosts are `*.neon.tech` (and the `*.neon.build` staging ones); their HTTP endpoint sits beside them. */
export function isNeonUrl(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return /\.neon\.(tech|build)$/i.test(host);
  } catch {
    return false;
  }
}

/** Which driver the environment selects. */
export function selectDriver(env: Pick<Env, 'DATABASE_URL' | 'DATABASE_DRIVER'>): DbDriver {
  if (env.DATABASE_DRIVER) return env.DATABASE_DRIVER;
  if (!env.DATABASE_URL) return 'pglite';
  return isNeonUrl(env.DATABASE_URL) ? 'neon' : 'pg';
}

export function limitsFromEnv(env: Env): DbLimits {
  return {
    statementTimeoutMs: env.OPSBOOK_STATEMENT_TIMEOUT_MS,
    lockTimeoutMs: env.OPSBOOK_LOCK_TIMEOUT_MS,
    callTimeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS,
  };
}

/**
 * The database the environment names. Drivers are imported on demand so a Neon deployment never loads
 * pg or PGlite, and the other way round.
 */
export async function createDb(env: Env, opts: { owner?: string } = {}): Promise<Db> {
  const limits = limitsFromEnv(env);
  const driver = selectDriver(env);
  switch (driver) {
    case 'neon': {
      const { createNeonDb } = await import('./neon.js');
      return createNeonDb(env.DATABASE_URL!, limits, { fetchEndpoint: env.NEON_FETCH_ENDPOINT });
    }
    case 'pg': {
      const { createPgDb } = await import('./pg.js');
      return createPgDb(env.DATABASE_URL!, limits);
    }
    case 'pglite': {
      const { createPgliteDb } = await import('./pglite.js');
      // `owner` names this process in the folder's lock, for the message a second process gets.
      return createPgliteDb(env.OPSBOOK_DATA_DIR, limits, { owner: opts.owner });
    }
  }
}
