import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { selectDriver, isNeonUrl } from '../../lib/db/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';

describe.each(DB_DRIVERS)('Postgres adapter over %s', (driver) => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb(driver);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('binds parameters and returns typed rows', async () => {
    const res = await h.db.query<{ n: number; t: string; b: boolean; nothing: null }>(
      'SELECT $1::int AS n, $2::text AS t, $3::boolean AS b, NULL AS nothing',
      [42, "O'Brien; DROP TABLE x --", true],
    );
    expect(res.rows).toEqual([{ n: 42, t: "O'Brien; DROP TABLE x --", b: true, nothing: null }]);
    expect(res.rowCount).toBe(1);
  });

  it('batch runs several statements and returns their results in order', async () => {
    const results = await h.db.batch([
      { text: 'SELECT 1::int AS a' },
      { text: 'SELECT $1::text AS b', params: ['two'] },
      { text: 'SELECT generate_series(1, 3)::int AS c' },
    ]);
    expect(results.map((r) => r.rows)).toEqual([[{ a: 1 }], [{ b: 'two' }], [{ c: 1 }, { c: 2 }, { c: 3 }]]);
  });

  it('a batch is read-only by default: a write inside it fails and changes nothing', async () => {
    await h.db.query('CREATE TABLE IF NOT EXISTS ro_probe (id int)');
    await expect(h.db.batch([{ text: 'SELECT 1' }, { text: 'INSERT INTO ro_probe VALUES (1)' }])).rejects.toThrow(/read-only/i);
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM ro_probe');
    expect(rows[0]!.n).toBe(0);
  });

  it('a write batch is one transaction: a failing statement rolls back the ones before it', async () => {
    await h.db.query('CREATE TABLE IF NOT EXISTS tx_probe (id int PRIMARY KEY)');
    await expect(
      h.db.batch(
        [
          { text: 'INSERT INTO tx_probe VALUES (1)' },
          { text: 'INSERT INTO tx_probe VALUES (1)' },
        ],
        { readOnly: false },
      ),
    ).rejects.toThrow();
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM tx_probe');
    expect(rows[0]!.n).toBe(0);
    // No pooled connection is left inside the aborted transaction.
    for (let i = 0; i < 6; i++) await expect(h.db.batch([{ text: 'SELECT $1::int AS i', params: [i] }])).resolves.toHaveLength(1);
  });

  it('Opsbook schema migration is idempotent', async () => {
    await ensureSchema(h.db);
    const { rows } = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'opsbook' AND table_name = 'job_runs'",
    );
    expect(rows[0]!.n).toBe(1);
  });

  it('SQL errors keep their SQLSTATE', async () => {
    await expect(h.db.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
  });
});

/** PGlite runs in this process, one connection: server-side timeouts and locks from another session do not apply. */
describe.each(['pg', 'neon'] as const)('Postgres server limits over %s', (driver) => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb(driver, { statementTimeoutMs: 400, lockTimeoutMs: 300 });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('every statement carries statement_timeout: a long query is cancelled by the server (57014)', async () => {
    await expect(h.db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' });
  });

  it('every statement carries lock_timeout: a migration holding a lock cannot hang it (55P03)', async () => {
    await h.db.query('CREATE TABLE IF NOT EXISTS locked_probe (id int)');
    const holder = new pg.Client({ connectionString: h.database!.url });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE locked_probe IN ACCESS EXCLUSIVE MODE');
      await expect(h.db.query('SELECT count(*) FROM locked_probe')).rejects.toMatchObject({ code: '55P03' });
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

});

describe('Neon HTTP driver', () => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb('neon');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a query and a batch each cost one round trip at the Neon endpoint', async () => {
    h.neon!.resetCount();
    await h.db.query('SELECT 1');
    await h.db.batch([{ text: 'SELECT 1' }, { text: 'SELECT 2' }, { text: 'SELECT 3' }]);
    expect(h.neon!.requests).toBe(2);
  });

});

describe('driver selection', () => {
  it.each([
    [{}, 'pglite'],
    [{ DATABASE_URL: 'postgres://u:p@ep-cool-bird-123.us-east-2.aws.neon.tech/db' }, 'neon'],
    [{ DATABASE_URL: 'postgresql://u:p@db.example.com:5432/app' }, 'pg'],
    [{ DATABASE_URL: 'postgres://u:p@containers-us-west-1.railway.app:7000/railway' }, 'pg'],
    [{ DATABASE_URL: 'postgres://u:p@127.0.0.1/app', DATABASE_DRIVER: 'neon' as const }, 'neon'],
  ])('%o → %s', (env, expected) => {
    expect(selectDriver(env)).toBe(expected);
  });

  it('a host that merely contains neon.tech is not Neon', () => {
    expect(isNeonUrl('postgres://u:p@neon.tech.evil.example/db')).toBe(false);
  });
});
