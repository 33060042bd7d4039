import { setTimeout as sleep } from 'node:timers/promises';
import * as z from 'zod';
import type { ActionContext, ActionDefinition } from '../admin/action.js';
import { audited, auditRow } from '../admin/audit.js';
import { roleAllows } from '../auth.js';
import { isOpsbookApplicationName, opsbookSessionSql } from '../db/application-name.js';
import { redactSecrets } from '../env.js';
import { messageOf, OpsbookError } from '../errors.js';
import { displayQueryText } from '../sql/normalize.js';
import { notFound } from '../admin/app-rows.js';
import { durationField, durationMs } from '../admin/fields.js';

export const schema = z.object({
  /** One session. */
  pid: z.number().int().min(1).max(2_147_483_647).optional(),
  /** Every session idle (or idle in a transaction) for longer than this: runbook 001 "kill idle > 10 min". */
  idleLongerThan: durationField.optional(),
  /** Every query running for longer than this: runbook 001 "kill queries active > 5 min". */
  runningLongerThan: durationField.optional(),
  /** pg_cancel_backend first; terminate only the sessions the cancel did not move on after a short wait. */
  cancelFirst: z.boolean().optional(),
});
export type Params = z.output<typeof schema>;

type Form = { kind: 'pid'; pid: number } | { kind: 'idle'; ms: number; text: string } | { kind: 'running'; ms: number; text: string };

function formOf(p: Params): Form {
  const given = [p.pid !== undefined, p.idleLongerThan !== undefined, p.runningLongerThan !== undefined].filter(Boolean).length;
  if (given !== 1) throw new OpsbookError('BAD_REQUEST', 'Give exactly one of pid, idleLongerThan or runningLongerThan.');
  if (p.pid !== undefined) return { kind: 'pid', pid: p.pid };
  if (p.idleLongerThan !== undefined) return { kind: 'idle', ms: durationMs(p.idleLongerThan), text: p.idleLongerThan };
  return { kind: 'running', ms: durationMs(p.runningLongerThan!), text: p.runningLongerThan! };
}

/** At most this many sessions per request. */
const MAX_TARGETS = 1000;
/** How long cancelled queries get to stop before the sessions still on them are terminated. */
const CANCEL_WAIT_MS = 2000;
/** How long terminated sessions get to exit before the answer says whether they did. */
const EXIT_WAIT_MS = 2000;
/** Time one request spends signalling; the rest is left for a repeat. */
const BUDGET_MS = 25_000;
const QUERY_CHARS = 200;

/**
 * The form's condition on pg_stat_activity `a`, `$2` being the age in seconds. It is evaluated when
 * listing AND again in the statement that sends each signal, so a session that woke up (or whose query
 * finished) between the list and its turn is left alone.
 */
function condition(form: Form): string {
  switch (form.kind) {
    case 'pid':
      return '($2::float8 IS NULL OR true)';
    case 'idle':
      return `a.state IN ('idle', 'idle in transaction', 'idle in transaction (aborted)') AND a.state_change < now() - make_interval(secs => $2::float8)`;
    case 'running':
      return `a.state = 'active' AND a.query_start < now() - make_interval(secs => $2::float8)`;
  }
}

/**
 * Sessions that are never signalled: Opsbook's own (this statement's, and every connection named
 * `opsbook` / `opsbook/…`: this instance's other pool connections and every other instance's),
 * superusers', other databases', and anything that is not a client backend (autovacuum, walsender,
 * background and parallel workers). Evaluated again by the statement that sends the signal.
 */
const ELIGIBLE = `a.datname = current_database() AND a.backend_type = 'client backend' AND a.pid <> pg_backend_pid() AND NOT COALESCE(r.rolsuper, false)
  AND NOT COALESCE(${opsbookSessionSql('a')}, false)`;

interface Session {
  pid: number;
  user: string | null;
  application: string | null;
  state: string | null;
  backend_type: string | null;
  datname: string | null;
  here: boolean;
  own: boolean;
  superuser: boolean;
  age_s: number | null;
  query: string | null;
  state_change_us: string | null;
}

