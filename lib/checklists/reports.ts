import type { Db } from '../db/index.js';
import { ensureSchema } from '../db/schema.js';
import { OpsbookError } from '../errors.js';

export interface StoredReport {
  id: number;
  checklist: string;
  period: string;
  subject: string;
  html: string;
  text: string;
  delivery: string;
  createdAt: string;
}

const COLUMNS = `id, checklist, period, subject, html, text, delivery, created_at`;

function toReport(r: Record<string, unknown>): StoredReport {
  return {
    id: Number(r.id),
    checklist: String(r.checklist),
    period: String(r.period),
    subject: String(r.subject),
    html: String(r.html),
    text: String(r.text),
    delivery: String(r.delivery),
    createdAt: new Date(r.created_at as string).toISOString(),
  };
}

/** The most recent stored report of a checklist (dry runs store none). */
export async function latestReport(db: Db, checklist: string): Promise<StoredReport> {
  await ensureSchema(db);
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM opsbook.reports WHERE checklist = $1 ORDER BY created_at DESC, id DESC LIMIT 1`, [checklist]);
  if (!rows[0]) throw new OpsbookError('NOT_FOUND', `No report for checklist "${checklist.slice(0, 64)}" yet.`);
  return toReport(rows[0]);
}

export async function reportById(db: Db, id: number): Promise<StoredReport> {
  await ensureSchema(db);
  const { rows } = await db.query(`SELECT ${COLUMNS} FROM opsbook.reports WHERE id = $1`, [id]);
  if (!rows[0]) throw new OpsbookError('NOT_FOUND', `No report ${id}.`);
  return toReport(rows[0]);
}

/** A stored report as a page: the email's own HTML, never cached, never framed by another site. */
export function reportResponse(report: StoredReport, format: 'html' | 'text', requestId: string): Response {
  return new Response(format === 'text' ? report.text : report.html, {
    headers: {
      'content-type': format === 'text' ? 'text/plain; charset=utf-8' : 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // The report has no scripts; this keeps it that way even if one slipped into the data.
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'x-request-id': requestId,
      'x-opsbook-report-id': String(report.id),
    },
  });
}
