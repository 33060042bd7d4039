import type pg from 'pg';
import { openSession } from './pg.js';

/**
 * The incident diagnostics are called for: a migration holds ACCESS EXCLUSIVE on the busiest table, idle
 * in its transaction, with queries queued behind it. Shared by the lock-incident test and bench, so both
 * measure the same thing.
 *
 * The schema gives every Postgres check something to find on the locked table: duplicate indexes (plain,
 * INCLUDE, expression and partial), an invalid index left by a failed CREATE UNIQUE INDEX CONCURRENTLY, a
 * NOT VALID constraint and a sequence. A second, smaller queue (a SHARE lock on `customers` with one
 * UPDATE behind it) is held by the session with the lower pid, so "the root blocker is the one holding up
 * the most sessions" differs from "the lowest pid".
 */
export const LOCKED_TABLE = 'public.orders';
export const OTHER_TABLE = 'public.customers';

export async function plantSchema(admin: pg.Pool): Promise<void> {
  await admin.query(`
    CREATE TABLE customers (id serial PRIMARY KEY, name text);
    INSERT INTO customers (name) SELECT 'c' || g FROM generate_series(1, 100) g;
    CREATE TABLE orders (id serial PRIMARY KEY, customer_id int, created_at timestamptz, status text, total int);
    INSERT INTO orders (customer_id, created_at, status, total)
      SELECT g % 100 + 1, now() - g * interval '1 minute', CASE WHEN g % 2 = 0 THEN 'open' ELSE 'done' END, g
      FROM generate_series(1, 5000) g;
    CREATE INDEX idx_created ON orders (created_at);
    CREATE INDEX idx_created_incl ON orders (created_at) INCLUDE (status);
    CREATE INDEX idx_lower_status ON orders (lower(status));
    CREATE INDEX   idx_lower_status_2 ON orders ( lower( status ) );
    CREATE INDEX idx_open ON orders (customer_id) WHERE status = 'open';
    CREATE INDEX idx_open_total ON orders (customer_id, total) WHERE (status = 'open');
    ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0) NOT VALID;
  `);
  // Fails on the duplicate customer ids and leaves the index behind, invalid.
  await admin.query('CREATE UNIQUE INDEX CONCURRENTLY idx_customer_unique ON orders (customer_id)').then(
    () => {
      throw new Error('the unique index was expected to fail');
    },
    () => undefined,
  );
  await admin.query('ANALYZE');
}

export interface LockIncident {
  /** Holds ACCESS EXCLUSIVE on orders (ALTER TABLE … ADD COLUMN), idle in transaction; the higher pid. */
  migration: number;
  /** Holds SHARE on customers; the lower pid, blocking one session. */
  minor: number;
  /** Queued behind the migration: three readers and one writer. */
  waiters: number[];
  /** Queued behind `minor`. */
  minorWaiter: number;
  release(): Promise<void>;
}

/** Plant the lock and the queues; resolves once every waiter is really waiting. */
export async function plantLock(url: string, admin: pg.Pool): Promise<LockIncident> {
  const opened = await Promise.all([openSession(url, 'holder-a'), openSession(url, 'holder-b')]);
  opened.sort((a, b) => a.pid - b.pid);
  const [minorS, migrationS] = opened as [(typeof opened)[0], (typeof opened)[0]];
  const clients = [minorS.client, migrationS.client];
  await migrationS.client.query('BEGIN');
  await migrationS.client.query('ALTER TABLE orders ADD COLUMN note text');
  await minorS.client.query('BEGIN');
  await minorS.client.query('LOCK TABLE customers IN SHARE MODE');

  const waiterSql = ['SELECT count(*) FROM orders', 'SELECT count(*) FROM orders', 'SELECT sum(total) FROM orders', "INSERT INTO orders (customer_id, status, total) VALUES (1, 'open', 5)"];
  const waiters: number[] = [];
  for (const [i, sql] of waiterSql.entries()) {
    const s = await openSession(url, `app-${i}`);
    clients.push(s.client);
    waiters.push(s.pid);
    s.client.query(sql).catch(() => undefined);
  }
  const mw = await openSession(url, 'app-customers');
  clients.push(mw.client);
  mw.client.query("UPDATE customers SET name = 'x' WHERE id = 1").catch(() => undefined);

  const all = [...waiters, mw.pid];
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { rows } = await admin.query<{ n: number }>('SELECT count(DISTINCT pid)::int AS n FROM pg_locks WHERE NOT granted AND pid = ANY ($1::int[])', [all]);
    if (rows[0]!.n === all.length) break;
    if (Date.now() > deadline) throw new Error(`lock incident not ready: ${rows[0]!.n} of ${all.length} sessions waiting`);
    await new Promise((r) => setTimeout(r, 25));
  }
  const pids = [minorS.pid, migrationS.pid, ...all];
  return {
    migration: migrationS.pid,
    minor: minorS.pid,
    waiters,
    minorWaiter: mw.pid,
    async release() {
      await admin.query('SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]).catch(() => undefined);
      await Promise.allSettled(clients.map((c) => c.end()));
    },
  };
}
