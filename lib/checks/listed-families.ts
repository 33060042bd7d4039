import type { OpsbookConfig } from '../config/schema.js';

/**
 * The families whose checks are a list in the config: with nothing listed they have no checks, so a
 * checklist item naming the family (`{ check: 'http' }`, as the default config's daily checklist does)
 * would run nothing. `names` are the selectors that name the whole family (its family name and its id
 * prefix, which differ for sql and heartbeats); `path` is where entries go.
 */
export const LISTED_FAMILIES: ReadonlyArray<{ names: readonly string[]; path: string; entries: (c: OpsbookConfig) => readonly unknown[] }> = [
  { names: ['http'], path: 'checks.http', entries: (c) => c.checks.http },
  { names: ['tls'], path: 'checks.tls', entries: (c) => c.checks.tls },
  { names: ['dns'], path: 'checks.dns', entries: (c) => c.checks.dns },
  { names: ['tcp'], path: 'checks.tcp', entries: (c) => c.checks.tcp },
  { names: ['statuspage'], path: 'checks.statusPages', entries: (c) => c.checks.statusPages },
  { names: ['sql', 'sql-metrics'], path: 'checks.sqlMetrics', entries: (c) => c.checks.sqlMetrics },
  { names: ['heartbeats', 'heartbeat'], path: 'heartbeats', entries: (c) => c.heartbeats },
];

/** The listed family a selector names as a whole (`sql`, `sql-metrics`), or undefined. */
export function listedFamilyOf(selector: string): (typeof LISTED_FAMILIES)[number] | undefined {
  return LISTED_FAMILIES.find((f) => f.names.includes(selector));
}
