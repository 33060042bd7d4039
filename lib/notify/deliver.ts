import type { Evaluated } from '../alerts/evaluate.js';
import type { NotificationsConfig, Severity } from '../config/schema.js';
import type { Db } from '../db/index.js';
import type { Deps } from '../deps.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import { TimeoutError, withTimeout } from '../timeout.js';
import { invocationDeadline } from './budget.js';
import { channelsOf, notifies, routeChannels } from './registry.js';
import type { Channel, NotificationEvent, NotificationMessage, SendOutcome } from './types.js';

/**
 * Notifications (issue 14): one message per incident transition and channel, on an exactly-once claim.
 *
 * The claim is the row: `opsbook.notifications` is unique on (subject, event, channel), and the instance
 * whose `INSERT … ON CONFLICT DO NOTHING RETURNING` gets the row back owns it (and holds it for CLAIM_MS
 * through `claimed_until`). Rows are inserted right after the run that decided the transition stored it,
 * and only for the alert states that run wrote (the same `written` set that gates the Sentry alert).
 * Delivery then runs every channel in parallel (a slow or failing one never holds up another), each
 * request bounded by `timeoutMs`, retried with backoff or Retry-After while the invocation's budget lasts.
 * What is not delivered stays `pending` and is retried by the next invocation; after `maxAttempts`
 * invocations, or at once on a permanent refusal (a 4xx other than 429), it is `failed`: the next report of
 * its checklist says so and Sentry hears of it once per channel until that channel delivers again.
 */

type Cfg = { service: string; notifications: NotificationsConfig };

interface Row {
  id: string;
  subject: string;
  event: NotificationEvent;
  channel: string;
  payload: unknown;
  attempts: number | string;
}

/** How long an owner holds a row it is delivering; a crashed owner's rows are retried after it. */
const CLAIM_MS = 2 * 60_000;
/** Requests one invocation makes for one message at most, before leaving it to the next invocation. */
export const TRIES_PER_INVOCATION = 3;
/** Backoff between those requests: 250 ms, 500 ms (unless the channel's Retry-After says otherwise). */
const BACKOFF_MS = 250;
/** Backoff between invocations: 1, 2, 4 … minutes, at most an hour (or the channel's Retry-After). */
const NEXT_MS = (attempts: number) => Math.min(60 * 60_000, 60_000 * 2 ** Math.max(0, attempts - 1));
/** Below this much budget left, no request is started. */
const MIN_REQUEST_MS = 50;
/** Pending rows one invocation takes on. */
const SWEEP_LIMIT = 20;

export interface Delivered {
  sent: number;
  pending: number;
  failed: number;
}
const NONE: Delivered = { sent: 0, pending: 0, failed: 0 };

const RETURNING = 'RETURNING id, subject, event, channel, payload, attempts';

/** Insert rows; those this call inserted come back, claimed by it. */
async function enqueue(db: Db, rows: Array<{ message: NotificationMessage; channel: string }>, now: Date): Promise<Row[]> {
  if (rows.length === 0) return [];
  const { rows: owned } = await db.query<Row>(
    `INSERT INTO opsbook.notifications (subject, event, channel, checklist, payload, created_at, claimed_until)
     SELECT s, e, c, k, p::jsonb, $6, $7 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(s, e, c, k, p)
     ON CONFLICT (subject, event, channel) DO NOTHING ${RETURNING}`,
    [
      rows.map((r) => r.message.subject),
      rows.map((r) => r.message.event),
      rows.map((r) => r.channel),
      rows.map((r) => r.message.checklist),
      rows.map((r) => JSON.stringify(r.message)),
      now.toISOString(),
      new Date(now.getTime() + CLAIM_MS).toISOString(),
    ],
  );
  return owned;
}

const clean = (s: string, max = 500) => redactSecrets(s).replace(/\s+/g, ' ').slice(0, max);

/**
 * The transitions of one scheduled run, for the alert states it wrote: an alert (opened, or a muted one
 * that outlived its window) → `open` to its routed channels; a resolution → `resolved` to the channels that
 * were told it opened (PagerDuty resolves the alert it triggered). Never throws: a notification problem is
 * logged and never fails the run.
 */
