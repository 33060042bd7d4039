import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { neon, neonConfig, NeonDbError } from '@neondatabase/serverless';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';
import { startNeonPeer, type NeonPeer } from './neon-http.js';

const ADMIN_URL = PG_ADMIN_URL;
// A database of our own, so this file can run next to others that use the same Postgres.
const DB_NAME = `neon_peer_test_${randomBytes(4).toString('hex')}`;
const dbUrl = pgUrlFor(DB_NAME);

let peer: NeonPeer;
let direct: pg.Client;

beforeAll(async () => {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DB_NAME}`);
  await admin.end();

  direct = new pg.Client({ connectionString: dbUrl });
  await direct.connect();
  await direct.query('CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL UNIQUE)');

  peer = await startNeonPeer({ upstream: ADMIN_URL });
  // The driver's fetchEndpoint is global; each vitest file runs in its own module graph, so this stays here.
  neonConfig.fetchEndpoint = peer.fetchEndpoint;
});

afterAll(async () => {
  await peer?.close();
  await direct?.end();
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB_NAME} WITH (FORCE)`);
  await admin.end();
});

const sqlFor = () => neon(peer.connectionString(DB_NAME));

async function itemCount(): Promise<number> {
  const { rows } = await direct.query<{ n: number }>('SELECT count(*)::int AS n FROM items');
  return rows[0]!.n;
}