function listSql(form: Form): string {
  const age = form.kind === 'running' ? 'a.query_start' : form.kind === 'idle' ? 'a.state_change' : `CASE WHEN a.state = 'active' THEN a.query_start ELSE a.state_change END`;
  return `SELECT a.pid, a.usename AS "user", a.application_name AS application, a.state, a.backend_type, a.datname,
      a.datname IS NOT DISTINCT FROM current_database() AS here, a.pid = pg_backend_pid() AS own,
      COALESCE(r.rolsuper, false) AS superuser,
      floor(extract(epoch FROM now() - ${age}))::float8 AS age_s,
      left(a.query, ${QUERY_CHARS}) AS query,
      (extract(epoch FROM a.state_change) * 1000000)::bigint::text AS state_change_us
    FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
    WHERE ${form.kind === 'pid' ? 'a.pid = $1::int' : `a.datname = current_database() AND ($1::int IS NULL OR true)`} AND ${condition(form)}
    ORDER BY (${ELIGIBLE}) DESC, ${age} ASC NULLS LAST
    LIMIT ${MAX_TARGETS * 2}`;
}

function skipReason(s: Session): string | undefined {
  if (s.own) return "Opsbook's own session";
  if (isOpsbookApplicationName(s.application)) return `one of Opsbook's own connections (application_name ${s.application}): Opsbook never terminates itself`;
  if (s.backend_type !== 'client backend') return `a ${s.backend_type ?? 'background'} process, not a client session`;
  if (!s.here) return `connected to database ${s.datname ?? '(none)'}, not this one`;
  if (s.superuser) return `a superuser's session (${s.user}): Opsbook never signals those`;
  return undefined;
}

/**
 * A session as it leaves Opsbook: its query text normalised (literals as placeholders, credential-bearing
 * statements as their command tag), as everywhere else query text is shown; the audit row gets the same.
 */
const shown = (s: Session) => ({ pid: s.pid, user: s.user, application: s.application, state: s.state, ageSeconds: s.age_s, query: displayQueryText(s.query) });

type Signal = 'cancel' | 'terminate';

/**
 * One signal to one pid, and its audit row, in ONE statement: the row records the session as it was
 * (user, state, query) and whether the signal was sent. A signal is not transactional (it is sent when
 * the function runs, whatever happens to the statement after), so a failing audit insert cannot take it
 * back; it can only fail the request, which the caller then sees.
 *
 * One audit row per pid and per signal, rather than one row listing every pid: each row is written by
 * the statement that sends its signal, so the log is complete even if the function dies half-way through
 * a list; each row answers "who killed pid 4711, and what was it running" on its own (target `pid:4711`);
 * and the count is bounded (MAX_TARGETS).
 */
function signalStatement(ctx: ActionContext, form: Form, params: Params, pid: number, signal: Signal, sameStateSinceUs: string | null, query: string | null) {
  const fn = signal === 'cancel' ? 'pg_cancel_backend' : 'pg_terminate_backend';
  return audited(ctx, { action: 'db.terminate', target: `pid:${pid}`, params }, {
    ctes: `target AS (
        SELECT a.pid, jsonb_build_object('pid', a.pid, 'user', a.usename, 'application', a.application_name, 'state', a.state,
          'stateSince', a.state_change, 'queryStart', a.query_start, 'query', $5::text) AS row
        FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
        WHERE a.pid = $1::int AND ${ELIGIBLE} AND ${condition(form)}
          AND ($3::text IS NULL OR (extract(epoch FROM a.state_change) * 1000000)::bigint::text = $3::text)),
      signalled AS (SELECT pid, ${fn}(pid) AS sent FROM target),
      present AS (SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1::int) AS present)`,
    before: '(SELECT row FROM target)',
    after: `(SELECT jsonb_build_object('signal', $4::text, 'sent', sent) FROM signalled)`,
    result: `CASE WHEN EXISTS (SELECT 1 FROM signalled WHERE sent) THEN 'ok' WHEN EXISTS (SELECT 1 FROM signalled) THEN 'failed'
      WHEN (SELECT present FROM present) THEN 'not-matching' ELSE 'gone' END`,
    params: [pid, form.kind === 'pid' ? null : form.ms / 1000, sameStateSinceUs, signal, query],
  });
}

type Outcome = 'ok' | 'failed' | 'not-matching' | 'gone';

