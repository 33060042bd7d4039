import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import type { EmailRefusal } from '../email/resend.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';

/** `failed`: Resend refused the report for good (a 4xx other than 429) on REFUSED_ATTEMPTS attempts. */
export type Delivery = 'sent' | 'pending' | 'not-needed' | 'failed';

interface ReportRow {
  id: string;
  subject: string;
  html: string;
  text: string;
  recipients: unknown;
  idempotency_key: string;
  checklist: string;
  attempts: number | string;
}

/**
 * How many attempts a report gets once Resend refuses it for good (a validation error, an invalid key,
 * an unverified domain): a few, so an operator who fixes the key or the sender in the meantime still
 * gets it out, then `failed`, so it is not retried, and re-reported, forever.
 */
export const REFUSED_ATTEMPTS = 3;

/** The refusal a sender reported, when it says what it was (lib/email/resend.ts). */
function refusalOf(err: unknown): EmailRefusal | undefined {
  const details = err instanceof OpsbookError ? (err.details as Partial<EmailRefusal> | undefined) : undefined;
  return details && typeof details.permanent === 'boolean' ? (details as EmailRefusal) : undefined;
}

/** A claim lasts long enough for one send; a crashed sender's claim expires and another retries. */
const CLAIM_MS = 2 * 60_000;

/**
 * Claim a report for sending with a conditional update (never two senders for one report), send it
 * with Resend's idempotency key (never two emails even if a claim expires mid-send), then mark it.
 * A failure leaves it pending: the next invocation of any checklist sends it.
 */
async function claimAndSend(deps: Deps, config: OpsbookConfig, row: ReportRow, now: Date): Promise<{ delivery: Delivery; error?: string; location?: string }> {
  const recipients = (typeof row.recipients === 'string' ? JSON.parse(row.recipients) : row.recipients) as string[];
  if (recipients.length === 0 && deps.email.kind === 'resend') {
    await deps.db.query(`UPDATE opsbook.reports SET delivery = 'not-needed', last_error = 'no recipients configured' WHERE id = $1`, [row.id]);
    deps.log('warn', `report ${row.id} not sent: no recipients (set recipients in opsbook.config.ts or OPSBOOK_EMAIL_TO)`);
    return { delivery: 'not-needed', error: 'no recipients configured' };
  }
  try {
    const sent = await deps.email.send({
      from: config.sender ?? deps.env.OPSBOOK_EMAIL_FROM,
      to: recipients,
      subject: row.subject,
      html: row.html,
      text: row.text,
      headers: { 'X-Opsbook-Checklist': row.checklist, 'X-Entity-Ref-ID': row.idempotency_key },
      idempotencyKey: row.idempotency_key,
    });
    await deps.db.query(`UPDATE opsbook.reports SET delivery = 'sent', sent_at = $2, message_id = $3, last_error = NULL, claimed_until = NULL WHERE id = $1`, [
      row.id,
      now.toISOString(),
      sent.id,
    ]);
    return { delivery: 'sent', location: sent.location };
  } catch (err) {
    const error = redactSecrets(messageOf(err)).slice(0, 500);
    const refusal = refusalOf(err);
    if (refusal?.permanent) return refused(deps, row, err, error, refusal, now);
    await deps.db.query(`UPDATE opsbook.reports SET last_error = $2, claimed_until = NULL WHERE id = $1`, [row.id, error]).catch(() => undefined);
    await deps.errors.captureException(err, { tags: { checklist: row.checklist, stage: 'report-delivery' } });
    deps.log('error', `report ${row.id} (${row.checklist}) not sent, will retry on the next invocation: ${error}`);
    return { delivery: 'pending', error };
  }
}

/**
 * Resend refused the report for good. It stays pending for REFUSED_ATTEMPTS attempts in all, then is
 * `failed`. Sentry hears of it once, on the first refusal (`refused_at` was empty), so whoever can fix
 * the key or the sender learns of it at once and is not told again on every invocation.
 */
