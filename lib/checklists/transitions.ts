// Transitions between runs (new failure, still failing, recovered) are alert state now: lib/alerts/,
// with N-of-M thresholds. What stays here is where a check's result goes in the report.
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
