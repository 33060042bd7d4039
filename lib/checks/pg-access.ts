import type { Db, QueryResult, Statement } from '../db/index.js';
import { ensureSchema } from '../db/schema.js';
import { LOCKS_SQL, parseLocks } from './pg-locks.js';
import type { PgAccess, PgCapabilities } from './types.js';

/**
 * What every Postgres check needs to know before choosing its SQL, in one statement (plus the lock
 * table, lib/checks/pg-locks.ts, and the previous snapshots, in the same round trip). Only catalog
 * views every role can read: a missing privilege must make checks `skipped`, not break the batch.
 * `shared_preload_libraries` is read through pg_settings, which hides it from unprivileged roles
 * instead of raising an error.
 */
const CAPS_SQL = `SELECT
  current_setting('server_version_num')::int AS version,
  current_database() AS database,
  current_user AS "user",
  COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) AS superuser,
  (pg_has_role(current_user, 'pg_monitor', 'MEMBER') OR pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')) AS monitor,
  pg_is_in_recovery() AS replica,
  (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_stat_statements') AS pss_schema,
  (SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries') AS preload,
  current_setting('max_connections')::int AS max_connections`;

const PREVIOUS_SQL = `SELECT DISTINCT ON (kind) kind, taken_at, data FROM opsbook.snapshots ORDER BY kind, taken_at DESC`;

/** A role that may not create Opsbook's schema is not asked again on every run (a wasted round trip). */
const schemaRefused = new WeakMap<Db, number>();
const SCHEMA_RETRY_MS = 10 * 60_000;

async function schemaReady(db: Db): Promise<boolean> {
  const refusedAt = schemaRefused.get(db);
  if (refusedAt !== undefined && Date.now() - refusedAt < SCHEMA_RETRY_MS) return false;
  try {
    await ensureSchema(db);
    schemaRefused.delete(db);
    return true;
  } catch {
    schemaRefused.set(db, Date.now());
    return false;
  }
}

interface Pending {
  statements: Statement[];
  resolve(r: QueryResult[]): void;
  reject(e: unknown): void;
}

/**
 * Postgres access for one diagnostics run. `caps()` is one round trip (capabilities plus the previous
 * snapshots); every `batch()` call made in the same tick is merged into one more. When the merged batch
 * fails (one check's statement raised), each caller's statements are re-run on their own so the failure
 * stays with the check that caused it.
 */
export function createPgAccess(
  db: Db,
  opts: { withSnapshots?: boolean; /** Read previous snapshots from Opsbook's store instead (a separate diagnosed database). */ previousFrom?: PgAccess } = {},
): PgAccess & { readonly roundTrips: number } {
  let roundTrips = 0;
  let capsPromise: Promise<PgCapabilities> | undefined;
  let pending: Pending[] = [];
  let scheduled = false;

  async function loadCaps(): Promise<PgCapabilities> {
    // Snapshots live in Opsbook's schema; a role that may not create it still gets every other check.
    const snapshots = opts.withSnapshots !== false && !opts.previousFrom && (await schemaReady(db));
    roundTrips++;
    const [results, fromStore] = await Promise.all([
      // The lock table rides along: checks read it instead of waiting on a locked relation.
      db.batch([{ text: CAPS_SQL }, { text: LOCKS_SQL }, ...(snapshots ? [{ text: PREVIOUS_SQL }] : [])]),
      // The store being down must not make the diagnosed database look down: its checks lose only the diff.
      opts.previousFrom?.caps().then((c) => c.previous, () => ({})),
    ]);
    const row = results[0]!.rows[0] as Record<string, unknown>;
    const preload = typeof row.preload === 'string' ? row.preload : undefined;
    const pssInstalled = typeof row.pss_schema === 'string';
    const loaded = preload === undefined ? pssInstalled : preload.split(',').map((s) => s.trim()).includes('pg_stat_statements');
    const previous: PgCapabilities['previous'] = { ...fromStore };
    for (const r of results[2]?.rows ?? []) {
      previous[String(r.kind)] = { takenAt: new Date(r.taken_at as string).toISOString(), data: r.data };
    }
    return {
      serverVersionNum: Number(row.version),
      database: String(row.database),
      user: String(row.user),
      isSuperuser: row.superuser === true,
      canMonitor: row.superuser === true || row.monitor === true,
      isReplica: row.replica === true,
      pgStatStatements: !pssInstalled ? 'not-installed' : loaded ? 'available' : 'not-loaded',
      pgStatStatementsSchema: pssInstalled ? String(row.pss_schema) : undefined,
      maxConnections: Number(row.max_connections),
      previous,
      locks: parseLocks(results[1]?.rows ?? []),
      snapshotsReadable: snapshots || opts.previousFrom !== undefined,
    };
  }

  async function flush(): Promise<void> {
    scheduled = false;
    const group = pending;
    pending = [];
    if (group.length === 0) return;
    const all = group.flatMap((g) => g.statements);
    try {
      roundTrips++;
      const results = await db.batch(all);
      let offset = 0;
      for (const g of group) {
        g.resolve(results.slice(offset, offset + g.statements.length));
        offset += g.statements.length;
      }
    } catch (err) {
      if (group.length === 1) return group[0]!.reject(err);
      await Promise.all(
        group.map(async (g) => {
          roundTrips++;
          try {
            g.resolve(await db.batch(g.statements));
          } catch (e) {
            g.reject(e);
          }
        }),
      );
    }
  }

  return {
    get roundTrips() {
      return roundTrips;
    },
    caps: () => (capsPromise ??= loadCaps()),
    batch(statements) {
      return new Promise<QueryResult[]>((resolve, reject) => {
        pending.push({ statements, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          // After every check that resumed from caps() in this tick has queued its statements.
          setImmediate(() => void flush());
        }
      });
    },
  };
}
