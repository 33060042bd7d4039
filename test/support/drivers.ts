import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNeonDb } from '../../lib/db/neon.js';
import { createPgDb } from '../../lib/db/pg.js';
import { createPgliteDb } from '../../lib/db/pglite.js';
import type { Db, DbDriver, DbLimits } from '../../lib/db/types.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import type { RedisClient, RedisDriver } from '../../lib/redis/types.js';
import { startNeonPeer, type NeonPeer } from '../peers/neon-http.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { createTestDatabase, type TestDatabase } from './pg.js';
import { PG_ADMIN_URL, REDIS_URL } from './services.js';

export const DEFAULT_LIMITS: DbLimits = { statementTimeoutMs: 5000, lockTimeoutMs: 2000, callTimeoutMs: 8000 };

export interface DbHarness {
  driver: DbDriver;
  db: Db;
  /** The real Postgres database behind it (for the server drivers). */
  database?: TestDatabase;
  neon?: NeonPeer;
  close(): Promise<void>;
}

/**
 * One Db per driver over real Postgres: node-postgres directly, Neon's HTTP driver through the local
 * Neon peer, and PGlite in memory. Postgres-facing tests run `describe.each(DB_DRIVERS)`.
 */
export const DB_DRIVERS: DbDriver[] = ['pg', 'neon', 'pglite'];

export async function openDb(driver: DbDriver, limits: Partial<DbLimits> = {}): Promise<DbHarness> {
  const l = { ...DEFAULT_LIMITS, ...limits };
  if (driver === 'pglite') {
    const dir = mkdtempSync(join(tmpdir(), 'opsbook-pglite-'));
    const db = createPgliteDb(dir, l, { memory: true });
    return {
      driver,
      db,
      async close() {
        await db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const database = await createTestDatabase();
  if (driver === 'pg') {
    const db = createPgDb(database.url, l);
    return { driver, db, database, close: async () => (await db.close(), await database.drop()) };
  }
  const neon = await startNeonPeer({ upstream: PG_ADMIN_URL });
  const db = createNeonDb(neon.connectionString(database.name, 'postgres'), l, { fetchEndpoint: neon.fetchEndpoint });
  return {
    driver,
    db,
    database,
    neon,
    async close() {
      await db.close();
      await neon.close();
      await database.drop();
    },
  };
}

export interface RedisHarness {
  driver: RedisDriver;
  redis: RedisClient;
  upstash?: UpstashPeer;
  close(): Promise<void>;
}

export const REDIS_DRIVERS: RedisDriver[] = ['tcp', 'upstash', 'memory'];

export async function openRedis(driver: RedisDriver, callTimeoutMs = 5000): Promise<RedisHarness> {
  if (driver === 'memory') {
    const redis = createMemoryRedis();
    return { driver, redis, close: () => redis.close() };
  }
  if (driver === 'tcp') {
    const redis = createTcpRedis(REDIS_URL, { callTimeoutMs });
    return { driver, redis, close: () => redis.close() };
  }
  const upstash = await startUpstashPeer({ upstream: REDIS_URL });
  const redis = createUpstashRedis(upstash.url, upstash.token, { callTimeoutMs });
  return { driver, redis, upstash, close: async () => (await redis.close(), await upstash.close()) };
}
