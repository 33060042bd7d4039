import type { CheckStatus } from '../checks/types.js';
import type { ReportItem } from '../report/index.js';

export interface PreviousState {
  status: CheckStatus;
  failingSince?: Date;
}

const failing = (s: CheckStatus | undefined) => s === 'fail' || s === 'error';
const DAY_MS = 86_400_000;

/**
 * Compare this run with the previous one: what newly fails, what still fails (and for how many days),
 * what recovered. `failingSince` carries forward so "failing for 3 days" survives restarts.
 */
export function computeTransitions(
  items: ReportItem[],
  previous: Map<string, PreviousState>,
  now: Date,
): { items: Array<ReportItem & { failingSince?: Date }>; report: { newFailures: ReportItem[]; recovered: ReportItem[]; stillFailing: ReportItem[] } } {
  const newFailures: ReportItem[] = [];
  const recovered: ReportItem[] = [];
  const stillFailing: ReportItem[] = [];
  const out = items.map((item) => {
    const prev = previous.get(item.key);
    if (failing(item.status)) {
      if (failing(prev?.status)) {
        const since = prev?.failingSince ?? now;
        const withDays = { ...item, failingDays: Math.max(0, Math.floor((now.getTime() - since.getTime()) / DAY_MS)), failingSince: since };
        stillFailing.push(withDays);
        return withDays;
      }
      const fresh = { ...item, failingSince: now };
      newFailures.push(fresh);
      return fresh;
    }
    if (failing(prev?.status) && (item.status === 'ok' || item.status === 'warn')) recovered.push(item);
    return item;
  });
  return { items: out, report: { newFailures, recovered, stillFailing } };
}

const AREAS: Array<[RegExp, string]> = [
  [/^postgres/, 'Postgres'],
  [/^redis/, 'Redis'],
  [/^queues/, 'Queues'],
  [/^(http|tls|dns|tcp|statuspage)/, 'Endpoints'],
  [/^heartbeats?/, 'Heartbeats'],
  [/^sql/, 'Metrics'],
  [/^env/, 'Configuration'],
  [/^checklists?/, 'Checklists'],
];

/** The report section a check family belongs to. */
export function areaOf(family: string): string {
  return AREAS.find(([re]) => re.test(family))?.[1] ?? 'Other';
}
