import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';
import { postgresProblem, startPgCluster, type PgCluster } from './pg-cluster.js';
import { PG_ADMIN_URL, REDIS_URL } from './services.js';

/**
 * The suite needs a Postgres with pg_stat_statements preloaded and a superuser, and Redis. When the
 * configured Postgres (TEST_DATABASE_URL, else the system one on 127.0.0.1:5432) lacks either, the
 * suite starts its own throwaway cluster (test/support/pg-cluster.ts) and points every worker at it:
 * `npm test` passes on a fresh machine, and the system server is never reconfigured or restarted.
 * Redis missing is a clear failure with the command that starts it.
 */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  // The CLI tests spawn bin/opsbook.js, which runs the compiled CLI: build it once here, so parallel
  // files never each rebuild a stale one.
  const built = spawnSync(process.execPath, [fileURLToPath(new URL('../../bin/build.mjs', import.meta.url))], { encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`compiling the CLI failed: ${built.stderr || built.stdout}`);
  const problem = await postgresProblem(PG_ADMIN_URL);
  let cluster: PgCluster | undefined;
  if (problem) {
    console.log(`[test] ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')}: ${problem}; the suite uses its own PostgreSQL instead.`);
    cluster = await startPgCluster();
    process.env.TEST_DATABASE_URL = cluster.url;
    const still = await postgresProblem(cluster.url);
    if (still) {
      await cluster.stop();
      throw new Error(`the throwaway PostgreSQL is not usable either: ${still}`);
    }
  } else {
    await dropStaleDatabases(PG_ADMIN_URL);
  }
  const redis = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    await cluster?.stop();
    throw new Error(
      `Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}. Start it (redis-server --daemonize yes --port 6379 --save ""), or set TEST_REDIS_URL.`,
    );
  } finally {
    redis.disconnect();
  }
  return cluster ? () => cluster.stop() : undefined;
}

/**
 * Leftovers of an interrupted earlier run: only those older than two hours, so a suite running beside
 * this one (another checkout on the same machine) keeps its databases.
 */
async function dropStaleDatabases(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    const stale = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname ~ '^opsbook_t_[0-9]+_'");
    const cutoff = Date.now() / 1000 - 2 * 3600;
    for (const { datname } of stale.rows) {
      if (Number(datname.split('_')[2]) < cutoff) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
