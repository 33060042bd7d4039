import type { AuditRow } from '../actions/audit-query.js';
import type { Db } from '../db/index.js';
import { ensureSchema } from '../db/schema.js';
import { redactSecrets } from '../env.js';
import { OpsbookError } from '../errors.js';
import { CURSOR, type IncidentListQuery } from './query.js';
import type { RootCause, Snapshot } from './record.js';

/**
 * Incidents as the routes and the CLI read them. The row (lib/incidents/record.ts) holds what cannot be
 * read back later; what happened during the incident is read here by its time range: the check's results
 * (run_results joined with job_runs), every admin action audited in it (audit_log), the notifications
 * about it (notifications whose subject is `<alert key>#<seq>`) and Sentry's claim (alert_state).
 * Imports nothing but the database helpers: the route functions stay small.
 */

export interface IncidentSummary {
  id: number;
  alertKey: string;
  seq: number;
  checklist: string;
  checkId: string;
  title: string;
  severity: string;
  state: 'open' | 'resolved';
  /** Opened while a maintenance window muted the check. */
  muted: boolean;
  mutedBy: string | null;
  openedAt: string;
  resolvedAt: string | null;
  /** Time to resolution; null while open. */
  durationSeconds: number | null;
  rootCause: RootCause | null;
  suppressed: Array<{ id: string; title: string }>;
}

export interface ResultPoint {
  at: string;
  runId: number;
  checkId: string;
  status: string;
  summary: string;
  value?: number;
}

/** An audit row as an incident shows it: the audit query's own fields, plus how it was confirmed. */
export interface AuditedAction extends Pick<AuditRow, 'id' | 'at' | 'actor' | 'role' | 'action' | 'target' | 'result' | 'params' | 'after'> {
  /** Dry runs change nothing and are not audited: every row is a real action. */
  dryRun: false;
  /** `confirmed`: run with its dry run's confirm token; `direct`: needed none; `unknown`: audited before this was recorded. */
  confirm: 'confirmed' | 'direct' | 'unknown';
}

export interface NotificationSent {
  channel: string;
  event: string;
  status: string;
  attempts: number;
  createdAt: string;
  sentAt: string | null;
  lastError: string | null;
}

export interface IncidentRecord extends IncidentSummary {
  snapshots: { open: Snapshot | null; resolved: Snapshot | null };
  /** The check's (and the checks it suppressed') results from opening to resolution (or now). */
  results: ResultPoint[];
  actions: AuditedAction[];
  notifications: NotificationSent[];
  /**
   * The Sentry event's exactly-once claim (alert_state.notified_at). `claimed` is null when a later
   * incident of the same check has been claimed since: the state keeps only the last claim.
   */
  sentry: { claimed: boolean | null; claimedAt: string | null };
}

const MAX_RESULTS = 500;
const MAX_ACTIONS = 200;
const MAX_NOTIFICATIONS = 100;

const iso = (v: unknown): string => new Date(v as string).toISOString();
const isoOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : iso(v));
const jsonOf = <T>(v: unknown): T | null => (v === null || v === undefined ? null : ((typeof v === 'string' ? JSON.parse(v) : v) as T));

const COLUMNS = `id, alert_key, seq, checklist, check_id, title, severity, opened_at, resolved_at, muted, muted_by, root_cause, suppressed`;

function toSummary(r: Record<string, unknown>): IncidentSummary {
  const openedAt = iso(r.opened_at);
  const resolvedAt = isoOrNull(r.resolved_at);
  return {
    id: Number(r.id),
    alertKey: String(r.alert_key),
    seq: Number(r.seq),
    checklist: String(r.checklist),
    checkId: String(r.check_id),
    title: String(r.title),
    severity: String(r.severity),
    state: resolvedAt ? 'resolved' : 'open',
    muted: r.muted === true,
    mutedBy: r.muted_by === null || r.muted_by === undefined ? null : String(r.muted_by),
    openedAt,
    resolvedAt,
    durationSeconds: resolvedAt ? Math.round((Date.parse(resolvedAt) - Date.parse(openedAt)) / 1000) : null,
    rootCause: jsonOf<RootCause>(r.root_cause),
    suppressed: jsonOf<Array<{ id: string; title: string }>>(r.suppressed) ?? [],
  };
}

/** Newest first, keyset-paged: `next` is the cursor of the following page, absent on the last. */
export async function listIncidents(db: Db, q: IncidentListQuery): Promise<{ incidents: IncidentSummary[]; next?: string }> {
  await ensureSchema(db);
  const where: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (q.state === 'open') where.push('resolved_at IS NULL');
  if (q.state === 'resolved') where.push('resolved_at IS NOT NULL');
  if (q.until) where.push(`opened_at < ${p(new Date(q.until).toISOString())}::timestamptz`);
  if (q.since) where.push(`(resolved_at IS NULL OR resolved_at >= ${p(new Date(q.since).toISOString())}::timestamptz)`);
  if (q.cursor) {
    const [, ms, id] = CURSOR.exec(q.cursor)!;
    where.push(`(opened_at, id) < (${p(new Date(Number(ms)).toISOString())}::timestamptz, ${p(id)}::bigint)`);
  }
  const { rows } = await db.query(
    `SELECT ${COLUMNS} FROM opsbook.incidents ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY opened_at DESC, id DESC LIMIT ${p(q.limit + 1)}::int`,
    params,
  );
  const incidents = rows.slice(0, q.limit).map(toSummary);
  const last = incidents.at(-1);
  return { incidents, ...(rows.length > q.limit && last ? { next: `${Date.parse(last.openedAt)}.${last.id}` } : {}) };
}