async function signal(ctx: ActionContext, form: Form, params: Params, pid: number, sig: Signal, sameStateSinceUs: string | null, query: string | null): Promise<{ outcome: Outcome; auditId?: number; error?: string }> {
  try {
    const [res] = await ctx.deps.db.batch([signalStatement(ctx, form, params, pid, sig, sameStateSinceUs, query)], { readOnly: false });
    const row = res!.rows[0] as { audit_id: string; result: Outcome };
    return { outcome: row.result, auditId: Number(row.audit_id) };
  } catch (err) {
    // Typically 42501: Opsbook's role may not signal this role's sessions (grant it pg_signal_backend).
    // Nothing was sent; the attempt is still audited.
    const error = redactSecrets(messageOf(err)).slice(0, 200);
    const [res] = await ctx.deps.db
      .batch([auditRow(ctx, { action: 'db.terminate', target: `pid:${pid}`, params, after: { signal: sig, sent: false, error }, result: 'failed' })], { readOnly: false })
      .catch(() => [undefined]);
    const auditId = res ? Number((res.rows[0] as { id: string }).id) : undefined;
    return { outcome: 'failed', auditId, error };
  }
}

/** Poll until `done` says so or `ms` passed; answers the last reading. */
async function pollPresent(ctx: ActionContext, pids: number[], ms: number, done: (rows: Map<number, string | null>) => boolean): Promise<Map<number, string | null>> {
  const deadline = performance.now() + ms;
  for (;;) {
    const { rows } = await ctx.deps.db.query<{ pid: number; state_change_us: string | null }>(
      `SELECT pid, (extract(epoch FROM state_change) * 1000000)::bigint::text AS state_change_us FROM pg_stat_activity WHERE pid = ANY($1::int[])`,
      [pids],
    );
    const present = new Map(rows.map((r) => [Number(r.pid), r.state_change_us]));
    if (done(present) || performance.now() >= deadline) return present;
    await sleep(100);
  }
}

