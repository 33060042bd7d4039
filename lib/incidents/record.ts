import type { Evaluated } from '../alerts/evaluate.js';
import { writeStateStatement } from '../alerts/store.js';
import type { Statement } from '../db/index.js';
import { redactSecrets } from '../env.js';
import type { ReportItem } from '../report/model.js';

/**
 * Incident records (issue 14): one `opsbook.incidents` row per alert incident (`alert_state.key`, `seq`),
 * written in the run's own transaction by the same statement that writes the check's alert state. The
 * incident insert reads the state write's `RETURNING key` (a data-modifying CTE), so only the run whose
 * state write counts records the incident: two instances observing the same opening write one row, with
 * the winner's view of it, and a run that loses the optimistic race records nothing.
 *
 * What is kept is what cannot be read back later: the root cause and the checks it suppressed as this
 * run saw them, and a compact diagnostics snapshot at open and at resolution. Results over time, audited
 * actions and notifications are read by time range at request time (lib/incidents/read.ts).
 */

/** A snapshot's JSON stays under this many bytes: details go first, then the least related results. */
export const SNAPSHOT_MAX_BYTES = 16_384;
const SUMMARY_CHARS = 300;
const DETAIL_ROWS = 10;
const DETAIL_ROW_BYTES = 1_000;
const SNAPSHOT_ITEMS = 40;

export interface SnapshotItem {
  id: string;
  title: string;
  status: string;
  summary: string;
  value?: number;
  suppressedBy?: string;
  hint?: string;
  details?: Array<Record<string, unknown>>;
}

export interface Snapshot {
  at: string;
  /** The family (and target) the snapshot covers: `postgres`, `postgres@staging`, `http`, `task`. */
  scope: string;
  items: SnapshotItem[];
  /** Results left out to stay under SNAPSHOT_MAX_BYTES. */
  omitted?: number;
}

export interface RootCause {
  id: string;
  title: string;
  status: string;
  summary: string;
  hint?: string;
  /** The admin route the check's hint points at (e.g. /api/admin/db/terminate). */
  action?: string;
}

/** `postgres.blocked@staging` → `postgres@staging`; a task → `task`. */
export function scopeOf(item: Pick<ReportItem, 'id' | 'kind'>): string {
  if (item.kind === 'task') return 'task';
  const at = item.id.indexOf('@');
  const base = at >= 0 ? item.id.slice(0, at) : item.id;
  const target = at >= 0 ? item.id.slice(at) : '';
  return `${base.split('.')[0]}${target}`;
}

/** Strings bounded and stripped of any configured secret or URL credential, recursively. */
function clean(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return redactSecrets(v).slice(0, 500);
  if (depth > 4) return undefined;
  if (Array.isArray(v)) return v.slice(0, 20).map((x) => clean(x, depth + 1));
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = clean(x, depth + 1);
    return out;
  }
  return v;
}

function compact(i: ReportItem, withDetails: boolean): SnapshotItem {
  const details = withDetails
    ? (i.details ?? [])
        .slice(0, DETAIL_ROWS)
        .map((d) => clean(d) as Record<string, unknown>)
        .filter((d) => JSON.stringify(d).length <= DETAIL_ROW_BYTES)
    : [];
  return {
    id: i.id,
    title: redactSecrets(i.title).slice(0, 200),
    status: i.status,
    summary: redactSecrets(i.summary).slice(0, SUMMARY_CHARS),
    ...(typeof i.value === 'number' ? { value: i.value } : {}),
    ...(i.suppressedBy ? { suppressedBy: i.suppressedBy } : {}),
    ...(i.hint?.text ? { hint: redactSecrets(i.hint.text).slice(0, SUMMARY_CHARS) } : {}),
    ...(details.length ? { details } : {}),
  };
}

/**
 * The run's results for the incident's check: its family and target, plus whatever it suppressed, the
 * check itself first. Compact, secrets redacted, bounded (SNAPSHOT_MAX_BYTES).
 */
