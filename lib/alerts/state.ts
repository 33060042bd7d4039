import { selectorMatches, selectorSpecificity } from '../checks/selector.js';
import type { CheckStatus } from '../checks/types.js';

/**
 * The alert state of one check, Gatus-style: `degraded` sits between ok and failing, on the way in
 * (fewer than `alertAfter` failing runs in a row) and on the way out (an open incident with fewer than
 * `recoverAfter` passing runs in a row). An incident opens when a check reaches `alertAfter` and is
 * resolved after `recoverAfter`; the alert goes out once per incident, whoever observes it.
 */
export type AlertState = 'ok' | 'degraded' | 'failing';

export interface Thresholds {
  /** Consecutive failing runs that open an incident. @default 2 */
  alertAfter: number;
  /** Consecutive passing runs that resolve it. @default 2 */
  recoverAfter: number;
}

export interface Incident {
  /** Increments per incident of this check: the unit of "exactly one alert". */
  seq: number;
  openedAt: string;
  /** Opened while a maintenance window muted the check; alerted later only if it outlives the window. */
  muted: boolean;
}

export interface ItemState {
  state: AlertState;
  failures: number;
  successes: number;
  /** Incidents so far (the last one's seq). */
  seq: number;
  incident?: Incident;
  /** The seq whose alert was delivered (claimed); less than `incident.seq` means not yet. */
  notifiedSeq: number;
}

export const INITIAL: ItemState = { state: 'ok', failures: 0, successes: 0, seq: 0, notifiedSeq: 0 };

/** What a run's result says about the check: a skipped or suppressed check tells nothing. */
export type Observation = 'pass' | 'fail' | 'none';

export function observationOf(status: CheckStatus): Observation {
  if (status === 'fail' || status === 'error') return 'fail';
  if (status === 'ok' || status === 'warn') return 'pass';
  return 'none';
}

export interface Step {
  next: ItemState;
  /** An incident opened in this run (alerted now unless muted). */
  opened?: Incident;
  /** An incident was resolved in this run; `notified` says whether anyone was told it had opened. */
  resolved?: Incident & { notified: boolean };
  /** The incident needs its alert now: opened unmuted, or a muted one outlived its window. */
  alert?: Incident;
}

/** One run's observation applied to a check's state. Pure: the clock and the mute are arguments. */
export function advance(prev: ItemState | undefined, obs: Observation, t: Thresholds, muted: boolean, now: Date): Step {
  const s = prev ?? INITIAL;
  if (obs === 'none') return { next: s };
  if (obs === 'fail') {
    const failures = s.failures + 1;
    if (s.incident) {
      const next: ItemState = { ...s, state: 'failing', failures, successes: 0 };
      const pending = s.notifiedSeq < s.incident.seq;
      if (pending && !muted) return { next: { ...next, incident: { ...s.incident, muted: false } }, alert: { ...s.incident, muted: false } };
      return { next };
    }
    if (failures < t.alertAfter) return { next: { ...s, state: 'degraded', failures, successes: 0 } };
    const incident: Incident = { seq: s.seq + 1, openedAt: now.toISOString(), muted };
    return { next: { ...s, state: 'failing', failures, successes: 0, seq: incident.seq, incident }, opened: incident, ...(muted ? {} : { alert: incident }) };
  }
  const successes = s.successes + 1;
  if (!s.incident) return { next: { ...s, state: 'ok', failures: 0, successes } };
  if (successes < t.recoverAfter) return { next: { ...s, state: 'degraded', failures: 0, successes } };
  const { incident, ...rest } = s;
  return { next: { ...rest, state: 'ok', failures: 0, successes }, resolved: { ...incident, notified: s.notifiedSeq >= incident.seq } };
}

/** The thresholds for a check: the most specific `perCheck` selector (lib/checks/selector.ts) over the defaults. */
export function thresholdsFor(checkId: string, alerts: Thresholds & { perCheck: Record<string, Partial<Thresholds>> }): Thresholds {
  const matches = Object.keys(alerts.perCheck)
    .filter((sel) => selectorMatches(sel, { id: checkId }))
    .sort((a, b) => selectorSpecificity(a) - selectorSpecificity(b));
  let t: Thresholds = { alertAfter: alerts.alertAfter, recoverAfter: alerts.recoverAfter };
  for (const sel of matches) t = { ...t, ...alerts.perCheck[sel] };
  return t;
}
