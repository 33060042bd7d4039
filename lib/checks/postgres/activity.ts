import type { PostgresThresholds } from '../../config/index.js';
import type { QueryResult } from '../../db/index.js';
import { actionHint, duration, grade, ok, skipped, topN, warn, fail } from '../outcome.js';
import { displayQueryText, type QueryTextMode } from '../../sql/normalize.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome, Hint, PgCapabilities, Severity } from '../types.js';
import { lockKey, lockModeName, lockObject, type LockRow } from '../pg-locks.js';

/**
 * What is happening in the database right now, from pg_stat_activity and pg_locks (PgHero's
 * connections, long-running and blocked queries; runbook 001 "pool exhausted", runbook 004 "DB health").
 *
 * Every check follows the two-round-trip rule: `caps()` (shared), then exactly one `batch()` issued
 * synchronously after it. One scope: sessions of the current database (the app's), and every summary
 * names it; only the connections total is the server's, because max_connections is, and says so. Query text is cut to QUERY_CHARS in SQL,
 * then normalised (shownQuery): other sessions' literals and credentials never leave Opsbook.
 *
 * Without pg_monitor (or pg_read_all_stats) Postgres hides the state, times and text of other roles'
 * sessions; what is still visible (counts, pids, lock waits) is reported and the hint names the GRANT.
 */

/** Query text shown in findings, cut in SQL so rows stay small. */
export const QUERY_CHARS = 200;
export const TERMINATE_PATH = '/api/admin/db/terminate';

const FAMILY = 'postgres.activity';

/** Client sessions, including other roles' whose backend_type is hidden from an unprivileged role. */
const CLIENTS = `(backend_type IN ('client backend', 'standalone backend') OR (backend_type IS NULL AND datid IS NOT NULL AND usesysid IS NOT NULL))`;
/** Other sessions of this database, Opsbook's own backend excluded. */
const OTHERS_HERE = `datname = current_database() AND pid <> pg_backend_pid()`;

export function thresholdsOf(ctx: CheckContext): PostgresThresholds {
  return ctx.config.checks.postgres.thresholds;
}