export function snapshotOf(subject: ReportItem, results: ReportItem[], now: Date): Snapshot {
  const scope = scopeOf(subject);
  const related = results.filter((r) => r.key !== subject.key && (scopeOf(r) === scope || r.suppressedBy === subject.id));
  const chosen = [subject, ...related].slice(0, SNAPSHOT_ITEMS);
  let omitted = 1 + related.length - chosen.length;
  // The check's own details are worth most; the others' go first when space runs out.
  let items = chosen.map((r, n) => compact(r, n === 0 || chosen.length <= 8));
  const size = () => JSON.stringify({ at: now.toISOString(), scope, items, omitted }).length;
  if (size() > SNAPSHOT_MAX_BYTES) items = items.map((x, n) => (n === 0 ? x : { ...x, details: undefined }));
  if (size() > SNAPSHOT_MAX_BYTES) items = [{ ...items[0]!, details: items[0]!.details?.slice(0, 3) }, ...items.slice(1)];
  while (size() > SNAPSHOT_MAX_BYTES && items.length > 1) {
    items = items.slice(0, -1);
    omitted++;
  }
  if (size() > SNAPSHOT_MAX_BYTES) items = [{ ...items[0]!, details: undefined }];
  return { at: now.toISOString(), scope, items: JSON.parse(JSON.stringify(items)) as SnapshotItem[], ...(omitted > 0 ? { omitted } : {}) };
}

/** The root cause as this run saw it: the check that opened the incident, with the checks it suppressed. */
export function rootCauseOf(subject: ReportItem, results: ReportItem[]): { rootCause: RootCause; suppressed: Array<{ id: string; title: string }> } {
  const suppressed = results.filter((r) => r.suppressedBy === subject.id).map((r) => ({ id: r.id, title: redactSecrets(r.title).slice(0, 200) }));
  return {
    rootCause: {
      id: subject.id,
      title: redactSecrets(subject.title).slice(0, 200),
      status: subject.status,
      summary: redactSecrets(subject.summary).slice(0, 1000),
      ...(subject.hint?.text ? { hint: redactSecrets(subject.hint.text).slice(0, 1000) } : {}),
      ...(subject.hint?.action ? { action: subject.hint.action.path } : {}),
    },
    suppressed,
  };
}

/**
 * The check's alert-state write for this run, with the incident it opens or resolves recorded by the
 * same statement (see the module comment). Any other state write is returned as it is.
 * `results` are the run's results as stored (the listed items; a root that ran unlisted is `e.item`).
 */
export function stateWriteWithIncident(e: Evaluated, results: ReportItem[], checklist: string, now: Date): Statement {
  const write = writeStateStatement(e.key, e.step.next, e.prevVersion, checklist, now);
  const incident = e.step.opened ?? e.step.resolved;
  if (!incident) return write;
  const params = [...(write.params ?? [])];
  const p = (v: unknown) => `$${params.push(v)}`;
  const all = results.some((r) => r.key === e.item.key) ? results : [...results, e.item];
  const common = [
    `${p(e.key)}::text`,
    `${p(incident.seq)}::int`,
    `${p(checklist)}::text`,
    `${p(e.item.id)}::text`,
    `${p(redactSecrets(e.item.title).slice(0, 200))}::text`,
    `${p(e.item.severity ?? 'P3')}::text`,
    `${p(incident.openedAt)}::timestamptz`,
    `${p(incident.muted)}::boolean`,
    `${p(e.mutedBy ? redactSecrets(e.mutedBy.title).slice(0, 200) : null)}::text`,
  ].join(', ');
  const snapshot = JSON.stringify(snapshotOf(e.item, all, now));
  let cte: string;
  if (e.step.opened) {
    const { rootCause, suppressed } = rootCauseOf(e.item, all);
    cte = `INSERT INTO opsbook.incidents (alert_key, seq, checklist, check_id, title, severity, opened_at, muted, muted_by, root_cause, suppressed, snapshot_open)
      SELECT ${common}, ${p(JSON.stringify(rootCause))}::jsonb, ${p(JSON.stringify(suppressed))}::jsonb, ${p(snapshot)}::jsonb FROM w
      ON CONFLICT (alert_key, seq) DO NOTHING RETURNING 1`;
  } else {
    // An incident opened before incidents were recorded has no row yet: its resolution makes one.
    cte = `INSERT INTO opsbook.incidents (alert_key, seq, checklist, check_id, title, severity, opened_at, muted, muted_by, resolved_at, snapshot_resolved)
      SELECT ${common}, ${p(now.toISOString())}::timestamptz, ${p(snapshot)}::jsonb FROM w
      ON CONFLICT (alert_key, seq) DO UPDATE SET resolved_at = EXCLUDED.resolved_at, snapshot_resolved = EXCLUDED.snapshot_resolved
      WHERE opsbook.incidents.resolved_at IS NULL RETURNING 1`;
  }
  return { text: `WITH w AS (${write.text}), incident AS (${cte}) SELECT key FROM w`, params };
}
