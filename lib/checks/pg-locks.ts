import type { Row } from '../db/index.js';

/**
 * The lock table, read once per diagnostics run in the capabilities round trip and shared by every
 * Postgres check. Diagnostics are called when something is stuck, typically a migration holding ACCESS
 * EXCLUSIVE on the busiest table: then every function that opens that relation (pg_relation_size,
 * pg_table_size, pg_get_indexdef, pg_get_expr, pg_get_constraintdef…) queues behind the migration, and
 * one such statement used to fail the whole merged batch. Checks read this snapshot instead, skip those
 * functions for a relation that would make them wait, and say so as data.
 *
 * Only ACCESS EXCLUSIVE conflicts with the ACCESS SHARE those functions take. A request for it that is
 * still waiting counts too: Postgres queues later requests behind it.
 */

/** One row of pg_locks that matters to a run. */
export interface LockRow {
  locktype: string;
  /** The relation's oid, for relation, page and tuple locks. */
  oid: number | null;
  /** schema.name of that relation, when it still exists. */
  relation: string | null;
  /** Transaction id, for transactionid locks (a row lock waits on the holder's transaction). */
  xid: string | null;
  /** Virtual transaction id, for virtualxid locks (CREATE INDEX CONCURRENTLY waits on these). */
  virtualxid: string | null;
  pid: number | null;
  /** As Postgres names it: AccessExclusiveLock. */
  mode: string;
  granted: boolean;
  /** Epoch seconds the wait began (PostgreSQL 14+), for a waiting request. */
  waitStart: number | null;
  /** pg_blocking_pids of a waiting request. */
  blockers: number[];
}

export interface LockSnapshot {
  /** Relations another session holds or awaits ACCESS EXCLUSIVE on, by oid: opening them would wait. */
  exclusive: Map<number, LockRow>;
  /** Requests that wait, one per waiting session. */
  waits: LockRow[];
  /** Granted locks on the objects something waits for: who holds what the waiters want. */
  held: LockRow[];
}

export const EMPTY_LOCKS: LockSnapshot = { exclusive: new Map(), waits: [], held: [] };

/** Rows kept per kind: a lock table of thousands of rows must not make the first round trip heavy. */
const LOCK_ROWS = 500;

/**
 * One statement. `waitstart` is read through to_jsonb so the same text works before PostgreSQL 14 (null
 * there). Opsbook's own backend is left out; other databases' relation locks are too (their oids mean
 * nothing here), while transaction and virtual-transaction locks have no database and stay.
 */
export const LOCKS_SQL = `WITH l AS MATERIALIZED (
  SELECT l.locktype, l.database, l.relation, l.page, l.tuple, l.virtualxid, l.transactionid, l.classid, l.objid, l.objsubid,
         l.pid, l.mode, l.granted, (to_jsonb(l) ->> 'waitstart')::timestamptz AS waitstart
  FROM pg_locks l
  WHERE l.pid IS DISTINCT FROM pg_backend_pid()
    AND (l.database IS NULL OR l.database = 0 OR l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
), w AS (
  SELECT * FROM l WHERE NOT granted
), picked AS (
  (SELECT 'exclusive' AS kind, * FROM l WHERE locktype = 'relation' AND mode = 'AccessExclusiveLock' LIMIT ${LOCK_ROWS})
  UNION ALL
  (SELECT 'wait', * FROM w LIMIT ${LOCK_ROWS})
  UNION ALL
  (SELECT 'held', g.* FROM l g
   WHERE g.granted AND EXISTS (
     SELECT 1 FROM w WHERE w.locktype = g.locktype AND w.database IS NOT DISTINCT FROM g.database
       AND w.relation IS NOT DISTINCT FROM g.relation AND w.page IS NOT DISTINCT FROM g.page AND w.tuple IS NOT DISTINCT FROM g.tuple
       AND w.virtualxid IS NOT DISTINCT FROM g.virtualxid AND w.transactionid IS NOT DISTINCT FROM g.transactionid
       AND w.classid IS NOT DISTINCT FROM g.classid AND w.objid IS NOT DISTINCT FROM g.objid AND w.objsubid IS NOT DISTINCT FROM g.objsubid)
   LIMIT ${LOCK_ROWS})
)
SELECT p.kind, p.locktype, p.relation::int8 AS oid,
       (SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p.relation) AS relation_name,
       p.transactionid::text AS xid, p.virtualxid, p.pid, p.mode, p.granted,
       extract(epoch FROM p.waitstart)::float8 AS wait_start,
       CASE WHEN p.kind = 'wait' AND p.pid IS NOT NULL THEN pg_blocking_pids(p.pid) END AS blockers
FROM picked p`;

