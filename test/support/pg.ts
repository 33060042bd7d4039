import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PG_ADMIN_URL, pgUrlFor } from './services.js';

export interface TestDatabase {
  name: string;
  /** postgres:// URL of the new database, as the postgres superuser. */
  url: string;
  /** A direct admin client on the new database, for arranging scenarios. */
  admin: pg.Pool;
  drop(): Promise<void>;
}

/** A fresh database per test file, so files run in parallel without seeing each other's rows. */
export async function createTestDatabase(): Promise<TestDatabase> {
  // The creation time is in the name so a later run can drop what an interrupted run left behind
  // without touching databases another run is still using.
  const name = `opsbook_t_${Math.floor(Date.now() / 1000)}_${randomBytes(4).toString('hex')}`;
  const root = new pg.Client({ connectionString: PG_ADMIN_URL });
  await root.connect();
  try {
    await root.query(`CREATE DATABASE "${name}"`);
  } finally {
    await root.end();
  }
  const url = pgUrlFor(name);
  const admin = new pg.Pool({ connectionString: url, max: 4 });
  admin.on('error', () => undefined);
  await admin.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
  return {
    name,
    url,
    admin,
    async drop() {
      await admin.end().catch(() => undefined);
      const c = new pg.Client({ connectionString: PG_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** Another session on `url`, named for pg_stat_activity, with its backend pid: for planting activity. */
export async function openSession(url: string, applicationName: string): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  client.on('error', () => undefined);
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0]!.pid };
}
