import pg from 'pg';
import { withTimeout } from '../timeout.js';
import { opsbookApplicationName, withApplicationName } from './application-name.js';
import { inlineParams } from './inline.js';
import type { BatchOptions, Db, DbLimits, QueryResult, Statement } from './types.js';

/**
 * node-postgres, for any Postgres that is not Neon: self-hosted, Railway, a droplet.
 * The pool is small because a serverless instance serves one request at a time and Postgres
 * connections are the scarce resource the runbooks keep running out of.
 */
export function createPgDb(url: string, limits: DbLimits, opts: { max?: number; applicationName?: string } = {}): Db {
  // Always `opsbook` or `opsbook/<role>`, even when the URL names another: db/terminate recognises
  // Opsbook's own sessions, from any instance, by this name.
  const applicationName = opsbookApplicationName(opts.applicationName);
  const newPool = (max: number) => new pg.Pool({
    connectionString: withApplicationName(url, applicationName),
    max,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: limits.callTimeoutMs,
    // Sent as startup parameters: they hold for every statement on these connections, including ones
    // sent while a migration holds a lock.
    statement_timeout: limits.statementTimeoutMs,
    lock_timeout: limits.lockTimeoutMs,
    query_timeout: limits.callTimeoutMs,
    application_name: applicationName,
    allowExitOnIdle: true,
  });
  const pool = newPool(opts.max ?? 3);
  // Health's own connection, opened on its first probe: 50 diagnostics holding the shared pool made 466
  // of 200 concurrent health checks miss their budget while Postgres itself was fine. One connection
  // more, never more than that.
  let healthPool: pg.Pool | undefined;
  const poolFor = (o: BatchOptions) => {
    if (o.lane !== 'health') return pool;
    if (!healthPool) {
      healthPool = newPool(1);
      healthPool.on('error', () => undefined);
    }
    return healthPool;
  };
  // An idle client that loses its server emits 'error' on the pool; without a listener that kills the process.
  // A checked-out client has no pool listener: batch() and exec() listen themselves while they hold one
  // (a backend terminated mid-batch, by pg_terminate_backend or a failover, would otherwise crash the
  // instance), and discard a client that lost its server instead of returning it to the pool.
  pool.on('error', () => undefined);
  let closed = false;

  const db: Db = {
    driver: 'pg',
    async query<T>(text: string, params: unknown[] = []) {
      const res = await withTimeout(pool.query(text, params), limits.callTimeoutMs, 'postgres query');
      return { rows: res.rows as T[], rowCount: res.rowCount ?? res.rows.length };
    },
    async batch(statements: Statement[], opts: BatchOptions = {}) {
      // One simple-protocol query holding the whole transaction: node-postgres waits for each
      // extended-protocol statement before sending the next, so this is how a batch stays one round trip.
      // Separators sit on their own lines so a statement ending in a -- comment cannot swallow one.
      const text = [
        opts.readOnly === false ? 'BEGIN' : 'BEGIN READ ONLY',
        ...statements.map((s) => inlineParams(s.text, s.params ?? [])),
        'COMMIT',
      ].join('\n;\n');
      const res = await withTimeout(
        async () => {
          const client = await poolFor(opts).connect();
          let broken: Error | undefined;
          const lost = (e: Error) => (broken ??= e);
          client.on('error', lost);
          try {
            return await client.query(text);
          } catch (err) {
            // An error inside an explicit BEGIN leaves the session in an aborted transaction block:
            // roll back before the connection goes back to the pool (or discard it if even that fails).
            await client.query('ROLLBACK').catch((e: Error) => (broken = e));
            throw err;
          } finally {
            client.off('error', lost);
            client.release(broken);
          }
        },
        limits.callTimeoutMs,
        'postgres batch',
      );
      const all = (Array.isArray(res) ? res : [res]) as pg.QueryResult[];
      return all.slice(1, -1).map((r): QueryResult => ({ rows: r.rows, rowCount: r.rowCount ?? r.rows.length }));
    },
    async exec(text: string, o: { statementTimeoutMs?: number } = {}) {
      const ms = o.statementTimeoutMs ?? limits.statementTimeoutMs;
      await withTimeout(
        async () => {
          const client = await pool.connect();
          let broken: Error | undefined;
          const lost = (e: Error) => (broken ??= e);
          client.on('error', lost);
          try {
            // Session-level, so it applies to a statement that cannot run in a transaction; reset after.
            await client.query(`SET statement_timeout = ${Math.floor(ms)}`);
            await client.query(text);
          } finally {
            await client.query(`SET statement_timeout = ${limits.statementTimeoutMs}`).catch((e: Error) => (broken ??= e));
            client.off('error', lost);
            client.release(broken);
          }
        },
        ms + 2000,
        'postgres maintenance',
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all([pool.end(), healthPool?.end()]);
    },
  };
  return db;
}