export async function notifyTransitions(deps: Pick<Deps, 'db' | 'errors' | 'log'>, config: Cfg, checklist: string, written: Evaluated[], now: Date): Promise<Delivered> {
  if (!notifies(config.notifications)) return NONE;
  try {
    const opens: Array<{ message: NotificationMessage; channel: string }> = [];
    const resolved: NotificationMessage[] = [];
    for (const e of written) {
      const severity: Severity = e.item.severity ?? 'P3';
      const base = { service: config.service, checklist, severity, at: now.toISOString(), check: e.item.id, title: e.item.title };
      if (e.step.alert) {
        const message: NotificationMessage = { ...base, event: 'open', subject: `${e.key}#${e.step.alert.seq}`, summary: clean(e.item.summary), openedAt: e.step.alert.openedAt };
        for (const channel of routeChannels(config.notifications, { severity, checklist })) opens.push({ message, channel });
      }
      if (e.step.resolved) {
        resolved.push({ ...base, event: 'resolved', subject: `${e.key}#${e.step.resolved.seq}`, summary: clean(`${e.item.id} recovered: ${e.item.summary}`), openedAt: e.step.resolved.openedAt });
      }
    }
    const owned = await enqueue(deps.db, opens, now);
    if (resolved.length) {
      // Where the open went (sent, pending or failed): a resolve goes to the same channels, after it.
      const subjects = resolved.map((m) => m.subject);
      const { rows: told } = await deps.db.query<{ subject: string; channel: string }>(`SELECT subject, channel FROM opsbook.notifications WHERE subject = ANY($1::text[]) AND event = 'open'`, [subjects]);
      const bySubject = new Map(resolved.map((m) => [m.subject, m]));
      // An open still pending (its channel was down) goes first, by this owner, when nobody else holds it.
      const { rows: openPending } = await deps.db.query<Row>(
        `UPDATE opsbook.notifications SET claimed_until = $3 WHERE subject = ANY($1::text[]) AND event = 'open' AND status = 'pending'
           AND (claimed_until IS NULL OR claimed_until < $2) ${RETURNING}`,
        [subjects, now.toISOString(), new Date(now.getTime() + CLAIM_MS).toISOString()],
      );
      owned.push(...openPending, ...(await enqueue(deps.db, told.map((t) => ({ message: bySubject.get(t.subject)!, channel: t.channel })), now)));
    }
    return await deliver(deps, config, owned, now);
  } catch (err) {
    deps.log('error', `notifications for ${checklist} not queued: ${clean(messageOf(err))}`);
    return NONE;
  }
}

/** A missed run, raised once per (checklist, period): `missed` to its routed channels. Never throws. */
export async function notifyMissed(
  deps: Pick<Deps, 'db' | 'errors' | 'log'>,
  config: Cfg,
  missed: { checklist: string; period: string; expectedAt: string; lastRunAt?: string | null },
  now: Date,
): Promise<Delivered> {
  if (!notifies(config.notifications)) return NONE;
  try {
    const severity = config.notifications.missedRunSeverity;
    const message: NotificationMessage = {
      event: 'missed',
      subject: `${missed.checklist}@${missed.period}`,
      service: config.service,
      checklist: missed.checklist,
      severity,
      summary: `${missed.checklist} missed its run for ${missed.period} (expected ${missed.expectedAt}; last run ${missed.lastRunAt ?? 'never'})`,
      at: now.toISOString(),
      period: missed.period,
      expectedAt: missed.expectedAt,
    };
    const owned = await enqueue(deps.db, routeChannels(config.notifications, { severity, checklist: missed.checklist }).map((channel) => ({ message, channel })), now);
    return await deliver(deps, config, owned, now);
  } catch (err) {
    deps.log('error', `missed-run notification for ${missed.checklist} ${missed.period} not queued: ${clean(messageOf(err))}`);
    return NONE;
  }
}

/**
 * What earlier invocations left pending (a channel was down, rate-limiting or too slow), once it is due:
 * claimed with a conditional update, so two invocations never send one twice. A resolve waits for its
 * open on the same channel. Never throws.
 */