/** A role name as SQL: bare when it can be, quoted otherwise. */
export function sqlIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replace(/"/g, '""')}"`;
}

/** The fix for a role that cannot see other roles' sessions or statements. */
export function grantMonitorFix(caps: PgCapabilities): string {
  return `GRANT pg_monitor TO ${sqlIdent(caps.user)};`;
}

/** Threshold seconds as the admin actions' duration syntax ("10m", "90s", "2h"). */
export function actionDuration(seconds: number): string {
  const s = Math.max(1, Math.ceil(seconds));
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** backend_type and friends need PostgreSQL 10. */
export function unsupportedVersion(caps: PgCapabilities): CheckOutcome | undefined {
  if (caps.serverVersionNum >= 100_000) return undefined;
  return skipped(`PostgreSQL ${Math.floor(caps.serverVersionNum / 10_000)} is older than 10, which these checks need`, 'Upgrade PostgreSQL (9.x is out of support).');
}

export const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
export const round1 = (n: number): number => Math.round(n * 10) / 10;
/** The first `n` rows of a list whose full length `total` was counted in SQL (rows were fetched with LIMIT n+1). */
export function bounded<T extends Record<string, unknown>>(rows: T[], total: number, n: number): { details: T[]; more?: number } {
  const details = rows.slice(0, n);
  return total > details.length ? { details, more: total - details.length } : { details };
}

/** A threshold in seconds, as configured. */
export const secs = (n: number): string => `${n} s`;

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
/**
 * Another session's query text as a finding may show it: literals as placeholders and credential-bearing
 * statements as their command tag, unless an admin asked for raw text (lib/sql/normalize.ts).
 */
export const shownQuery = (v: unknown, mode: QueryTextMode | undefined): string | null => displayQueryText(str(v), mode);

/** A Postgres check of `family`; its `run` gets the configured thresholds. */
export function pgCheck(
  family: string,
  def: { id: string; title: string; severity: Severity },
  run: (ctx: CheckContext, t: PostgresThresholds, now: Date) => Promise<CheckOutcome>,
): Check {
  return { ...def, family, needs: ['postgres'], run: (ctx, now) => run(ctx, thresholdsOf(ctx), now) };
}

// ---------------------------------------------------------------------------------------------------
// Connections

async function connections(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  const [totals, groups] = await ctx.pg.batch([
    {
      // The total is the server's (max_connections is); states are this database's, like every other
      // activity check, and the summary says which is which.
      text: `SELECT count(*)::int AS total,
  count(*) FILTER (WHERE datname = current_database() AND state = 'active')::int AS active,
  count(*) FILTER (WHERE datname = current_database() AND state = 'idle')::int AS idle,
  count(*) FILTER (WHERE datname = current_database() AND state LIKE 'idle in transaction%')::int AS idle_in_transaction,
  count(*) FILTER (WHERE datname = current_database() AND wait_event_type = 'Lock')::int AS waiting_on_locks,
  count(*) FILTER (WHERE datname = current_database() AND backend_type IS NULL)::int AS hidden,
  count(*) FILTER (WHERE datname = current_database())::int AS this_database
FROM pg_stat_activity WHERE ${CLIENTS}`,
    },
    {
      text: `SELECT CASE WHEN backend_type IS NULL THEN 'hidden' ELSE COALESCE(state, 'starting') END AS state,
  wait_event_type, wait_event, count(*)::int AS n, (count(*) OVER ())::int AS groups
FROM pg_stat_activity WHERE ${CLIENTS} AND datname = current_database()
GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT $1::int`,
      params: [t.topN + 1],
    },
  ]);
  const c = totals!.rows[0] ?? {};
  const total = num(c.total);
  const hidden = num(c.hidden);
  const max = caps.maxConnections;
  const pct = max > 0 ? (total / max) * 100 : 0;
  const status = grade(pct, { warn: t.connectionsWarnPct, fail: t.connectionsFailPct });
  const rows = groups!.rows.map((r) => ({
    state: String(r.state),
    waitEventType: str(r.wait_event_type),
    waitEvent: str(r.wait_event),
    connections: num(r.n),
  }));
  const groupCount = num(groups!.rows[0]?.groups ?? 0);
  const page = bounded(rows, groupCount, t.topN);

  const parts = [`${num(c.active)} active`, `${num(c.idle)} idle`, `${num(c.idle_in_transaction)} idle in transaction`];
  if (num(c.waiting_on_locks) > 0) parts.push(`${num(c.waiting_on_locks)} waiting on locks`);
  if (hidden > 0) parts.push(`${hidden} of other roles (state hidden)`);
  const here = num(c.this_database);
  const elsewhere = total - here;
  const summary =
    `server: ${total} of ${max} connections in use (${round1(pct)}%${elsewhere > 0 ? `, ${elsewhere} to other databases` : ''}); ` +
    `database ${caps.database}: ${here} — ${parts.join(', ')}` +
    (status === 'ok' ? '' : `; over the ${status === 'fail' ? t.connectionsFailPct : t.connectionsWarnPct}% ${status} threshold`);

  let hint: Hint | undefined;
  if (status !== 'ok') {
    hint = actionHint(
      'Close sessions idle for more than 10 minutes, then look at idle-in-transaction and long-running sessions; ' +
        'lower the app pool size or put a pooler in front (PgBouncer, or the -pooler host on Neon).' +
        (hidden > 0 ? ` Without pg_monitor other roles' sessions are hidden: ${grantMonitorFix(caps)}` : ''),
      TERMINATE_PATH,
      { idleLongerThan: '10m' },
    );
  } else if (hidden > 0) {
    hint = { text: `${plural(hidden, 'session')} of other roles are counted but their state is hidden: ${grantMonitorFix(caps)}` };
  }
  const extra = { value: total, unit: 'connections', ...page, ...(hint ? { hint } : {}) };
  return status === 'fail' ? fail(summary, extra) : status === 'warn' ? warn(summary, extra) : ok(summary, extra);
}

