import type { ChecklistConfig, OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { ensureSchema } from '../db/schema.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';
import { runDiagnostics, selects } from '../diagnostics/run.js';
import { splitTarget } from '../checks/selector.js';
import { allChecks, FAMILIES } from '../checks/registry.js';
import type { CheckResult, CheckStatus } from '../checks/types.js';
import { renderReport, type ReportItem, type ReportModel } from '../report/index.js';
import { taskByName } from '../tasks/registry.js';
import { withTimeout, TimeoutError } from '../timeout.js';
import { deliverPending, deliverReport, type Delivery } from './delivery.js';
import { deliverPendingNotifications, notificationNotes, notifyTransitions } from '../notify/deliver.js';
import { MAX_TAKEOVER_ATTEMPTS } from './missed.js';
import { notConfiguredFamilies, notConfiguredResult } from './not-configured.js';
import { describeSchedule, isDue, periodOf } from './schedule.js';
import { loadTrends } from './trends.js';
import { areaOf } from './transitions.js';
import { alertKey, evaluateAlerts, type Evaluated } from '../alerts/evaluate.js';
import { openWindows } from '../alerts/maintenance.js';
import { claimAlert, loadStates } from '../alerts/store.js';
import { stateWriteWithIncident } from '../incidents/record.js';
import { MAINTENANCE_KEY, maintenanceState } from '../flags-reader.js';

export interface ChecklistRunOptions {
  /**
   * `scheduled` (cron): only when due, once per period. `manual` (CLI, an engineer): now, whatever the
   * schedule, as its own run. @default "scheduled"
   */
  mode?: 'scheduled' | 'manual';
  /** Run the checks and render the report, but store and send nothing. @default false */
  dryRun?: boolean;
  /** For manual runs: email the report too. Scheduled runs follow the notify policy. @default false */
  send?: boolean;
  /** Progress lines, item by item. */
  progress?: (line: string) => void;
}

export type ChecklistRunResult =
  | { checklist: string; status: 'not-due'; reason: string; next?: string; resent: number }
  | { checklist: string; status: 'already-ran'; period: string; runId: number; delivery?: string; resent: number }
  | {
      checklist: string;
      status: 'completed';
      period: string;
      runId: number;
      counts: ReportModel['counts'];
      transitions: { newFailures: string[]; recovered: string[]; stillFailing: string[] };
      report: { id?: number; subject: string; delivery: Delivery | 'dry-run'; error?: string; location?: string };
      text: string;
      resent: number;
    };


/**
 * One checklist run, the way the runbooks' morning checklist is done, but by code:
 * due? → claim the period exactly once → run every item in parallel, each bounded → store every result
 * → compare with the previous run → render the report → store it in the outbox and send it
 * (idempotently) → report new failures to Sentry once.
 */
export async function runChecklist(deps: Deps, config: OpsbookConfig, id: string, now: Date, opts: ChecklistRunOptions = {}): Promise<ChecklistRunResult> {
  const list = config.checklists.find((c) => c.id === id);
  if (!list) throw new OpsbookError('NOT_FOUND', `No checklist named "${id.slice(0, 64)}".`, { details: { known: config.checklists.map((c) => c.id) } });
  const mode = opts.mode ?? 'scheduled';
  const dryRun = opts.dryRun === true;
  const progress = opts.progress ?? (() => undefined);
  const { db } = deps;

  // Reports a previous invocation could not send go out first: Vercel does not retry a failed cron.
  let resent = 0;
  if (!dryRun) {
    await ensureSchema(db);
    resent = (await deliverPending(deps, config, now)).sent;
    await deliverPendingNotifications(deps, config, now);
  }

  let period: string;
  if (mode === 'scheduled') {
    const due = isDue(list.schedule, now);
    if (!due.due) return { checklist: id, status: 'not-due', reason: due.reason, next: due.next?.toISOString(), resent };
    period = due.period;
  } else {
    period = `${periodOf(now)}@${now.toISOString().slice(11, 19)}`;
  }

  let runId = 0;
  let lease: Lease | undefined;
  if (!dryRun) {
    // The claim: a conditional insert on (checklist, period). A duplicate delivery finds the row and stops.
    // A run that failed, whose lease lapsed (its process was killed: nothing renews it), or that was left
    // running past its limit (a frozen instance) is taken over by the next invocation for the same
    // period, so a fault never costs the period its run.
    const staleBefore = new Date(now.getTime() - list.sentry.maxRuntime * 60_000).toISOString();
    const claim = (p: string) => db.query<{ id: string; attempts: number | string }>(
      `INSERT INTO opsbook.job_runs (job, period, status, started_at, lease_until) VALUES ($1, $2, 'running', $3, $5)
       ON CONFLICT (job, period) DO UPDATE SET status = 'running', started_at = EXCLUDED.started_at, lease_until = EXCLUDED.lease_until,
         finished_at = NULL, error = NULL, attempts = opsbook.job_runs.attempts + 1
       WHERE opsbook.job_runs.status = 'failed'
          OR (opsbook.job_runs.status = 'running' AND (opsbook.job_runs.lease_until < $3 OR opsbook.job_runs.started_at < $4))
       RETURNING id, attempts`,
      [id, p, now.toISOString(), staleBefore, new Date(now.getTime() + RUN_LEASE_MS).toISOString()],
    );
    let claimed = await claim(period);
    if (!claimed.rows[0] && mode === 'manual') {
      // Two manual runs in one second (two deploy hooks) are two runs: the second is told apart by its milliseconds.
      period = `${periodOf(now)}@${now.toISOString().slice(11, 23)}`;
      claimed = await claim(period);
    }
    if (!claimed.rows[0]) {
      const existing = await db.query<{ id: string; delivery: string | null }>(
        `SELECT r.id, p.delivery FROM opsbook.job_runs r LEFT JOIN opsbook.reports p ON p.run_id = r.id WHERE r.job = $1 AND r.period = $2`,
        [id, period],
      );
      const row = existing.rows[0];
      return { checklist: id, status: 'already-ran', period, runId: Number(row?.id ?? 0), delivery: row?.delivery ?? undefined, resent };
    }
    runId = Number(claimed.rows[0].id);
    lease = holdLease(deps, runId, Number(claimed.rows[0].attempts), now);
  }

  try {
    progress(`${list.title} — ${period}${dryRun ? ' (dry run: nothing is stored or sent)' : ''}`);
    const { items, hiddenRoots } = await runItems(deps, config, list, now, dryRun, progress);
    // Alert state: read (one request), advanced in code, written with the run. Only scheduled runs move
    // it: an engineer's manual run previews the transitions and pages nobody.
    // Roots that passed unlisted (postgres.reachable) still count, so a root-cause incident resolves.
    const observed = [...items, ...hiddenRoots];
    const context = dryRun ? { states: new Map(), windows: openWindows(config.maintenanceWindows, now), missed: [], missedAlerted: 0 } : await loadAlertContext(deps, config, id, observed, now);
    const evaluation = evaluateAlerts(id, observed, context.states, config.alerts, context.windows, now);
    const transitions = { items: evaluation.items.slice(0, items.length).map((e) => e.item), report: evaluation.transitions };
    const notes = [...context.missed, ...evaluation.notes];
    if (mode === 'manual' && !dryRun) notes.push('Manual run: alert states are shown as they would move, but only scheduled runs change them or send alerts.');
    if (!dryRun) notes.push(...(await notificationNotes(deps, config, id)));
    const trends = await loadTrends(deps, items, now).catch(() => ({}));
    const counts = countItems(items, list);
    const model: ReportModel = {
      service: config.service,
      checklist: { id, title: list.title, schedule: describeSchedule(list.schedule) },
      period,
      runId,
      generatedAt: now.toISOString(),
      dryRun,
      counts,
      transitions: transitions.report,
      items: transitions.items,
      trends,
      manual: list.items.filter(isManual).map((i) => ({ text: i.manual, owner: i.owner, link: i.link, lastDone: i.lastDone })),
      links: config.links,
      ...(notes.length ? { notes } : {}),
    };
    const rendered = renderReport(model);
    const summary = {
      newFailures: transitions.report.newFailures.map((i) => i.key),
      recovered: transitions.report.recovered.map((i) => i.key),
      stillFailing: transitions.report.stillFailing.map((i) => i.key),
    };
    const base = { checklist: id, status: 'completed' as const, period, runId, counts, transitions: summary, text: rendered.text, resent };
    if (dryRun) return { ...base, report: { subject: rendered.subject, delivery: 'dry-run' } };

    // A missed run that was alerted is a transition too: the next report says so, on-change included.
    const wantsEmail = mode === 'manual' ? opts.send === true : shouldNotify(list.notify, counts, summary, context.missedAlerted);
    const recipients = [...new Set([...(list.recipients ?? config.recipients), ...deps.env.OPSBOOK_EMAIL_TO])];
    const stateWrites = mode === 'scheduled' ? evaluation.items.filter((e) => e.step.next !== context.states.get(e.key)) : [];
    const { reportId, written } = await storeRun(deps, runId, id, period, now, transitions.items, rendered, recipients, wantsEmail, stateWrites, config.service, lease!.attempt);
    await sendAlerts(deps, config, list, evaluation.items.filter((e) => e.step.alert && written.has(e.key)), now);
    // Slack, webhook and PagerDuty (lib/notify), beside the email; bounded by notifications.budgetMs, never throws.
    const notifying = notifyTransitions(deps, config, id, evaluation.items.filter((e) => written.has(e.key)), now);
    const delivery = wantsEmail ? await deliverReport(deps, config, reportId, now) : { delivery: 'not-needed' as const };
    await notifying;
    return { ...base, report: { id: reportId, subject: rendered.subject, ...delivery } };
  } catch (err) {
    if (lease) {
      // Fenced by the attempt: a run that was taken over never marks its successor's row failed.
      await db
        .query(`UPDATE opsbook.job_runs SET status = 'failed', finished_at = $2, error = $3 WHERE id = $1 AND attempts = $4 AND status = 'running'`, [
          runId,
          new Date().toISOString(),
          redactSecrets(messageOf(err)).slice(0, 2000),
          lease.attempt,
        ])
        .catch(() => undefined);
    }
    // Which checklist, run and period failed travels with the error, the original as its cause (Sentry
    // shows the chain). Opsbook's own errors already say what happened and keep their code.
    throw err instanceof OpsbookError ? err : new Error(`checklist ${id}: run ${runId || '(dry run)'} for ${period} failed: ${messageOf(err)}`, { cause: err });
  } finally {
    lease?.release();
  }
}

/**
 * How long a running run's claim lasts without renewal. The run renews it every third of it while it
 * works; a process that is killed stops renewing, and once the lease lapses the next invocation of
 * anything (any checklist's cron, or health after its answer) takes the run over, within the period.
 */
export const RUN_LEASE_MS = 60_000;

interface Lease {
  attempt: number;
  release(): void;
}

/**
 * Renew the run's lease every RUN_LEASE_MS / 3, each renewal bounded by that interval, never two at
 * once. Renewal times follow the injected clock (`now` plus the time elapsed since), so a lease is
 * compared with other invocations' `now` on one time line. A failed renewal is only logged: two more
 * tries come before the lease lapses.
 */
function holdLease(deps: Deps, runId: number, attempt: number, now: Date): Lease {
  const started = performance.now();
  const every = RUN_LEASE_MS / 3;
  let inFlight = false;
  const timer = setInterval(() => {
    if (inFlight) return;
    inFlight = true;
    const until = new Date(now.getTime() + (performance.now() - started) + RUN_LEASE_MS).toISOString();
    withTimeout(
      () => deps.db.query(`UPDATE opsbook.job_runs SET lease_until = $3 WHERE id = $1 AND attempts = $2 AND status = 'running'`, [runId, attempt, until]),
      every,
      'run lease renewal',
    )
      .catch((err) => deps.log('warn', `run ${runId}: lease not renewed: ${redactSecrets(messageOf(err))}`))
      .finally(() => (inFlight = false));
  }, every);
  return { attempt, release: () => clearInterval(timer) };
}

/** The most dead runs one invocation takes over (each is a whole checklist run). */
const TAKEOVERS_PER_INVOCATION = 3;

export interface TakenOver {
  checklist: string;
  period: string;
  result?: ChecklistRunResult['status'];
  error?: string;
}

/**
 * Dead runs of any checklist: `running`, their lease lapsed, still in their period. A daily cron has no
 * later call that day, so whoever runs next (another checklist's cron, health after its answer) runs
 * them to completion, through the same claim: two takers run each at most once. A run whose period is
 * over is left to missed-run detection. One indexed read when there is nothing to take over.
 */
export async function takeOverDeadRuns(deps: Deps, config: OpsbookConfig, now: Date, except?: string): Promise<TakenOver[]> {
  const { rows } = await deps.db.query<{ job: string; period: string }>(
    `SELECT job, period FROM opsbook.job_runs WHERE status = 'running' AND lease_until < $1 AND attempts < $2 ORDER BY lease_until LIMIT $3`,
    [now.toISOString(), MAX_TAKEOVER_ATTEMPTS, TAKEOVERS_PER_INVOCATION + 1],
  );
  const out: TakenOver[] = [];
  for (const { job, period } of rows) {
    const list = config.checklists.find((c) => c.id === job);
    if (!list || job === except || out.length >= TAKEOVERS_PER_INVOCATION) continue;
    const due = isDue(list.schedule, now);
    if (!due.due || due.period !== period) continue;
    try {
      const result = await runChecklist(deps, config, job, now, { mode: 'scheduled' });
      deps.log('warn', `took over ${job} ${period}: its run's process stopped renewing its lease (${result.status})`);
      out.push({ checklist: job, period, result: result.status });
    } catch (err) {
      const error = redactSecrets(messageOf(err)).slice(0, 300);
      deps.log('error', `taking over ${job} ${period} failed: ${error}`);
      out.push({ checklist: job, period, error });
    }
  }
  return out;
}

type Item = ChecklistConfig['items'][number];
type ManualConfig = { manual: string; owner?: string; link?: string; lastDone?: string };
const isManual = (i: Item): i is Item & ManualConfig => typeof (i as ManualConfig).manual === 'string' && !('task' in i);
const isCheck = (i: Item): i is Item & { check: string } => typeof (i as { check?: unknown }).check === 'string' && !('task' in i);
const isTask = (i: Item): i is Item & { task: string } => typeof (i as { task?: unknown }).task === 'string';

function shouldNotify(policy: ChecklistConfig['notify'], counts: ReportModel['counts'], t: { newFailures: string[]; recovered: string[] }, missedAlerted: number): boolean {
  if (policy === 'always') return true;
  if (policy === 'on-failure') return counts.fail + counts.error > 0;
  return t.newFailures.length + t.recovered.length + missedAlerted > 0;
}

function countItems(items: ReportItem[], list: ChecklistConfig): ReportModel['counts'] {
  const counts = { ok: 0, warn: 0, fail: 0, skipped: 0, error: 0, manual: list.items.filter(isManual).length };
  for (const i of items) counts[i.status]++;
  return counts;
}

/** Checks run as one diagnostics run (two Postgres round trips); tasks run beside it, each bounded. */
async function runItems(
  deps: Deps,
  config: OpsbookConfig,
  list: ChecklistConfig,
  now: Date,
  dryRun: boolean,
  progress: (l: string) => void,
): Promise<{ items: ReportItem[]; hiddenRoots: ReportItem[] }> {
  // A family whose config list is empty (no checks.http yet) is one skipped item naming them all; another
  // family with nothing to run (queues disabled) is simply empty; an id that names nothing is an error item.
  const available = allChecks(config);
  const wanted = list.items.filter(isCheck).map((i) => i.check);
  const selectors = wanted.filter((sel) => available.some((c) => selects(sel, c)));
  const unconfigured = notConfiguredFamilies(wanted.filter((sel) => !selectors.includes(sel)), config);
  const unknown = wanted.filter(
    (sel) => !selectors.includes(sel) && !unconfigured.some((u) => u.selectors.includes(sel)) && !FAMILIES.some((f) => f.family === sel || f.family.startsWith(`${sel}.`)),
  );
  const tasks = list.items.filter(isTask) as Array<{ task: string } & Record<string, unknown>>;
  const line = (status: CheckStatus, id: string, summary: string) => progress(`  ${status.toUpperCase().padEnd(7)} ${id.padEnd(34)} ${summary}`);

  const checksPromise: Promise<{ checks: CheckResult[]; hiddenRoots?: CheckResult[] }> = selectors.length
    ? runDiagnostics(
        deps,
        config,
        { only: selectors, snapshot: !dryRun, checkTimeoutMs: list.itemTimeoutMs, budgetMs: list.itemTimeoutMs + 1000, onResult: (r) => line(r.status, r.id, r.summary) },
        now,
      )
    : Promise.resolve({ checks: [] });

  const taskPromise = Promise.all(
    tasks.map(async (params, n): Promise<ReportItem> => {
      const def = taskByName(params.task);
      const key = `task:${n}:${params.task}`;
      const title = def ? def.title(params) : params.task;
      let outcome;
      try {
        if (!def) throw new Error(`unknown task ${params.task}`);
        outcome = await withTimeout(
          () => def.run({ deps, config, dryRun, timeoutMs: list.itemTimeoutMs, progress: (l) => progress(`    ${l}`) }, params, now),
          list.itemTimeoutMs,
          title,
        );
      } catch (err) {
        outcome = { status: 'error' as const, summary: err instanceof TimeoutError ? `did not finish within ${list.itemTimeoutMs} ms` : redactSecrets(messageOf(err)).slice(0, 300) };
      }
      line(outcome.status, params.task, outcome.summary);
      const { value, ...rest } = outcome;
      return { key, kind: 'task', id: params.task, title, area: 'Maintenance', ...rest, ...(typeof value === 'number' ? { value } : {}) };
    }),
  );

  const { checks, hiddenRoots = [] } = await checksPromise;
  if (unconfigured.length) {
    const result = notConfiguredResult(unconfigured);
    line(result.status, result.id, result.summary);
    checks.push(result);
  }
  for (const sel of unknown) {
    // The run still reports everything else; `opsbook check-config` catches this before deploying.
    checks.push({ id: sel, title: sel, family: 'checklists', severity: 'P3', status: 'error', summary: `no check matches "${sel}"`, durationMs: 0, target: splitTarget(sel).target });
  }
  const toItem = (c: CheckResult): ReportItem => ({
    key: `check:${c.id}`,
    kind: 'check',
    id: c.id,
    title: c.title,
    area: areaOf(c.family),
    status: c.status,
    severity: c.severity,
    summary: c.summary,
    ...(typeof c.value === 'number' ? { value: c.value } : {}),
    ...(c.unit ? { unit: c.unit } : {}),
    details: c.details,
    more: c.more,
    hint: c.hint,
    ...(c.suppressedBy ? { suppressedBy: c.suppressedBy } : {}),
  });
  return { items: [...checks.map(toItem), ...(await taskPromise)], hiddenRoots: hiddenRoots.map(toItem) };
}

/**
 * Resend keeps an idempotency key for 24 hours across the whole team, so the key names the deployment:
 * the service, the environment and this database's install id (opsbook.install, made once by the
 * first migration). Two deployments on one Resend team, preview and production, or two services never
 * collide, and a retried send from the same deployment always carries the same key. The install id is
 * read by the INSERT itself (no extra round trip): the key is `prefix || install id || suffix`, with the
 * install id's first 16 hex digits (64 bits: distinct across any team's deployments, and a short key).
 */
function idempotencyKeyParts(deps: Deps, service: string, checklist: string, period: string): [string, string] {
  const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9_.@-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48) || 'opsbook';
  return [`opsbook:${slug(service)}:${slug(deps.env.VERCEL_ENV ?? 'local')}:`, `:${checklist}:${period}`];
}

