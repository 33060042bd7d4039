import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';

export type Delivery = 'sent' | 'pending' | 'not-needed';

interface ReportRow {
  id: string;
  subject: string;
  html: string;
  text: string;
  recipients: unknown;
  idempotency_key: string;
  checklist: string;
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
    await deps.db.query(`UPDATE opsbook.reports SET last_error = $2, claimed_until = NULL WHERE id = $1`, [row.id, error]).catch(() => undefined);
    await deps.errors.captureException(err, { tags: { checklist: row.checklist, stage: 'report-delivery' } });
    deps.log('error', `report ${row.id} (${row.checklist}) not sent, will retry on the next invocation: ${error}`);
    return { delivery: 'pending', error };
  }
}

const CLAIM_SQL = `UPDATE opsbook.reports SET claimed_until = $2, attempts = attempts + 1
  WHERE id = ANY($1::bigint[]) AND delivery = 'pending' AND (claimed_until IS NULL OR claimed_until < $3)
  RETURNING id, subject, html, text, recipients, idempotency_key, checklist`;

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
    else if (r.delivery === 'pending' && r.error !== undefined) {
      failed++;
      break;
    }
    // Pending without an error: another invocation claimed it first and is sending it.
  }
  return { sent, failed };
}