// ---------------------------------------------------------------------------------------------------
// Connection sources (PgHero's): who holds the connections, for "pool exhausted" (runbook 001)

async function connectionSources(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  const [res] = await ctx.pg.batch([
    {
      // Client addresses of other roles' sessions are hidden without pg_monitor: grouped as "hidden".
      text: `SELECT COALESCE(usename, '(unknown)') AS usename, COALESCE(NULLIF(application_name, ''), '(none)') AS application,
  CASE WHEN client_addr IS NOT NULL THEN host(client_addr) WHEN client_port = -1 THEN 'local socket' WHEN backend_type IS NULL THEN 'hidden' ELSE 'local' END AS client,
  count(*)::int AS n,
  count(*) FILTER (WHERE state = 'active')::int AS active,
  count(*) FILTER (WHERE state = 'idle')::int AS idle,
  count(*) FILTER (WHERE state LIKE 'idle in transaction%')::int AS idle_in_transaction,
  count(*) FILTER (WHERE backend_type IS NULL)::int AS hidden,
  (count(*) OVER ())::int AS sources, (sum(count(*)) OVER ())::int AS total
FROM pg_stat_activity WHERE ${CLIENTS} AND datname = current_database()
GROUP BY 1, 2, 3 ORDER BY n DESC, 1, 2, 3 LIMIT $1::int`,
      params: [t.topN + 1],
    },
  ]);
  const rows = res!.rows.map((r) => ({
    user: String(r.usename),
    application: String(r.application),
    client: String(r.client),
    connections: num(r.n),
    active: num(r.active),
    idle: num(r.idle),
    idleInTransaction: num(r.idle_in_transaction),
    ...(num(r.hidden) > 0 ? { stateHidden: num(r.hidden) } : {}),
  }));
  const sources = num(res!.rows[0]?.sources);
  const total = num(res!.rows[0]?.total);
  if (rows.length === 0) return ok(`no client connection to database ${caps.database}`, { value: 0, unit: 'sources' });
  const top = rows[0]!;
  const share = caps.maxConnections > 0 ? `, ${round1((top.connections / caps.maxConnections) * 100)}% of max_connections` : '';
  return ok(
    `database ${caps.database}: ${plural(total, 'connection')} from ${plural(sources, 'source')}; the most from ${top.user} / ${top.application} / ${top.client}: ` +
      `${top.connections} (${top.active} active, ${top.idle} idle, ${top.idleInTransaction} idle in transaction${share})`,
    {
      value: sources,
      unit: 'sources',
      ...bounded(rows, sources, t.topN),
      ...(rows.some((r) => r.stateHidden) && !caps.canMonitor
        ? { hint: { text: `Other roles' client addresses and states are hidden: ${grantMonitorFix(caps)}` } }
        : {}),
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Sessions other roles own are hidden without pg_monitor: count them in the same statement.

/** Client sessions of this database whose state this role cannot see. */
const HIDDEN_HERE = `(SELECT count(*)::int FROM pg_stat_activity WHERE ${OTHERS_HERE} AND backend_type IS NULL AND usesysid IS NOT NULL)`;

function hiddenNote(hidden: number, caps: PgCapabilities): string {
  return `${plural(hidden, 'session')} of other roles cannot be seen without pg_monitor (${grantMonitorFix(caps)})`;
}

// ---------------------------------------------------------------------------------------------------
// Idle in transaction

async function idleInTransaction(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  const [agg, rows] = await ctx.pg.batch([
    {
      text: `SELECT count(*)::int AS n,
  (count(*) FILTER (WHERE state_change < now() - make_interval(secs => $1::float8)))::int AS over_threshold,
  COALESCE(max(extract(epoch FROM now() - state_change)), 0)::float8 AS oldest_s,
  ${HIDDEN_HERE} AS hidden
FROM pg_stat_activity WHERE ${OTHERS_HERE} AND state LIKE 'idle in transaction%'`,
      params: [t.idleInTransactionSeconds],
    },
    {
      text: `SELECT pid, usename, application_name, state,
  extract(epoch FROM now() - state_change)::float8 AS idle_s,
  extract(epoch FROM now() - xact_start)::float8 AS xact_s,
  left(query, ${QUERY_CHARS}) AS query
FROM pg_stat_activity
WHERE ${OTHERS_HERE} AND state LIKE 'idle in transaction%' AND state_change < now() - make_interval(secs => $1::float8)
ORDER BY state_change LIMIT $2::int`,
      params: [t.idleInTransactionSeconds, t.topN + 1],
    },
  ]);
  const a = agg!.rows[0] ?? {};
  const count = num(a.n);
  const over = num(a.over_threshold);
  const hidden = caps.canMonitor ? 0 : num(a.hidden);
  const threshold = secs(t.idleInTransactionSeconds);

  if (over === 0) {
    if (hidden > 0) {
      return skipped(
        `no session of ${caps.user} is idle in transaction, but ${plural(hidden, 'session')} of other roles cannot be seen without pg_monitor`,
        `${grantMonitorFix(caps)} (pg_monitor lets Opsbook read other roles' session states).`,
      );
    }
    const summary =
      count === 0
        ? `no session in database ${caps.database} is idle in a transaction`
        : `${plural(count, 'session')} in database ${caps.database} idle in transaction, the oldest for ${duration(num(a.oldest_s))} (under ${threshold})`;
    return ok(summary, { value: 0, unit: 'sessions' });
  }

  const details = rows!.rows.map((r) => ({
    pid: num(r.pid),
    user: str(r.usename),
    application: str(r.application_name),
    state: str(r.state),
    idleSeconds: Math.round(num(r.idle_s)),
    transactionSeconds: Math.round(num(r.xact_s)),
    query: shownQuery(r.query, ctx.queryText),
  }));
  const summary =
    `${plural(over, 'session')} in database ${caps.database} idle in transaction longer than ${threshold}, the oldest for ${duration(num(a.oldest_s))}` +
    (hidden > 0 ? `; ${hiddenNote(hidden, caps)}` : '');
  return warn(summary, {
    value: over,
    unit: 'sessions',
    ...bounded(details, over, t.topN),
    hint: actionHint(
      'An open transaction holds its locks and stops vacuum from cleaning up: fix the code path that leaves it open ' +
        `(set idle_in_transaction_session_timeout), and terminate sessions idle longer than ${threshold}.` +
        (hidden > 0 ? ` ${grantMonitorFix(caps)} to see other roles' sessions.` : ''),
      TERMINATE_PATH,
      { idleLongerThan: actionDuration(t.idleInTransactionSeconds) },
    ),
  });
}

// ---------------------------------------------------------------------------------------------------
// Long-running queries

async function longRunning(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  const [res] = await ctx.pg.batch([
    {
      text: `WITH q AS (
  SELECT pid, usename, application_name, state, wait_event_type, wait_event, query_start, left(query, ${QUERY_CHARS}) AS query
  FROM pg_stat_activity
  WHERE ${OTHERS_HERE} AND backend_type = 'client backend' AND state IN ('active', 'fastpath function call')
    AND query_start < now() - make_interval(secs => $1::float8)
)
SELECT h.hidden, (SELECT count(*) FROM q)::int AS n, x.pid, x.usename, x.application_name, x.state,
  x.wait_event_type, x.wait_event, extract(epoch FROM now() - x.query_start)::float8 AS duration_s, x.query
FROM (SELECT ${HIDDEN_HERE} AS hidden) h
LEFT JOIN (SELECT * FROM q ORDER BY query_start LIMIT $2::int) x ON true
ORDER BY x.query_start`,
      params: [t.longRunningSeconds, t.topN + 1],
    },
  ]);
  const head = res!.rows[0] ?? {};
  const count = num(head.n);
  const hidden = caps.canMonitor ? 0 : num(head.hidden);
  const threshold = secs(t.longRunningSeconds);
  if (count === 0) {
    if (hidden > 0) {
      return skipped(
        `no query of ${caps.user} runs longer than ${threshold}, but ${plural(hidden, 'session')} of other roles cannot be seen without pg_monitor`,
        `${grantMonitorFix(caps)} (pg_monitor lets Opsbook read other roles' queries).`,
      );
    }
    return ok(`no query in database ${caps.database} has been running longer than ${threshold}`, { value: 0, unit: 'queries' });
  }
  const details = res!.rows
    .filter((r) => r.pid !== null && r.pid !== undefined)
    .map((r) => ({
      pid: num(r.pid),
      user: str(r.usename),
      application: str(r.application_name),
      durationSeconds: Math.round(num(r.duration_s)),
      state: str(r.state),
      wait: r.wait_event_type ? `${String(r.wait_event_type)}: ${String(r.wait_event ?? '')}` : null,
      query: shownQuery(r.query, ctx.queryText),
    }));
  const longest = details[0]?.durationSeconds ?? 0;
  return warn(
    `${plural(count, 'query', 'queries')} in database ${caps.database} running longer than ${threshold}, the longest for ${duration(longest)}` +
      (hidden > 0 ? `; ${hiddenNote(hidden, caps)}` : ''),
    {
      value: count,
      unit: 'queries',
      ...bounded(details, count, t.topN),
      hint: actionHint(
        `Check what the longest query does (EXPLAIN it; is it a report or a migration?); terminate queries running longer than ${threshold} if they can be retried, ` +
          'and set statement_timeout for the app role.' +
          (hidden > 0 ? ` ${grantMonitorFix(caps)} to see other roles' queries.` : ''),
        TERMINATE_PATH,
        { runningLongerThan: actionDuration(t.longRunningSeconds) },
      ),
    },
  );
}

// ---------------------------------------------------------------------------------------------------
// Blocked queries

interface BlockedRow extends Record<string, unknown> {
  pid: number;
  user: string | null;
  application: string | null;
  waitingSeconds: number;
  lock: string | null;
  /** The lock it asked for and what on: "ACCESS SHARE on table public.orders". */
  waitsFor: string;
  /** The lock queue it stands in (one per object waited for). */
  queue: string;
  blockedBy: number[];
  query: string | null;
  blockerState?: string | null;
  blockerQuery?: string | null;
}

/** One lock queue: the object, who holds it and in which mode, who waits and for which mode. */
export interface LockQueue extends Record<string, unknown> {
  object: string;
  holders: Array<{ pid: number; mode: string }>;
  waiters: Array<{ pid: number; mode: string }>;
}

/**
 * The sessions a run's lock snapshot names (caps.locks: read once, in the first round trip), from
 * pg_stat_activity: who they are, what they run, and whether they are in this database. No second read
 * of pg_locks, and no call that waits on a lock.
 */
function sessionsSql(pidList: number[]): { text: string; params: unknown[] } {
  return {
    text: `SELECT a.pid, a.usename, a.application_name, a.state, a.wait_event_type, a.wait_event,
  a.datname = current_database() AS here, extract(epoch FROM now())::float8 AS now_s,
  extract(epoch FROM now() - a.query_start)::float8 AS query_s,
  extract(epoch FROM now() - COALESCE(a.xact_start, a.query_start))::float8 AS xact_s,
  left(a.query, ${QUERY_CHARS}) AS query
FROM pg_stat_activity a WHERE a.pid = ANY ($1::text::int[])`,
    params: [`{${pidList.join(',')}}`],
  };
}

/**
 * The sessions at the head of the lock queues: blockers that are not waiting themselves, with how many
 * waiting sessions they hold up directly or through a chain, most first.
 */
export function rootBlockers(blocked: Array<{ pid: number; blockedBy: number[] }>): Array<{ pid: number; blocks: number }> {
  const waitsFor = new Map(blocked.map((b) => [b.pid, b.blockedBy]));
  const counts = new Map<number, number>();
  for (const b of blocked) {
    const roots = new Set<number>();
    const seen = new Set<number>();
    const stack = [...b.blockedBy];
    while (stack.length > 0) {
      const p = stack.pop()!;
      if (seen.has(p)) continue;
      seen.add(p);
      const up = waitsFor.get(p);
      if (up) stack.push(...up);
      else roots.add(p);
    }
    for (const r of roots) counts.set(r, (counts.get(r) ?? 0) + 1);
  }
  // Only a cycle (a deadlock the server is about to break) has no root: name the direct blockers then.
  if (counts.size === 0) for (const b of blocked) for (const p of b.blockedBy) counts.set(p, (counts.get(p) ?? 0) + 1);
  return [...counts].map(([pid, blocks]) => ({ pid, blocks })).sort((x, y) => y.blocks - x.blocks || x.pid - y.pid);
}

/**
 * Waiters grouped by the object they wait for, each queue with its holders: largest queue first. A
 * holder is a session holding a granted lock on that object; one that blocks only by standing earlier
 * in the queue (a migration waiting for ACCESS EXCLUSIVE) shows among the waiters.
 */
export function lockQueues(waits: LockRow[], held: LockRow[]): LockQueue[] {
  const queues = new Map<string, LockQueue>();
  for (const w of waits) {
    const key = lockKey(w);
    let q = queues.get(key);
    if (!q) {
      q = { object: lockObject(w), holders: [], waiters: [] };
      for (const h of held) if (lockKey(h) === key && h.pid !== null) q.holders.push({ pid: h.pid, mode: lockModeName(h.mode) });
      queues.set(key, q);
    }
    if (w.pid !== null) q.waiters.push({ pid: w.pid, mode: lockModeName(w.mode) });
  }
  return [...queues.values()].sort((a, b) => b.waiters.length - a.waiters.length || a.object.localeCompare(b.object));
}

async function blocked(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  const waits = caps.locks.waits.filter((w) => w.pid !== null && w.blockers.length > 0);
  if (waits.length === 0) return ok(`no query in database ${caps.database} is waiting on a lock`, { value: 0, unit: 'queries' });
  const involved = new Set<number>();
  for (const w of waits) {
    involved.add(w.pid!);
    for (const b of w.blockers) involved.add(b);
  }
  const [res] = await ctx.pg.batch([sessionsSql([...involved].filter((p) => p > 0).sort((a, b) => a - b))]);
  return evaluateBlocked(res!, caps, t, ctx.queryText);
}

function evaluateBlocked(res: QueryResult, caps: PgCapabilities, t: PostgresThresholds, queryText: QueryTextMode | undefined): CheckOutcome {
  const sessions = new Map(res.rows.map((r) => [num(r.pid), r]));
  // This database's sessions only, like idle-in-transaction and long-running: one scope per page.
  const waits = caps.locks.waits.filter((w) => w.pid !== null && w.blockers.length > 0 && sessions.get(w.pid)?.here === true);
  if (waits.length === 0) return ok(`no query in database ${caps.database} is waiting on a lock`, { value: 0, unit: 'queries' });
  const queues = lockQueues(waits, caps.locks.held);
  const queueOf = new Map<number, LockQueue>();
  for (const q of queues) for (const w of q.waiters) queueOf.set(w.pid, q);
  const waitSeconds = (w: LockRow): number => {
    const s = sessions.get(w.pid!)!;
    return w.waitStart !== null ? Math.max(0, num(s.now_s) - w.waitStart) : num(s.query_s);
  };
  const waiting: BlockedRow[] = waits
    .map((w) => {
      const s = sessions.get(w.pid!)!;
      return {
        pid: w.pid!,
        user: str(s.usename),
        application: str(s.application_name),
        waitingSeconds: Math.round(waitSeconds(w)),
        lock: s.wait_event_type ? `${String(s.wait_event_type)}: ${String(s.wait_event ?? '')}` : null,
        waitsFor: `${lockModeName(w.mode)} on ${lockObject(w)}`,
        queue: queueOf.get(w.pid!)?.object ?? lockObject(w),
        blockedBy: w.blockers,
        query: shownQuery(s.query, queryText),
      };
    })
    .sort((a, b) => b.waitingSeconds - a.waitingSeconds || a.pid - b.pid);

  for (const w of waiting) {
    const first = sessions.get(w.blockedBy[0] ?? -1);
    w.blockerState = first ? str(first.state) : null;
    w.blockerQuery = first ? shownQuery(first.query, queryText) : null;
  }
  const longest = Math.max(...waits.map(waitSeconds));
  const root = rootBlockers(waiting)[0]!;
  const rootRow = sessions.get(root.pid);
  const about = rootRow
    ? [str(rootRow.usename), str(rootRow.application_name), str(rootRow.state), num(rootRow.xact_s) > 0 ? `transaction open ${duration(num(rootRow.xact_s))}` : null]
    : [];
  // A prepared transaction (PREPARE TRANSACTION) holds its locks with no session: pid 0.
  const prepared = root.pid === 0;
  const rootDesc = prepared ? 'a prepared transaction' : `session ${root.pid}${about.some(Boolean) ? ` (${about.filter(Boolean).join(', ')})` : ''}`;
  // What the root holds that others wait for: the object and both modes, from the lock snapshot.
  const rootQueue = queues.find((q) => q.holders.some((h) => h.pid === root.pid));
  const holds = rootQueue
    ? ` holds ${rootQueue.holders.find((h) => h.pid === root.pid)!.mode} on ${rootQueue.object}` +
      ` (${plural(rootQueue.waiters.length, 'session')} waiting for ${[...new Set(rootQueue.waiters.map((w) => w.mode))].join(' / ')}) and`
    : '';
  const hidden = !caps.canMonitor && res.rows.some((r) => r.query === '<insufficient privilege>');
  const status = longest > t.longRunningSeconds ? 'fail' : 'warn';
  const summary =
    `${plural(waiting.length, 'query', 'queries')} in database ${caps.database} waiting on locks in ${plural(queues.length, 'queue')}, the longest for ${duration(longest)}` +
    (status === 'fail' ? ` (over ${secs(t.longRunningSeconds)})` : '') +
    `; ${rootDesc}${holds} blocks ${waiting.length === 1 ? 'it' : root.blocks === waiting.length ? 'all of them' : `${root.blocks} of them`}` +
    (hidden ? '; other roles\' queries are hidden without pg_monitor' : '');
  const extra: Partial<CheckOutcome> = {
    value: waiting.length,
    unit: 'queries',
    ...topN(waiting, t.topN),
    hint: prepared
      ? { text: 'A prepared transaction holds the lock: find it in pg_prepared_xacts and COMMIT PREPARED or ROLLBACK PREPARED it.' }
      : actionHint(
          `Session ${root.pid} is at the head of the lock queue${root.blocks > 1 ? ` and holds up ${root.blocks} sessions` : ''}: end its transaction, or terminate it if its work can be lost ` +
            '(the app should retry). Keep migrations short and run them with a lock_timeout.' +
            (hidden ? ` ${grantMonitorFix(caps)} to see other roles' queries.` : ''),
          TERMINATE_PATH,
          { pid: root.pid },
        ),
  };
  return status === 'fail' ? fail(summary, extra) : warn(summary, extra);
}

export const family: CheckFamily = {
  family: FAMILY,
  checks(config) {
    if (!config.checks.postgres.enabled) return [];
    return [
      pgCheck(FAMILY, { id: 'postgres.connections', title: 'Connections', severity: 'P1' }, connections),
      pgCheck(FAMILY, { id: 'postgres.connection-sources', title: 'Connection sources', severity: 'P3' }, connectionSources),
      pgCheck(FAMILY, { id: 'postgres.idle-in-transaction', title: 'Idle in transaction', severity: 'P2' }, idleInTransaction),
      pgCheck(FAMILY, { id: 'postgres.long-running', title: 'Long-running queries', severity: 'P2' }, longRunning),
      pgCheck(FAMILY, { id: 'postgres.blocked', title: 'Blocked queries', severity: 'P2' }, blocked),
    ];
  },
};
