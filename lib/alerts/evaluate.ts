import type { AlertsConfig } from '../config/index.js';
import type { ReportItem } from '../report/index.js';
import { mutingWindow, type OpenWindow } from './maintenance.js';
import { advance, observationOf, thresholdsFor, type Incident, type Step } from './state.js';
import type { StoredState } from './store.js';

/**
 * One state per checklist and item: a checklist is the unit people subscribe to (its schedule, its
 * recipients, its thresholds), so a check listed by two checklists is tracked by each.
 */
export function alertKey(checklist: string, item: Pick<ReportItem, 'key' | 'kind'>): string {
  return `${checklist}/${item.key}`;
}

export interface Evaluated {
  item: ReportItem & { failingSince?: Date };
  key: string;
  step: Step;
  prevVersion: number;
  /** The window muting this item in this run. */
  mutedBy?: OpenWindow;
}

export interface Evaluation {
  items: Evaluated[];
  /** For the report: opened (and late) alerts, resolved incidents that were alerted, open ones still failing. */
  transitions: { newFailures: ReportItem[]; recovered: ReportItem[]; stillFailing: ReportItem[] };
  notes: string[];
}

const DAY_MS = 86_400_000;
const names = (items: Evaluated[], max = 8) => items.slice(0, max).map((e) => e.item.id).join(', ') + (items.length > max ? ` and ${items.length - max} more` : '');

/**
 * Apply one run's results to the stored alert states. Pure: the states, windows and clock come in, the
 * next states, what to tell people and the report's notes come out.
 */
export function evaluateAlerts(checklist: string, results: ReportItem[], states: Map<string, StoredState>, alerts: AlertsConfig, windows: OpenWindow[], now: Date): Evaluation {
  const evaluated = results.map((item): Evaluated => {
    const key = alertKey(checklist, item);
    const prev = states.get(key);
    const mutedBy = mutingWindow(windows, item.id);
    const step = advance(prev, observationOf(item.status), thresholdsFor(item.id, alerts), mutedBy !== undefined, now);
    const incident: Incident | undefined = step.next.incident;
    const failingSince = incident && observationOf(item.status) === 'fail' ? new Date(incident.openedAt) : undefined;
    const failingDays = failingSince && !step.opened ? Math.max(0, Math.floor((now.getTime() - failingSince.getTime()) / DAY_MS)) : undefined;
    return {
      item: { ...item, ...(failingSince ? { failingSince } : {}), ...(failingDays !== undefined ? { failingDays } : {}) },
      key,
      step,
      prevVersion: prev?.version ?? 0,
      ...(mutedBy ? { mutedBy } : {}),
    };
  });

  const newFailures = evaluated.filter((e) => e.step.alert).map((e) => e.item);
  const recovered = evaluated.filter((e) => e.step.resolved?.notified).map((e) => e.item);
  const stillFailing = evaluated.filter((e) => e.step.next.incident && !e.step.alert && !e.step.opened && observationOf(e.item.status) === 'fail').map((e) => e.item);

  const notes: string[] = [];
  for (const w of windows) {
    const muted = evaluated.filter((e) => e.mutedBy?.id === w.id);
    notes.push(`Maintenance window "${w.title}" (${w.from} → ${w.until}): alerts muted for ${w.checks ? names(muted) || 'no check in this run' : 'every check'}; results are recorded as usual.`);
  }
  const roots = new Map<string, Evaluated[]>();
  for (const e of evaluated) if (e.item.suppressedBy) roots.set(e.item.suppressedBy, [...(roots.get(e.item.suppressedBy) ?? []), e]);
  for (const [root, deps] of roots) {
    const rootItem = evaluated.find((e) => e.item.id === root);
    notes.push(`Root cause: ${rootItem ? `${root} — ${rootItem.item.summary}` : root}. ${deps.length} dependent check(s) suppressed: ${names(deps)}.`);
  }
  const mutedOpen = evaluated.filter((e) => e.step.opened && e.step.opened.muted);
  if (mutedOpen.length) notes.push(`Failing during maintenance, not alerted: ${names(mutedOpen)}.`);
  const mutedResolved = evaluated.filter((e) => e.step.resolved && !e.step.resolved.notified);
  if (mutedResolved.length) notes.push(`Recovered before any alert was due (muted by maintenance): ${names(mutedResolved)}.`);
  const pendingIn = evaluated.filter((e) => e.step.next.state === 'degraded' && !e.step.next.incident);
  if (pendingIn.length) {
    notes.push(`Degraded, not alerted yet: ${pendingIn.map((e) => `${e.item.id} (${e.step.next.failures} of ${thresholdsFor(e.item.id, alerts).alertAfter} failing runs)`).join(', ')}.`);
  }
  const pendingOut = evaluated.filter((e) => e.step.next.state === 'degraded' && e.step.next.incident);
  if (pendingOut.length) {
    notes.push(`Recovering, incident still open: ${pendingOut.map((e) => `${e.item.id} (${e.step.next.successes} of ${thresholdsFor(e.item.id, alerts).recoverAfter} passing runs)`).join(', ')}.`);
  }
  return { items: evaluated, transitions: { newFailures, recovered, stillFailing }, notes };
}
