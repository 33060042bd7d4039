import pg from 'pg';
import { Redis } from 'ioredis';
import { PG_ADMIN_URL, REDIS_URL } from './services.js';

/**
 * Fail fast, with the fix, when the real services are missing: every Postgres- or Redis-facing test
 * needs them and a timeout per test would bury the cause.
 */
export default async function setup(): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const { rows } = await client.query<{ s: string }>("SELECT current_setting('shared_preload_libraries') AS s");
    if (!rows[0]?.s.split(',').map((x) => x.trim()).includes('pg_stat_statements')) {
      throw new Error(
        'pg_stat_statements is not in shared_preload_libraries. Run `bash .ci/run` once (it sets it and restarts Postgres), or: ' +
          `psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'" and restart Postgres.`,
      );
    }
    // Leftovers of an interrupted earlier run: only those older than two hours, so a suite running
    // beside this one (another checkout on the same machine) keeps its databases.
    const stale = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname ~ '^opsbook_t_[0-9]+_'");
    const cutoff = Date.now() / 1000 - 2 * 3600;
    for (const { datname } of stale.rows) {
      if (Number(datname.split('_')[2]) < cutoff) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    }
  } catch (err) {
    throw new Error(`PostgreSQL is not usable at ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}. Start it (see .ci/run).`);
  } finally {
    redis.disconnect();
  }
}