/** An error that is also a notification's: no URL (a webhook's is its secret), no configured secret, bounded. */
const cleanError = (v: unknown): string | null => (v === null || v === undefined ? null : redactSecrets(String(v)).replace(/\b[a-z][a-z0-9+.-]*:\/\/\S+/gi, '[url]').slice(0, 300));

/** One incident with everything that happened during it. NOT_FOUND (404) when there is no such id. */
export async function incidentById(db: Db, id: number): Promise<IncidentRecord> {
  await ensureSchema(db);
  const { rows } = await db.query(`SELECT ${COLUMNS}, snapshot_open, snapshot_resolved FROM opsbook.incidents WHERE id = $1`, [id]);
  const row = rows[0];
  if (!row) throw new OpsbookError('NOT_FOUND', `No incident ${id}.`);
  const summary = toSummary(row);
  const itemKey = summary.alertKey.slice(summary.checklist.length + 1);
  const keys = [itemKey, ...summary.suppressed.map((s) => `check:${s.id}`)];
  const until = summary.resolvedAt ?? 'infinity';
  const [results, audits, notifications, claim] = await db.batch([
    {
      text: `SELECT r.id AS run_id, r.started_at, x.item_key, x.status, x.summary, x.data->'value' AS value, x.data->>'id' AS check_id
             FROM opsbook.run_results x JOIN opsbook.job_runs r ON r.id = x.run_id
             WHERE r.job = $1 AND x.item_key = ANY($2::text[]) AND r.started_at >= $3::timestamptz AND r.started_at <= $4::timestamptz
             ORDER BY r.started_at, r.id, x.item_key LIMIT ${MAX_RESULTS}`,
      params: [summary.checklist, keys, summary.openedAt, until],
    },
    {
      text: `SELECT id, at, actor, role, action, target, confirmed, result, params, after FROM opsbook.audit_log
             WHERE at >= $1::timestamptz AND at <= $2::timestamptz AND role <> 'system' ORDER BY at, id LIMIT ${MAX_ACTIONS}`,
      params: [summary.openedAt, until],
    },
    {
      text: `SELECT channel, event, status, attempts, created_at, sent_at, last_error FROM opsbook.notifications WHERE subject = $1 ORDER BY created_at, id LIMIT ${MAX_NOTIFICATIONS}`,
      params: [`${summary.alertKey}#${summary.seq}`],
    },
    { text: `SELECT notified_seq, notified_at FROM opsbook.alert_state WHERE key = $1`, params: [summary.alertKey] },
  ]);
  const state = claim!.rows[0] as { notified_seq: unknown; notified_at: unknown } | undefined;
  const notifiedSeq = Number(state?.notified_seq ?? 0);
  return {
    ...summary,
    snapshots: { open: jsonOf<Snapshot>(row.snapshot_open), resolved: jsonOf<Snapshot>(row.snapshot_resolved) },
    results: results!.rows.map((r) => {
      const value = jsonOf<unknown>(r.value);
      return {
        at: iso(r.started_at),
        runId: Number(r.run_id),
        checkId: String(r.check_id ?? String(r.item_key).replace(/^check:/, '')),
        status: String(r.status),
        summary: String(r.summary),
        ...(typeof value === 'number' ? { value } : {}),
      };
    }),
    actions: audits!.rows.map((r) => ({
      id: Number(r.id),
      at: iso(r.at),
      actor: String(r.actor),
      role: String(r.role),
      action: String(r.action),
      target: r.target === null || r.target === undefined ? null : String(r.target),
      dryRun: false as const,
      confirm: r.confirmed === true ? ('confirmed' as const) : r.confirmed === false ? ('direct' as const) : ('unknown' as const),
      result: String(r.result),
      params: jsonOf<unknown>(r.params),
      after: jsonOf<unknown>(r.after),
    })),
    notifications: notifications!.rows.map((r) => ({
      channel: String(r.channel),
      event: String(r.event),
      status: String(r.status),
      attempts: Number(r.attempts),
      createdAt: iso(r.created_at),
      sentAt: isoOrNull(r.sent_at),
      lastError: cleanError(r.last_error),
    })),
    sentry: notifiedSeq === summary.seq ? { claimed: true, claimedAt: isoOrNull(state?.notified_at) } : { claimed: notifiedSeq < summary.seq ? false : null, claimedAt: null },
  };
}
