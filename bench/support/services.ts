/**
 * The real services the benchmarks run against (the same ones the tests use, and the same overrides),
 * and a scratch database per benchmark with Opsbook's schema in it, as a deployment has.
 */
import pg from 'pg';
import type { Db } from '../../lib/db/index.js';
import { ensureSchema } from '../../lib/db/schema.js';

export const PG_ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Added to every request by both local peers in the latency benchmark, standing in for the network. */
export const PEER_LATENCY_MS = 20;

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query(sql);
  } catch (err) {
    throw new Error(`PostgreSQL at ${PG_ADMIN_URL.replace(/\/\/[^@]*@/, '//')}: ${(err as Error).message}`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A fresh database named `name` (any leftover of an interrupted run is dropped first). Call
 * `migrate(db)` once a client for it exists: the health route reads Opsbook's tables (maintenance mode,
 * checklist runs), and against a database without them every such query fails, which is neither what a
 * deployment does nor what it costs.
 */
export async function createScratchDatabase(name: string): Promise<{ migrate(db: Db): Promise<void>; drop(): Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await admin(`CREATE DATABASE "${name}"`);
  return {
    migrate: (db) => ensureSchema(db),
    drop: () => admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
