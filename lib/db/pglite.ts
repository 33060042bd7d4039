import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { withTimeout } from '../timeout.js';
import type { BatchOptions, Db, DbLimits, QueryResult, Statement } from './types.js';

/**
 * The embedded default: Postgres compiled to WebAssembly, in this process, with data under
 * `<dataDir>/pglite`. It is what `npm start` uses with no DATABASE_URL, so Opsbook runs on a bare
 * machine. pg_stat_statements comes from PGlite's contrib so the slow-query checks have data.
 * PGlite is single-connection: calls are serialised by PGlite itself.
 */
export function createPgliteDb(dataDir: string, limits: DbLimits, opts: { memory?: boolean } = {}): Db {
  let instance: Promise<PGlite> | undefined;
  let closed = false;

  function open(): Promise<PGlite> {
    instance ??= (async () => {
      // Imported lazily: the WebAssembly module is large and only the embedded mode needs it.
      const [{ PGlite }, { pg_stat_statements }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('@electric-sql/pglite/contrib/pg_stat_statements'),
      ]);
      let dir: string | undefined;
      if (!opts.memory) {
        dir = resolve(dataDir, 'pglite');
        mkdirSync(dir, { recursive: true });
      }
      const db = await PGlite.create({ dataDir: dir, extensions: { pg_stat_statements } });
      await db.exec(
        `SET statement_timeout = '${limits.statementTimeoutMs}ms'; SET lock_timeout = '${limits.lockTimeoutMs}ms';` +
          ' CREATE EXTENSION IF NOT EXISTS pg_stat_statements;',
      );
      return db;
    })();
    return instance;
  }

  return {
    driver: 'pglite',
    async query<T>(text: string, params: unknown[] = []) {
      // Opening the embedded database the first time runs initdb (a few seconds): that is not bounded
      // by the per-call timeout, only the statement is.
      const db = await open();
      const res = await withTimeout(db.query<T>(text, params), limits.callTimeoutMs, 'postgres query');
      return { rows: res.rows, rowCount: res.affectedRows || res.rows.length };
    },
    async batch(statements: Statement[], opts: BatchOptions = {}) {
      const db = await open();
      return withTimeout(
        db.transaction(async (tx) => {
          if (opts.readOnly !== false) await tx.exec('SET TRANSACTION READ ONLY');
          const out: QueryResult[] = [];
          for (const s of statements) {
            const res = await tx.query<Record<string, unknown>>(s.text, s.params ?? []);
            out.push({ rows: res.rows, rowCount: res.affectedRows || res.rows.length });
          }
          return out;
        }),
        limits.callTimeoutMs,
        'postgres batch',
      );
    },
    async exec(text: string) {
      const db = await open();
      await db.exec(text);
    },
    async close() {
      if (closed || !instance) return;
      closed = true;
      const db = await instance.catch(() => undefined);
      await db?.close();
    },
  };
}
