import type { OpsbookConfig } from '../config/index.js';
import { createDb, type Db } from '../db/index.js';
import type { Deps } from '../deps.js';
import { registerSecretVariable } from '../env.js';

/** One client per diagnosed URL per instance, like deps.db: a warm instance keeps its pool. */
const clients = new Map<string, Promise<Db>>();

/**
 * The database Postgres checks and SQL metrics diagnose: Opsbook's own (DATABASE_URL) unless
 * `checks.postgres.databaseUrlEnv` names another. Returns a problem, not a throw, when the variable is
 * unset: the run still answers, and `postgres.reachable` says what to set.
 */
export async function diagnosedDb(deps: Deps, config: OpsbookConfig): Promise<{ db: Db; separate: boolean } | { problem: string }> {
  const name = config.checks.postgres.databaseUrlEnv;
  if (!name) return { db: deps.db, separate: false };
  registerSecretVariable(name);
  const url = process.env[name]?.trim();
  if (!url) return { problem: `checks.postgres.databaseUrlEnv names ${name}, which is not set in this environment` };
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) return { problem: `${name} must be a postgres:// or postgresql:// URL` };
  if (url === deps.env.DATABASE_URL) return { db: deps.db, separate: false };
  let db = clients.get(url);
  if (!db) {
    // The driver follows the URL (a Neon host → HTTP), with the same limits as Opsbook's own database.
    db = createDb({ ...deps.env, DATABASE_URL: url, DATABASE_DRIVER: undefined });
    db.catch(() => clients.delete(url));
    clients.set(url, db);
  }
  return { db: await db, separate: true };
}

/** Close the diagnosed databases' clients (tests, the local runner's shutdown). */
export async function closeDiagnosedDbs(): Promise<void> {
  const all = [...clients.values()];
  clients.clear();
  await Promise.allSettled(all.map(async (p) => (await p).close?.()));
}