export async function deliverPendingNotifications(deps: Pick<Deps, 'db' | 'errors' | 'log'>, config: Cfg, now: Date): Promise<Delivered> {
  if (!notifies(config.notifications)) return NONE;
  try {
    const { rows } = await deps.db.query<Row>(
      `UPDATE opsbook.notifications SET claimed_until = $2
       WHERE id IN (
         SELECT n.id FROM opsbook.notifications n
         WHERE n.status = 'pending' AND (n.claimed_until IS NULL OR n.claimed_until < $1) AND (n.next_attempt_at IS NULL OR n.next_attempt_at <= $1)
           AND NOT (n.event = 'resolved' AND EXISTS (
             SELECT 1 FROM opsbook.notifications o WHERE o.subject = n.subject AND o.channel = n.channel AND o.event = 'open' AND o.status = 'pending'
               AND (o.next_attempt_at > $1 OR o.claimed_until >= $1)))
         ORDER BY n.id LIMIT $3)
         AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < $1)
       ${RETURNING}`,
      [now.toISOString(), new Date(now.getTime() + CLAIM_MS).toISOString(), SWEEP_LIMIT],
    );
    return await deliver(deps, config, rows, now);
  } catch (err) {
    deps.log('warn', `pending notifications not retried: ${clean(messageOf(err))}`);
    return NONE;
  }
}

/** Deliver owned rows: channels in parallel, each channel's rows in order, within one budget. */
async function deliver(deps: Pick<Deps, 'db' | 'errors' | 'log'>, config: Cfg, rows: Row[], now: Date): Promise<Delivered> {
  if (rows.length === 0) return NONE;
  const channels = channelsOf(config.notifications);
  const started = performance.now();
  const deadline = Math.min(started + config.notifications.budgetMs, invocationDeadline() ?? Infinity);
  const byChannel = new Map<string, Row[]>();
  for (const r of [...rows].sort((a, b) => Number(a.id) - Number(b.id))) byChannel.set(r.channel, [...(byChannel.get(r.channel) ?? []), r]);
  const total = { ...NONE };
  const clock = () => new Date(now.getTime() + (performance.now() - started));
  await Promise.all(
    [...byChannel].map(async ([name, list]) => {
      const channel = channels.get(name);
      for (let i = 0; i < list.length; i++) {
        const row = list[i]!;
        const outcome: SendOutcome = channel
          ? await attempt(channel, row, config.notifications, deadline, clock)
          : { kind: 'permanent', error: `channel "${name}" is no longer configured (notifications.channels)` };
        const result = await record(deps, config, row, channel, outcome, clock()).catch((err) => {
          deps.log('error', `notification ${row.id} (${name}) not recorded: ${clean(messageOf(err))}`);
          return 'pending' as const;
        });
        total[result]++;
        if (result === 'pending') {
          // The channel is down or slow: its other messages wait for the next invocation, unclaimed.
          const rest = list.slice(i + 1);
          if (rest.length) {
            await deps.db.query(`UPDATE opsbook.notifications SET claimed_until = NULL WHERE id = ANY($1::bigint[]) AND status = 'pending'`, [rest.map((r) => r.id)]).catch(() => undefined);
            total.pending += rest.length;
          }
          break;
        }
      }
    }),
  );
  return total;
}

/** One message to one channel: up to TRIES_PER_INVOCATION requests, each bounded, none past the deadline. */
async function attempt(channel: Channel, row: Row, config: NotificationsConfig, deadline: number, clock: () => Date): Promise<SendOutcome & { tries?: number }> {
  const message = (typeof row.payload === 'string' ? JSON.parse(row.payload) : row.payload) as NotificationMessage;
  let last: SendOutcome = { kind: 'retry', error: 'no time left in this invocation' };
  for (let tries = 1; tries <= TRIES_PER_INVOCATION; tries++) {
    const left = deadline - performance.now();
    if (left < MIN_REQUEST_MS) break;
    const ms = Math.max(1, Math.floor(Math.min(config.timeoutMs, left)));
    const controller = new AbortController();
    try {
      last = await withTimeout(() => channel.send(message, { signal: controller.signal, at: clock() }), ms, `${channel.type} notification`, () => controller.abort());
    } catch (err) {
      last = { kind: 'retry', error: err instanceof TimeoutError ? `timed out after ${ms} ms` : clean(messageOf(err), 200) };
    }
    if (last.kind !== 'retry' || tries === TRIES_PER_INVOCATION) break;
    const wait = last.retryAfterMs ?? BACKOFF_MS * 2 ** (tries - 1);
    if (wait > deadline - performance.now() - MIN_REQUEST_MS) break;
    await new Promise((r) => setTimeout(r, wait));
  }
  return last;
}