describe('neon() through the local /sql peer', () => {
  it('parameterised query → values typed exactly as node-postgres parses them', async () => {
    const sql = sqlFor();
    const when = new Date('2024-05-06T07:08:09.123Z');
    const text = `SELECT $1::int AS i, $2::text AS t, $3::bool AS b, $4::timestamptz AS ts, $5::json AS j,
      NULL::text AS n, $6::int[] AS ia, ARRAY['a', NULL, 'NULL', 'x,y']::text[] AS ta,
      9007199254740993::int8 AS big, 1.5::numeric AS num`;
    const params = [42, 'hi "there"', true, when, { a: [1, null] }, [1, 2, 3]];

    const rows = await sql.query(text, params);
    expect(rows).toEqual([
      {
        i: 42,
        t: 'hi "there"',
        b: true,
        ts: when,
        j: { a: [1, null] },
        n: null,
        ia: [1, 2, 3],
        ta: ['a', null, 'NULL', 'x,y'],
        big: '9007199254740993',
        num: '1.5',
      },
    ]);
    // Same statement over a plain pg connection: the peer must not change what the driver ends up with.
    const viaPg = await direct.query(text, params);
    expect(rows).toEqual(viaPg.rows);

    const tagged = await sql`SELECT ${'tagged'}::text AS v, ${null}::int AS nothing`;
    expect(tagged).toEqual([{ v: 'tagged', nothing: null }]);
  });

  it('fullResults and arrayMode → fields, command, rowCount and array rows', async () => {
    const sql = sqlFor();
    const full = await sql.query('SELECT 1 AS a, NULL::text AS b', [], { arrayMode: true, fullResults: true });
    expect(full.rows).toEqual([[1, null]]);
    expect(full.rowAsArray).toBe(true);
    expect(full.command).toBe('SELECT');
    expect(full.rowCount).toBe(1);
    expect(full.fields.map((f) => [f.name, f.dataTypeID])).toEqual([
      ['a', 23],
      ['b', 25],
    ]);

    const arrays = neon(peer.connectionString(DB_NAME), { arrayMode: true });
    expect(await arrays`SELECT 'x' AS a, 'y' AS b`).toEqual([['x', 'y']]);

    const inserted = await sql.query("INSERT INTO items (name) VALUES ('full-1'), ('full-2')", [], { fullResults: true });
    expect(inserted.command).toBe('INSERT');
    expect(inserted.rowCount).toBe(2);
    expect(inserted.fields).toEqual([]);
    expect(inserted.rows).toEqual([]);
  });

  it('transaction batch → results in order, all committed together', async () => {
    const sql = sqlFor();
    const [ins, upd, sel] = await sql.transaction([
      sql`INSERT INTO items (name) VALUES ('tx-a'), ('tx-b') RETURNING name`,
      sql`UPDATE items SET name = 'tx-b2' WHERE name = 'tx-b'`,
      sql`SELECT name FROM items WHERE name LIKE 'tx-%' ORDER BY name`,
    ]);
    expect(ins).toEqual([{ name: 'tx-a' }, { name: 'tx-b' }]);
    expect(upd).toEqual([]);
    expect(sel).toEqual([{ name: 'tx-a' }, { name: 'tx-b2' }]);

    const full = await sql.transaction([sql`SELECT 1 AS one`, sql`DELETE FROM items WHERE name = 'tx-a'`], { fullResults: true });
    expect(full.map((r) => [r.command, r.rowCount])).toEqual([
      ['SELECT', 1],
      ['DELETE', 1],
    ]);
  });

  it('batch options → run as BEGIN ISOLATION LEVEL … READ ONLY, DEFERRABLE', async () => {
    const sql = sqlFor();
    const strict = await sql.transaction(
      [sql`SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro,
             current_setting('transaction_deferrable') AS def`],
      { isolationLevel: 'Serializable', readOnly: true, deferrable: true },
    );
    expect(strict).toEqual([[{ iso: 'serializable', ro: 'on', def: 'on' }]]);

    const defaults = await sql.transaction([
      sql`SELECT current_setting('transaction_isolation') AS iso, current_setting('transaction_read_only') AS ro`,
    ]);
    expect(defaults).toEqual([[{ iso: 'read committed', ro: 'off' }]]);
  });

  it('readOnly batch with a write → NeonDbError 25006, nothing written', async () => {
    const sql = sqlFor();
    const before = await itemCount();
    const err = await sql
      .transaction([sql`SELECT 1`, sql`INSERT INTO items (name) VALUES ('ro-write')`], { readOnly: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NeonDbError);
    expect((err as NeonDbError).code).toBe('25006');
    expect(await itemCount()).toBe(before);
  });

  it('SQL error → NeonDbError with the SQLSTATE and Postgres fields', async () => {
    const sql = sqlFor();
    const err = await sql`SELECT * FROM no_such_table`.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NeonDbError);
    expect(err).toMatchObject({
      name: 'NeonDbError',
      code: '42P01',
      severity: 'ERROR',
      message: 'relation "no_such_table" does not exist',
      position: '15',
    });
    // Fields Postgres did not send come back undefined, not as strings.
    expect((err as NeonDbError).detail).toBeUndefined();

    const dup = await sql`INSERT INTO items (name) VALUES ('full-1')`.catch((e: unknown) => e);
    expect(dup).toMatchObject({ code: '23505', constraint: 'items_name_key', table: 'items', schema: 'public' });
  });

  it('two statements in one query → 42601, as Neon uses the extended protocol', async () => {
    const sql = sqlFor();
    await expect(sql.query('SELECT 1; SELECT 2')).rejects.toMatchObject({ code: '42601' });
  });

  it('failed batch → rolled back, earlier statements leave no trace', async () => {
    const sql = sqlFor();
    const before = await itemCount();
    await expect(
      sql.transaction([sql`INSERT INTO items (name) VALUES ('rollback-me')`, sql`SELECT 1 / 0`]),
    ).rejects.toMatchObject({ code: '22012' });
    expect(await itemCount()).toBe(before);
    // The connection that saw the error is not handed out in a broken state.
    expect(await sql`SELECT 2 AS two`).toEqual([{ two: 2 }]);
  });

  it('requests counter → one per query, one per transaction', async () => {
    const sql = sqlFor();
    peer.resetCount();
    expect(peer.requests).toBe(0);
    await sql`SELECT 1`;
    await sql.query('SELECT $1::int', [2]);
    await sql.transaction([sql`SELECT 1`, sql`SELECT 2`, sql`SELECT 3`]);
    await sql`SELECT nope FROM nowhere`.catch(() => undefined);
    expect(peer.requests).toBe(4);
  });

  it('latencyMs → every request takes at least that long', async () => {
    const slow = await startNeonPeer({ upstream: ADMIN_URL, latencyMs: 120 });
    neonConfig.fetchEndpoint = slow.fetchEndpoint;
    try {
      const sql = neon(slow.connectionString(DB_NAME));
      // A lower bound only: timers never fire early by more than a millisecond, so this cannot flake.
      const started = performance.now();
      await sql`SELECT 1`;
      expect(performance.now() - started).toBeGreaterThanOrEqual(115);
      expect(slow.requests).toBe(1);
    } finally {
      neonConfig.fetchEndpoint = peer.fetchEndpoint;
      await slow.close();
    }
  });

  it('setFault(500) → the driver throws a server error; setFault(null) → service restored', async () => {
    const sql = sqlFor();
    peer.setFault(500);
    try {
      const err = await sql`SELECT 1`.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NeonDbError);
      expect((err as Error).message).toMatch(/^Server error \(HTTP status 500\)/);
      expect((err as NeonDbError).code).toBeUndefined();
      await expect(sql.transaction([sql`SELECT 1`])).rejects.toThrow(/HTTP status 500/);
    } finally {
      peer.setFault(null);
    }
    expect(await sql`SELECT 1 AS ok`).toEqual([{ ok: 1 }]);
  });

  it('request aborted mid-query → the statement is cancelled upstream, like Neon does', async () => {
    const sql = sqlFor();
    const controller = new AbortController();
    // NeonQueryPromise is lazy: the request goes out only once it is awaited or then'd.
    const pending = sql
      .query('SELECT pg_sleep(30) AS abort_probe', [], { fetchOptions: { signal: controller.signal } })
      .then(() => 'resolved', (err: unknown) => err);
    const sleeping = async () => {
      const { rows } = await direct.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30) AS abort_probe%' AND state = 'active'",
      );
      return rows[0]!.n;
    };
    await expect.poll(sleeping, { timeout: 3_000, interval: 20 }).toBe(1);
    controller.abort();
    expect(String(await pending)).toMatch(/abort/i);
    await expect.poll(sleeping, { timeout: 3_000, interval: 20 }).toBe(0);
  });

  it('unknown database → NeonDbError 3D000 from the connect step', async () => {
    const sql = neon(peer.connectionString(`${DB_NAME}_missing`));
    await expect(sql`SELECT 1`).rejects.toMatchObject({ name: 'NeonDbError', code: '3D000' });
  });
});