/** Every result, the report (the outbox row) and the run's end, in one transaction. */
async function storeRun(
  deps: Deps,
  runId: number,
  checklist: string,
  period: string,
  now: Date,
  items: Array<ReportItem & { failingSince?: Date }>,
  rendered: { subject: string; html: string; text: string },
  recipients: string[],
  wantsEmail: boolean,
  stateWrites: Evaluated[],
  service: string,
  attempt: number,
): Promise<{ reportId: number; written: Set<string> }> {
  const keyParts = idempotencyKeyParts(deps, service, checklist, period);
  const statements = items.map((i) => ({
    text: `INSERT INTO opsbook.run_results (run_id, item_key, kind, status, summary, failing_since, data) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)`,
    params: [
      runId,
      i.key,
      i.kind,
      i.status,
      i.summary.slice(0, 2000),
      i.failingSince?.toISOString() ?? null,
      JSON.stringify({ id: i.id, title: i.title, area: i.area, severity: i.severity, value: i.value, details: i.details, more: i.more, hint: i.hint }),
    ],
  }));
  const counts: Record<string, number> = {};
  for (const i of items) counts[i.status] = (counts[i.status] ?? 0) + 1;
  const results = await deps.db.batch(
    [
      { text: 'SELECT opsbook.assert_run_owner($1, $2)', params: [runId, attempt] },
      ...statements,
      {
        text: `INSERT INTO opsbook.reports (run_id, checklist, period, subject, html, text, recipients, idempotency_key, created_at, delivery)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, left($8 || (SELECT left(install_id, 16) FROM opsbook.install) || $11, 256), $9, $10) RETURNING id`,
        params: [runId, checklist, period, rendered.subject, rendered.html, rendered.text, JSON.stringify(recipients), keyParts[0], now.toISOString(), wantsEmail ? 'pending' : 'not-needed', keyParts[1]],
      },
      {
        text: `UPDATE opsbook.job_runs SET status = 'ok', finished_at = $2, summary = $3::jsonb WHERE id = $1`,
        params: [runId, new Date().toISOString(), JSON.stringify(counts)],
      },
      // An incident opened or resolved is recorded by its state write's statement (lib/incidents/record.ts).
      ...stateWrites.map((e) => stateWriteWithIncident(e, items, checklist, now)),
    ],
    { readOnly: false },
  );
  const written = new Set(results.slice(statements.length + 3).flatMap((r) => r.rows.map((row) => String((row as { key: string }).key))));
  return { reportId: Number((results[statements.length + 1]!.rows[0] as { id: string }).id), written };
}