async function refused(deps: Deps, row: ReportRow, err: unknown, error: string, refusal: EmailRefusal, now: Date): Promise<{ delivery: Delivery; error: string }> {
  const final = Number(row.attempts) >= REFUSED_ATTEMPTS;
  const marked = await deps.db
    .query<{ first: boolean }>(
      `WITH prev AS (SELECT refused_at FROM opsbook.reports WHERE id = $1)
       UPDATE opsbook.reports SET last_error = $2, claimed_until = NULL, refused_at = COALESCE(refused_at, $3),
         delivery = CASE WHEN $4::boolean THEN 'failed' ELSE delivery END
       WHERE id = $1 RETURNING (SELECT refused_at FROM prev) IS NULL AS first`,
      [row.id, error, now.toISOString(), final],
    )
    .catch(() => undefined);
  if (marked?.rows[0]?.first === true) {
    await deps.errors.captureException(err, {
      tags: { checklist: row.checklist, stage: 'report-delivery', refusal: refusal.name },
      fingerprint: ['opsbook', 'report-refused', row.checklist, refusal.name],
      extra: { reportId: row.id, attemptsLeft: Math.max(0, REFUSED_ATTEMPTS - Number(row.attempts)) },
    });
  }
  const left = REFUSED_ATTEMPTS - Number(row.attempts);
  deps.log('error', `report ${row.id} (${row.checklist}) refused by Resend: ${error}; ${final ? 'marked failed, not retried' : `${left} more attempt(s)`}`);
  return { delivery: final && marked ? 'failed' : 'pending', error };
}

const CLAIM_SQL = `UPDATE opsbook.reports SET claimed_until = $2, attempts = attempts + 1
  WHERE id = ANY($1::bigint[]) AND delivery = 'pending' AND (claimed_until IS NULL OR claimed_until < $3)
  RETURNING id, subject, html, text, recipients, idempotency_key, checklist, attempts`;

/** Send one report now (right after its run). */
export async function deliverReport(deps: Deps, config: OpsbookConfig, reportId: number, now: Date): Promise<{ delivery: Delivery; error?: string; location?: string }> {
  const { rows } = await deps.db.query<ReportRow>(CLAIM_SQL, [[reportId], new Date(now.getTime() + CLAIM_MS).toISOString(), now.toISOString()]);
  const row = rows[0];
  if (!row) return { delivery: 'pending' };
  return claimAndSend(deps, config, row, now);
}

/**
 * Send every report a previous invocation left pending, a few per invocation: the least-tried first (a
 * report Resend keeps refusing never holds back newer ones), each claimed just before its send, and
 * stopping at the first failure: when Resend is down or rate-limiting, one attempt tells us so, and the
 * checklist this invocation is for must not wait out a timeout per pending report.
 */
export async function deliverPending(deps: Deps, config: OpsbookConfig, now: Date, limit = 5): Promise<{ sent: number; failed: number }> {
  const pending = await deps.db.query<{ id: string }>(
    `SELECT id FROM opsbook.reports WHERE delivery = 'pending' AND (claimed_until IS NULL OR claimed_until < $1) ORDER BY attempts, created_at, id LIMIT $2`,
    [now.toISOString(), limit],
  );
  let sent = 0;
  let failed = 0;
  for (const { id } of pending.rows) {
    const r = await deliverReport(deps, config, Number(id), now);
    if (r.delivery === 'sent') sent++;
    else if (r.delivery === 'failed') failed++;
    else if (r.delivery === 'pending' && r.error !== undefined) {
      failed++;
      break;
    }
    // Failed for good: that report's own fault (or a key every report would hit, at most `limit` times).
    // Pending with an error: Resend is down or rate-limiting; one attempt told us so.
    // Pending without an error: another invocation claimed it first and is sending it.
  }
  return { sent, failed };
}