const pidList = (v: unknown): number[] =>
  Array.isArray(v) ? v.map(Number) : typeof v === 'string' ? v.replace(/[{}]/g, '').split(',').filter(Boolean).map(Number) : [];
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

export function parseLocks(rows: Row[]): LockSnapshot {
  const snapshot: LockSnapshot = { exclusive: new Map(), waits: [], held: [] };
  for (const r of rows) {
    const lock: LockRow = {
      locktype: String(r.locktype),
      oid: numOrNull(r.oid),
      relation: strOrNull(r.relation_name),
      xid: strOrNull(r.xid),
      virtualxid: strOrNull(r.virtualxid),
      pid: numOrNull(r.pid),
      mode: String(r.mode),
      granted: r.granted === true,
      waitStart: numOrNull(r.wait_start),
      blockers: pidList(r.blockers),
    };
    if (r.kind === 'exclusive' && lock.oid !== null) {
      // A granted lock says more than a waiting request on the same relation.
      const seen = snapshot.exclusive.get(lock.oid);
      if (!seen || (!seen.granted && lock.granted)) snapshot.exclusive.set(lock.oid, lock);
    } else if (r.kind === 'wait') snapshot.waits.push(lock);
    else if (r.kind === 'held') snapshot.held.push(lock);
  }
  return snapshot;
}

/** AccessExclusiveLock → ACCESS EXCLUSIVE, as LOCK TABLE and the documentation spell it. */
export function lockModeName(mode: string): string {
  return mode
    .replace(/Lock$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
}

/**
 * The oids that would make a relation-opening function wait, as a Postgres array literal for a
 * `$n::text::oid[]` parameter (a text parameter binds the same way on every driver).
 */
export function lockedOidsParam(locks: LockSnapshot): string {
  return `{${[...locks.exclusive.keys()].join(',')}}`;
}

/** Why a size or definition is missing, for the row that shows it. */
export function lockedNote(locks: LockSnapshot, oid: number): string | undefined {
  const l = locks.exclusive.get(oid);
  if (!l) return undefined;
  const who = l.pid === null || l.pid === 0 ? 'a prepared transaction' : `pid ${l.pid}`;
  return `${l.granted ? 'locked by' : 'awaiting a lock by'} ${who} (${lockModeName(l.mode)}) — see postgres.blocked`;
}

/** What a waiting request waits for, in words: "table public.orders", "a row lock (transaction 1234)". */
export function lockObject(l: LockRow): string {
  switch (l.locktype) {
    case 'relation':
      return l.relation ? `table ${l.relation}` : `relation ${l.oid ?? '?'}`;
    case 'tuple':
    case 'page':
      return `a row of ${l.relation ?? `relation ${l.oid ?? '?'}`}`;
    case 'transactionid':
      return `a row lock (transaction ${l.xid ?? '?'})`;
    case 'virtualxid':
      return `transaction ${l.virtualxid ?? '?'} to end`;
    case 'advisory':
      return 'an advisory lock';
    default:
      return `a ${l.locktype} lock`;
  }
}

/** The key that puts waiters of one object in one queue. */
export function lockKey(l: LockRow): string {
  return `${l.locktype}:${l.oid ?? ''}:${l.xid ?? ''}:${l.virtualxid ?? ''}`;
}
