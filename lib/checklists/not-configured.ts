import type { OpsbookConfig } from '../config/index.js';
import { listedFamilyOf } from '../checks/listed-families.js';
import { MAIN_TARGET } from '../checks/selector.js';
import type { CheckResult } from '../checks/types.js';

/** The id of the one item that names them, in the report and the CLI progress. */
export const NOT_CONFIGURED_ID = 'checklists.not-configured';

/**
 * The families a checklist's items name whose config list is empty, each once, in the order the items
 * name them, with the selectors that named them: `[{ name: 'http', path: 'checks.http', selectors: ['http'] }]`.
 * A selector with a target or a check id (`http.api`, `http@staging`) names something specific, so it is
 * not one of these: it stays "no check matches".
 */
export function notConfiguredFamilies(wanted: readonly string[], config: OpsbookConfig): Array<{ name: string; path: string; selectors: string[] }> {
  const out: Array<{ name: string; path: string; selectors: string[] }> = [];
  for (const sel of wanted) {
    const f = listedFamilyOf(sel);
    if (!f || f.entries(config).length > 0) continue;
    const seen = out.find((o) => o.path === f.path);
    if (seen) seen.selectors.push(sel);
    else out.push({ name: f.names[0]!, path: f.path, selectors: [sel] });
  }
  return out;
}

/**
 * One skipped result naming all of them, so the run says it once, in the CLI progress
 * (`SKIPPED checklists.not-configured  http (checks.http), tls (checks.tls) — add entries there to run them`)
 * and in the report (`Not configured (checklists.not-configured) — http (checks.http), …`) alike. The
 * summary leaves "Not configured" to the title and the id, so seven families still fit the text part's
 * line (HTML lines are shorter and may end in "…"): a config gap is not a failure (it is neither counted as one nor alerted), but it must not be
 * silent either, or an empty `checks.http` reads as "the endpoints are fine".
 */
export function notConfiguredResult(families: ReadonlyArray<{ name: string; path: string }>): CheckResult {
  const list = families.map((f) => `${f.name} (${f.path})`).join(', ');
  return {
    id: NOT_CONFIGURED_ID,
    title: 'Not configured',
    family: 'checklists',
    severity: 'P3',
    status: 'skipped',
    summary: `${list} — add entries there to run them`,
    durationMs: 0,
    target: MAIN_TARGET,
  };
}
