import type { CheckStatus, Hint } from '../checks/types.js';
import type { ReportItem, ReportModel } from './model.js';
import { line } from './escape.js';

/**
 * What the report says and in which order, computed once so the subject, the HTML and the text part
 * always agree: summary lists first (failing, warnings, each with its fix; new, recovered), then
 * sections by area, one line per item.
 */

export const STATUS_ORDER: readonly CheckStatus[] = ['fail', 'error', 'warn', 'ok', 'skipped'];
export const AREA_ORDER: readonly string[] = [
  'Postgres',
  'Redis',
  'Queues',
  'Endpoints',
  'Heartbeats',
  'Metrics',
  'Configuration',
  'Checklists',
  'Maintenance',
  'Other',
];
/** Beyond this many areas, the rest are shown together as "Other": a section header costs bytes. */
export const MAX_SECTIONS = 16;

export interface PlannedItem {
  item: ReportItem;
  /** Failing now and not failing in the previous run. */
  isNew: boolean;
  /** Failing in the previous run too. */
  isStill: boolean;
  /** …for this many days, when known. */
  failingDays?: number;
}

export interface Section {
  area: string;
  items: PlannedItem[];
  counts: Record<CheckStatus, number>;
  /** Hints of the section's passing and skipped items, each once with the items it applies to. */
  hints: FixGroup[];
}

/** Items sharing one fix (the same hint text and action): the fix is shown once, naming them all. */
export interface FixGroup {
  hint?: Hint;
  items: PlannedItem[];
}

export interface Plan {
  /** fail + error: new first, then by severity, fail before error. */
  failing: PlannedItem[];
  warnings: PlannedItem[];
  /** `failing` and `warnings` grouped by fix: a group stands where its first item stood. */
  failingGroups: FixGroup[];
  warningGroups: FixGroup[];
  newSince: PlannedItem[];
  recovered: ReportItem[];
  sections: Section[];
}

export const isFailing = (s: CheckStatus): boolean => s === 'fail' || s === 'error';
const statusRank = (s: CheckStatus) => {
  const i = STATUS_ORDER.indexOf(s);
  return i < 0 ? STATUS_ORDER.length : i;
};
const severityRank = (s: ReportItem['severity']) => (s ? ['P1', 'P2', 'P3', 'P4'].indexOf(s) : 2);

export function emptyCounts(): Record<CheckStatus, number> {
  return { fail: 0, error: 0, warn: 0, ok: 0, skipped: 0 };
}

export function buildPlan(model: ReportModel): Plan {
  const newKeys = new Set(model.transitions.newFailures.map((i) => i.key));
  const stillKeys = new Set(model.transitions.stillFailing.map((i) => i.key));
  const daysByKey = new Map<string, number>();
  for (const i of model.transitions.stillFailing) if (typeof i.failingDays === 'number') daysByKey.set(i.key, i.failingDays);

  const planned = model.items.map((item, index) => {
    const failingNow = isFailing(item.status);
    const days = item.failingDays ?? daysByKey.get(item.key);
    const isNew = failingNow && newKeys.has(item.key);
    const p: PlannedItem = {
      item,
      isNew,
      isStill: failingNow && !isNew && (stillKeys.has(item.key) || typeof days === 'number'),
      ...(failingNow && !isNew && typeof days === 'number' && Number.isFinite(days) ? { failingDays: Math.max(0, Math.floor(days)) } : {}),
    };
    return { p, index };
  });

  const byStatusThenSeverity = (a: (typeof planned)[number], b: (typeof planned)[number]) =>
    statusRank(a.p.item.status) - statusRank(b.p.item.status) || severityRank(a.p.item.severity) - severityRank(b.p.item.severity) || a.index - b.index;

  const failing = planned
    .filter((x) => isFailing(x.p.item.status))
    .sort((a, b) => Number(b.p.isNew) - Number(a.p.isNew) || severityRank(a.p.item.severity) - severityRank(b.p.item.severity) || byStatusThenSeverity(a, b))
    .map((x) => x.p);
  const warnings = planned
    .filter((x) => x.p.item.status === 'warn')
    .sort(byStatusThenSeverity)
    .map((x) => x.p);
  const newSince = failing.filter((p) => p.isNew);

  // Sections: known areas in the runbook's order, then others as they come, then the overflow as "Other".
  const areaName = (item: ReportItem) => line(item.area, 80) || 'Other';
  const seen = [...new Set(planned.map((x) => areaName(x.p.item)))];
  const ordered = [...AREA_ORDER.filter((a) => seen.includes(a)), ...seen.filter((a) => !AREA_ORDER.includes(a))];
  const kept = new Set(ordered.slice(0, MAX_SECTIONS - (ordered.length > MAX_SECTIONS ? 1 : 0)));
  const groups = new Map<string, typeof planned>();
  for (const x of planned) {
    const a = areaName(x.p.item);
    const key = kept.has(a) ? a : 'Other';
    const g = groups.get(key) ?? [];
    g.push(x);
    groups.set(key, g);
  }
  const sectionOrder = [...ordered.filter((a) => kept.has(a)), ...(groups.has('Other') && !kept.has('Other') ? ['Other'] : [])];
  const sections = sectionOrder.map((area): Section => {
    const items = (groups.get(area) ?? []).sort(byStatusThenSeverity).map((x) => x.p);
    const counts = emptyCounts();
    for (const p of items) if (p.item.status in counts) counts[p.item.status]++;
    const quiet = items.filter((p) => !isFailing(p.item.status) && p.item.status !== 'warn');
    return { area, items, counts, hints: groupByHint(quiet).filter((g) => g.hint) };
  });

  return { failing, warnings, failingGroups: groupByHint(failing), warningGroups: groupByHint(warnings), newSince, recovered: model.transitions.recovered, sections };
}

/** What makes two hints the same fix: the text people read and the action's method, path and body. */
export function hintKey(hint: Hint | undefined): string | undefined {
  if (!hint || typeof hint !== 'object') return undefined;
  const text = line(hint.text, 600);
  const action = hint.action && typeof hint.action === 'object' ? hint.action : undefined;
  if (!text && !action) return undefined;
  let body: string;
  try {
    body = JSON.stringify(action?.body ?? null, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
  } catch {
    body = '[unprintable]';
  }
  return JSON.stringify([text, action ? `${line(action.method || 'POST', 10)} ${line(action.path, 200)}` : '', body]);
}

/** Items in order, those with the same fix gathered at the first one's place; items without a hint stand alone. */
export function groupByHint(items: PlannedItem[]): FixGroup[] {
  const groups: FixGroup[] = [];
  const byKey = new Map<string, FixGroup>();
  for (const p of items) {
    const key = hintKey(p.item.hint);
    const existing = key === undefined ? undefined : byKey.get(key);
    if (existing) {
      existing.items.push(p);
      continue;
    }
    const g: FixGroup = { ...(key !== undefined ? { hint: p.item.hint } : {}), items: [p] };
    groups.push(g);
    if (key !== undefined) byKey.set(key, g);
  }
  return groups;
}

/** "NEW", "failing for 3 days", "failing since today" — how long a failing item has been failing. */
export function failingLabel(p: PlannedItem): string | undefined {
  if (p.isNew) return 'NEW';
  if (p.failingDays === undefined) return p.isStill ? 'still failing' : undefined;
  if (p.failingDays === 0) return 'failing since today';
  return `failing for ${p.failingDays} ${p.failingDays === 1 ? 'day' : 'days'}`;
}