/**
 * Exactly one Sentry event per incident: each alert is claimed by a conditional update first, so a
 * second instance (or a retried run) finds it claimed and stays quiet. Fingerprinted by checklist and
 * check, so incidents of the same check join one Sentry issue.
 */
async function sendAlerts(deps: Deps, config: OpsbookConfig, list: ChecklistConfig, alerts: Evaluated[], now: Date): Promise<void> {
  for (const e of alerts) {
    if (!(await claimAlert(deps.db, e.key, e.step.alert!.seq, now))) continue;
    await deps.errors.captureMessage(`${config.service} · ${list.id}: ${e.item.id} is failing — ${e.item.summary}`, {
      level: e.item.status === 'fail' ? 'error' : 'warning',
      tags: { checklist: list.id, item: e.item.id, severity: e.item.severity ?? 'P3', incident: String(e.step.alert!.seq) },
      fingerprint: ['opsbook', e.key],
    });
  }
}

/** What the alert evaluation needs besides the results: stored states, maintenance mode, missed runs to mention. */
async function loadAlertContext(deps: Deps, config: OpsbookConfig, checklist: string, items: ReportItem[], now: Date) {
  const keys = items.map((i) => alertKey(checklist, i));
  const [states, settings, missed] = await Promise.all([
    loadStates(deps.db, keys),
    deps.db.query<{ value: unknown }>('SELECT value FROM opsbook.settings WHERE key = $1', [MAINTENANCE_KEY]),
    deps.db.query<{ period: string; raised_at: string | Date; muted: boolean }>(
      `SELECT period, raised_at, muted FROM opsbook.missed_alerts WHERE checklist = $1 AND raised_at > COALESCE(
         (SELECT max(started_at) FROM opsbook.job_runs WHERE job = $1 AND status = 'ok'), '-infinity') ORDER BY period`,
      [checklist],
    ),
  ]);
  const mode = maintenanceState(settings.rows[0]?.value, now.getTime());
  return {
    states,
    windows: openWindows(config.maintenanceWindows, now, mode),
    missedAlerted: missed.rows.filter((r) => !r.muted).length,
    missed: missed.rows.map(
      (r) => `Missed run: the ${r.period} run did not happen; ${r.muted ? 'recorded during maintenance (not alerted)' : `alerted at ${new Date(r.raised_at).toISOString()}`}.`,
    ),
  };
}