/**
 * `POST /api/admin/db/terminate` `{"pid":4711}` | `{"idleLongerThan":"10m"}` | `{"runningLongerThan":"5m"}`
 * — runbook 001's "kill idle > 10 min" and "kill queries active > 5 min", and 004's "terminate a pid".
 * A pid needs the operate role; the by-age forms are bulk, so they need admin and the dry run's confirm
 * token. Never signalled: Opsbook's own sessions (pg_backend_pid(), and every connection whose
 * application_name is `opsbook` or `opsbook/…`, from any instance), superusers' sessions (pg_roles
 * rolsuper: an admin's psql, replication tooling), sessions of other databases and non-client backends
 * (autovacuum, walsender, parallel workers). Sessions go one by one, each pid with its result.
 * Not on PGlite: the embedded database is one connection, Opsbook's own.
 * Privileges: Opsbook's role needs pg_read_all_stats (or pg_monitor) to see other roles' sessions' state
 * and query, and pg_signal_backend to signal them; without them it sees and signals only its own role's.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'db.terminate',
  method: 'POST',
  path: '/api/admin/db/terminate',
  role: 'operate',
  summary: 'Terminate a Postgres session by pid (operate), or every session idle / running longer than a duration (admin, with confirm)',
  schema,
  confirm: (p) => p.pid === undefined && (p.idleLongerThan === undefined) !== (p.runningLongerThan === undefined),
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const form = formOf(params);
    if (form.kind !== 'pid' && !roleAllows(ctx.actor.role, 'admin')) {
      throw new OpsbookError('FORBIDDEN', 'Terminating sessions by age is bulk: it needs the admin role (a single pid needs operate).');
    }
    if (ctx.deps.db.driver === 'pglite') {
      throw new OpsbookError('CONFLICT', 'Terminating sessions is not supported on the embedded database (PGlite has one connection: Opsbook\'s own).');
    }
    const { rows } = await ctx.deps.db.query<Session>(listSql(form), [form.kind === 'pid' ? form.pid : null, form.kind === 'pid' ? null : form.ms / 1000]);
    const sessions = rows.map((r) => ({ ...r, pid: Number(r.pid), age_s: r.age_s === null ? null : Number(r.age_s) }));
    const what = form.kind === 'pid' ? `pid ${form.pid}` : form.kind === 'idle' ? `sessions idle for more than ${form.text}` : `queries running for more than ${form.text}`;

    if (form.kind === 'pid') {
      const s = sessions[0];
      if (!s) throw notFound(`No session with pid ${form.pid} (it may have ended already).`);
      const reason = skipReason(s);
      if (reason) throw new OpsbookError('CONFLICT', `pid ${form.pid} is ${reason}: it is not terminated.`);
    }
    const eligible = sessions.filter((s) => !skipReason(s));
    const targets = eligible.slice(0, MAX_TARGETS);
    const skipped = sessions.filter((s) => skipReason(s)).map((s) => ({ ...shown(s), reason: skipReason(s) }));
    const more = eligible.length - targets.length;
    const tail = `${skipped.length ? `; ${skipped.length} skipped (superusers, Opsbook's own connections, non-client)` : ''}${more ? `; ${more} more beyond the first ${MAX_TARGETS}` : ''}`;

    if (dryRun) {
      return {
        status: targets.length ? 'ok' : 'noop',
        dryRun,
        summary: targets.length
          ? `Would ${params.cancelFirst ? 'cancel, then terminate if still there,' : 'terminate'} ${targets.length} session(s): ${what}${tail}.`
          : `No session to terminate: ${what}${tail}.`,
        count: targets.length,
        sample: targets.map(shown),
        data: { skipped: skipped.slice(0, 50) },
      };
    }

    const started = performance.now();
    const results: Array<Record<string, unknown>> = [];
    let notReached = 0;
    const cancelled = new Map<number, string | null>();
    for (let i = 0; i < targets.length; i++) {
      if (performance.now() - started > BUDGET_MS) {
        notReached = targets.length - i;
        break;
      }
      const s = targets[i]!;
      const sig: Signal = params.cancelFirst ? 'cancel' : 'terminate';
      const r = await signal(ctx, form, params, s.pid, sig, null, displayQueryText(s.query));
      if (sig === 'cancel' && r.outcome === 'ok') {
        cancelled.set(s.pid, s.state_change_us);
        results.push({ ...shown(s), result: 'cancel-sent', auditIds: [r.auditId] });
      } else {
        results.push({ ...shown(s), result: r.outcome === 'ok' ? 'terminated' : r.outcome, auditIds: [r.auditId], ...(r.error ? { error: r.error } : {}) });
      }
    }

    if (cancelled.size) {
      // Wait for the cancels to land: a session whose state moved on (query stopped) is done with.
      await pollPresent(ctx, [...cancelled.keys()], CANCEL_WAIT_MS, (present) =>
        [...cancelled].every(([pid, since]) => !present.has(pid) || present.get(pid) !== since),
      );
      for (const row of results) {
        const pid = row.pid as number;
        if (!cancelled.has(pid)) continue;
        // Only a session still in the very state it was cancelled in (same state_change) is terminated.
        const r = await signal(ctx, form, params, pid, 'terminate', cancelled.get(pid) ?? null, (row.query as string | null) ?? null);
        row.auditIds = [...(row.auditIds as number[]), r.auditId];
        row.result = r.outcome === 'ok' ? 'terminated' : r.outcome === 'failed' ? 'failed' : r.outcome === 'gone' ? 'gone' : 'cancelled';
        if (r.error) row.error = r.error;
      }
    }

    const terminated = results.filter((r) => r.result === 'terminated').map((r) => r.pid as number);
    if (terminated.length) {
      const present = await pollPresent(ctx, terminated, EXIT_WAIT_MS, (p) => p.size === 0);
      for (const r of results) if (r.result === 'terminated') r.exited = !present.has(r.pid as number);
    }
    const failed = results.filter((r) => r.result === 'failed').length;
    const stopped = results.filter((r) => r.result === 'terminated' || r.result === 'cancelled').length;
    const status = failed || notReached ? 'partial' : stopped === 0 ? 'noop' : 'ok';
    const counts = ['terminated', 'cancelled', 'gone', 'not-matching', 'failed']
      .map((k) => [k, results.filter((r) => r.result === k).length] as const)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    return {
      status,
      dryRun,
      summary: results.length
        ? `${what}: ${counts}${notReached ? `; ${notReached} not reached within the time limit (repeat to continue)` : ''}${tail}.`
        : `No session to terminate: ${what}${tail}.`,
      count: stopped,
      results,
      data: { skipped: skipped.slice(0, 50) },
    };
  },
};
