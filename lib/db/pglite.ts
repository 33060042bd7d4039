import { mkdirSync, openSync, readFileSync, unlinkSync, writeFileSync, closeSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { OpsbookError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import type { BatchOptions, Db, DbLimits, QueryResult, Statement } from './types.js';

/**
 * The embedded default: Postgres compiled to WebAssembly, in this process, with data under
 * `<dataDir>/pglite`. It is what `npm start` uses with no DATABASE_URL, so Opsbook runs on a bare
 * machine. pg_stat_statements comes from PGlite's contrib so the slow-query checks have data.
 * PGlite is single-connection: calls are serialised by PGlite itself.
 */
/**
 * The embedded database is one local user's: Postgres's server-sized defaults (128 MB of shared
 * buffers) made a dry run peak at 340 MB of RSS; with these it stays near 215 MB.
 */
const LEAN_SETTINGS = ['-c', 'shared_buffers=16MB', '-c', 'work_mem=2MB', '-c', 'maintenance_work_mem=16MB', '-c', 'temp_buffers=2MB', '-c', 'wal_buffers=1MB'];

export function createPgliteDb(dataDir: string, limits: DbLimits, opts: { memory?: boolean; owner?: string } = {}): Db {
  let instance: Promise<PGlite> | undefined;
  let closed = false;
  let lockPath: string | undefined;

  function open(): Promise<PGlite> {
    instance ??= (async () => {
      // Imported lazily: the WebAssembly module is large and only the embedded mode needs it. Vercel
      // functions do not bundle it at all (vercel.json excludeFiles; 27 MB each, and a deployment's
      // folder is read-only), so there its absence means DATABASE_URL is missing.
      const [{ PGlite }, { pg_stat_statements }] = await Promise.all([
        import('@electric-sql/pglite'),
        import('@electric-sql/pglite/contrib/pg_stat_statements'),
      ]).catch((err: unknown) => {
        throw new OpsbookError('MISCONFIGURED', 'DATABASE_URL is not set, and the embedded PGlite is not installed here (Vercel functions do not bundle it): set DATABASE_URL.', { cause: err });
      });
      let dir: string | undefined;
      if (!opts.memory) {
        dir = resolve(dataDir, 'pglite');
        mkdirSync(dir, { recursive: true });
        lockPath = acquireLock(dir, opts.owner ?? 'an Opsbook process');
      }
      let db: PGlite;
      try {
        db = await PGlite.create({ dataDir: dir, extensions: { pg_stat_statements }, startParams: [...PGlite.defaultStartParams, ...LEAN_SETTINGS] });
      } catch (err) {
        if (lockPath) releaseLock(lockPath);
        throw err;
      }
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
      if (lockPath) releaseLock(lockPath);
    },
  };
}

/** What a lock file holds: who writes the folder, and where its API answers once it listens. */
interface LockInfo {
  pid: number;
  owner: string;
  url?: string;
}

/** Locks this process holds, by path, with how many open Dbs share each (tests open one folder twice). */
const held = new Map<string, number>();
let exitHookInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed process whose parent has not reaped it yet (a zombie) still answers signal 0 on Linux.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true;
  }
}

function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    return typeof info.pid === 'number' ? { pid: info.pid, owner: String(info.owner ?? 'an Opsbook process'), ...(typeof info.url === 'string' ? { url: info.url } : {}) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One writer per PGlite folder. PGlite is Postgres in this process, with no server between processes:
 * two processes opening one folder each see their own copy (a token made by the CLI did not exist for
 * the running server) and can corrupt it. So the folder is locked with a file holding the pid; a lock
 * whose pid is dead (a killed runner) is taken over; a live holder refuses with what to do instead.
 */
function acquireLock(dir: string, owner: string): string {
  const path = `${dir}.lock`;
  if (held.has(path)) {
    held.set(path, held.get(path)! + 1);
    return path;
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeFileSync(fd, JSON.stringify({ pid: process.pid, owner } satisfies LockInfo) + '\n');
      closeSync(fd);
      held.set(path, 1);
      if (!exitHookInstalled) {
        exitHookInstalled = true;
        // A process that exits without closing (an uncaught error, process.exit) leaves no lock behind.
        process.once('exit', () => {
          for (const p of held.keys()) removeIfOurs(p);
        });
      }
      return path;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const info = readLock(path);
    if (info && info.pid !== process.pid && alive(info.pid)) {
      const shown = relative(process.cwd(), dir) || dir;
      const api = info.url ? ` (its API: ${info.url}; e.g. opsbook admin … --url ${info.url})` : '';
      throw new OpsbookError(
        'CONFLICT',
        `${info.owner.charAt(0).toUpperCase()}${info.owner.slice(1)} (pid ${info.pid}) holds ${shown}: PGlite has one writer. ` +
          `Stop it, or run this against its API${api}, or set DATABASE_URL so every process shares one Postgres. ` +
          `If no such process runs, delete ${relative(process.cwd(), path) || path}.`,
        { details: { pid: info.pid, lock: path } },
      );
    }
    // A dead holder (or a half-written file): take it over. Unlinking and retrying 'wx' keeps two
    // processes taking over at once from both winning.
    try {
      unlinkSync(path);
    } catch {
      // Someone else removed it first.
    }
  }
  throw new OpsbookError('CONFLICT', `Could not take the lock ${path} for the PGlite folder ${dir}.`);
}

function removeIfOurs(path: string): void {
  if (readLock(path)?.pid === process.pid) {
    try {
      unlinkSync(path);
    } catch {
      // Already gone.
    }
  }
}

function releaseLock(path: string): void {
  const n = held.get(path);
  if (n === undefined) return;
  if (n > 1) {
    held.set(path, n - 1);
    return;
  }
  held.delete(path);
  removeIfOurs(path);
}

/**
 * Record where the lock holder's API answers (the runner, once it listens), so a second process is told
 * where to go instead.
 */
export function announcePgliteUrl(dataDir: string, url: string): void {
  const path = `${resolve(dataDir, 'pglite')}.lock`;
  const info = readLock(path);
  if (!held.has(path) || info?.pid !== process.pid) return;
  writeFileSync(path, JSON.stringify({ ...info, url } satisfies LockInfo) + '\n');
}