describe('the /sql wire format, spoken directly', () => {
  async function post(body: unknown, headers: Record<string, string>) {
    const res = await fetch(peer.fetchEndpoint, {
      method: 'POST',
      body: JSON.stringify(body),
      headers: { 'Neon-Connection-String': peer.connectionString(DB_NAME), ...headers },
    });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  }

  it('raw text off, array mode off → JSON scalars and object rows, NULL as null', async () => {
    const { status, json } = await post(
      {
        query: `SELECT 1::int AS i, 2::int8 AS big, true AS b, 'NaN'::float8 AS nan, 0.5::float8 AS f,
          '{"k":1}'::jsonb AS j, ARRAY[1,NULL,3] AS ia, ARRAY['a"b', 'c'] AS ta, NULL::int AS n, $1::text AS p`,
        params: [7],
      },
      {},
    );
    expect(status).toBe(200);
    expect(json.rowAsArray).toBe(false);
    expect(json.rows).toEqual([
      { i: 1, big: '2', b: true, nan: 'NaN', f: 0.5, j: { k: 1 }, ia: [1, null, 3], ta: ['a"b', 'c'], n: null, p: '7' },
    ]);
  });

  it('raw text on, array mode on → Postgres text in arrays; batch echoes its options', async () => {
    const { status, headers, json } = await post(
      { queries: [{ query: 'SELECT 1 AS one, NULL AS none' }, { query: 'SELECT $1::int[] AS a', params: [[1, 2]] }] },
      { 'Neon-Raw-Text-Output': 'true', 'Neon-Array-Mode': 'true', 'Neon-Batch-Read-Only': 'true' },
    );
    expect(status).toBe(200);
    expect(headers.get('neon-batch-read-only')).toBe('true');
    const results = json.results as { rows: unknown[]; command: string; rowCount: number }[];
    expect(results.map((r) => r.rows)).toEqual([[['1', null]], [['{1,2}']]]);
    expect(results[0]).toMatchObject({ command: 'SELECT', rowCount: 1, rowAsArray: true });
  });

  it('bad isolation level or missing connection string → 400 with Neon error body', async () => {
    const bad = await post({ query: 'SELECT 1' }, { 'Neon-Batch-Isolation-Level': 'Chaotic' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ message: 'invalid isolation level', code: '' });

    const res = await fetch(peer.fetchEndpoint, { method: 'POST', body: '{"query":"SELECT 1"}' });
    expect(res.status).toBe(400);
  });
});
