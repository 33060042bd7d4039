/** A row as the drivers return it: column name → value. */
export type Row = Record<string, unknown>;

export interface QueryResult<T = Row> {
  rows: T[];
  rowCount: number;
}

export interface Statement {
  text: string;
  params?: unknown[];
}

export interface BatchOptions {
  /** @default true */
  readOnly?: boolean;
  /**
   * `health`: run on the connection kept for /api/health, so health is never queued behind diagnostics
   * or a checklist run on a small pool (node-postgres keeps one more connection for it). Neon (one HTTP
   * request per call) and PGlite (in process) have no pool to wait in and ignore it.
   * @default "shared"
   */
  lane?: 'shared' | 'health';
}

export type DbDriver = 'neon' | 'pg' | 'pglite';

/**
 * The one Postgres interface Opsbook's logic sees. Three drivers implement it (lib/db/neon.ts,
 * lib/db/pg.ts, lib/db/pglite.ts); every statement carries Opsbook's statement_timeout and lock_timeout,
 * and every call is bounded on the client side too.
 */
export interface Db {
  readonly driver: DbDriver;
  /** One statement with bound parameters. */
  query<T = Row>(text: string, params?: unknown[]): Promise<QueryResult<T>>;
  /**
   * Several statements in one round trip, inside one transaction, results in order. The transaction is
   * READ ONLY unless `readOnly: false` is passed; any failing statement rolls the whole batch back.
   */
  batch(statements: Statement[], opts?: BatchOptions): Promise<QueryResult[]>;
  /**
   * One statement outside any transaction block, for maintenance that refuses to run inside one
   * (VACUUM, CREATE INDEX CONCURRENTLY). Still bounded by Opsbook's lock_timeout and the client timeout;
   * `statementTimeoutMs` overrides the statement timeout for this long-running work.
   */
  exec(text: string, opts?: { statementTimeoutMs?: number }): Promise<void>;
  /** Release connections. Safe to call twice. */
  close(): Promise<void>;
}

/** Limits applied to every statement Opsbook sends. */
export interface DbLimits {
  /** Server-side statement_timeout, ms. @default 5000 */
  statementTimeoutMs: number;
  /** Server-side lock_timeout, ms, so a migration's lock cannot hang Opsbook. @default 2000 */
  lockTimeoutMs: number;
  /** Client-side bound on one call (connect + round trip), ms. @default 5000 */
  callTimeoutMs: number;
}