/** Store the outcome; a row that just became `failed` is reported to Sentry if its channel had not been. */
async function record(deps: Pick<Deps, 'db' | 'errors' | 'log'>, config: Cfg, row: Row, channel: Channel | undefined, outcome: SendOutcome, at: Date): Promise<keyof Delivered> {
  const attempts = Number(row.attempts) + 1;
  if (outcome.kind === 'sent') {
    await deps.db.query(`UPDATE opsbook.notifications SET status = 'sent', sent_at = $2, attempts = $3, last_error = NULL, claimed_until = NULL WHERE id = $1 AND status = 'pending'`, [row.id, at.toISOString(), attempts]);
    return 'sent';
  }
  const error = clean(`${channel?.type ?? 'channel'} ${outcome.error}`);
  const label = `${row.event} notification for ${row.subject} to "${row.channel}"`;
  if (outcome.kind === 'retry' && attempts < config.notifications.maxAttempts) {
    const next = new Date(at.getTime() + Math.max(outcome.retryAfterMs ?? 0, NEXT_MS(attempts)));
    await deps.db.query(`UPDATE opsbook.notifications SET attempts = $2, last_error = $3, next_attempt_at = $4, claimed_until = NULL WHERE id = $1 AND status = 'pending'`, [
      row.id,
      attempts,
      error,
      next.toISOString(),
    ]);
    deps.log('warn', `${label} not delivered (${error}); retried by the next invocation after ${next.toISOString()}`);
    return 'pending';
  }
  // Failed for good. Sentry hears of it when no other message of this channel failed since it last delivered.
  const { rows } = await deps.db.query<{ first: boolean }>(
    `UPDATE opsbook.notifications SET status = 'failed', failed_at = $2, attempts = $3, last_error = $4, claimed_until = NULL WHERE id = $1 AND status = 'pending'
     RETURNING NOT EXISTS (
       SELECT 1 FROM opsbook.notifications o WHERE o.channel = $5 AND o.status = 'failed' AND o.id <> $1
         AND o.failed_at >= COALESCE((SELECT max(s.sent_at) FROM opsbook.notifications s WHERE s.channel = $5), '-infinity')) AS first`,
    [row.id, at.toISOString(), attempts, error, row.channel],
  );
  deps.log('error', `${label} failed after ${attempts} attempt(s), not retried: ${error}`);
  if (rows[0]?.first === true) {
    await deps.errors
      .captureMessage(`${config.service} · notification channel "${row.channel}" is failing: ${error}`, {
        level: 'error',
        tags: { stage: 'notification', channel: row.channel, type: channel?.type ?? 'unknown', event: row.event },
        fingerprint: ['opsbook', 'notification-failed', row.channel],
      })
      .catch(() => undefined);
  }
  return 'failed';
}

/**
 * For the next report of a checklist: its messages that failed for good since its last successful run,
 * and those still pending after an error, by channel. Never throws.
 */
export async function notificationNotes(deps: Pick<Deps, 'db' | 'log'>, config: Cfg, checklist: string): Promise<string[]> {
  if (!notifies(config.notifications)) return [];
  try {
    const { rows } = await deps.db.query<{ channel: string; status: string; n: number | string; attempts: number | string; last_error: string | null }>(
      `SELECT channel, status, count(*) AS n, max(attempts) AS attempts, (array_agg(last_error ORDER BY id DESC))[1] AS last_error
       FROM opsbook.notifications
       WHERE checklist = $1 AND ((status = 'failed' AND failed_at >= COALESCE((SELECT max(started_at) FROM opsbook.job_runs WHERE job = $1 AND status = 'ok'), '-infinity'))
          OR (status = 'pending' AND last_error IS NOT NULL))
       GROUP BY channel, status ORDER BY channel, status`,
      [checklist],
    );
    return rows.map((r) =>
      r.status === 'failed'
        ? `Notifications: channel "${r.channel}" failed for good on ${Number(r.n)} message(s), not retried (${clean(r.last_error ?? 'unknown error', 200)}). Fix the channel's webhook, key or URL; this report is sent as usual.`
        : `Notifications: channel "${r.channel}" has ${Number(r.n)} message(s) pending after ${Number(r.attempts)} attempt(s) (last: ${clean(r.last_error ?? 'unknown error', 200)}); the next invocation retries them.`,
    );
  } catch (err) {
    deps.log('warn', `notification notes skipped: ${clean(messageOf(err))}`);
    return [];
  }
}
