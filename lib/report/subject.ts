import type { ReportModel } from './model.js';
import { line, truncate } from './escape.js';
import { plural } from './format.js';

/** Subjects stay below this many characters (code points), whatever the service is called. */
export const SUBJECT_MAX = 119;
const SERVICE_MAX = 40;
const CHECKLIST_MAX = 24;

/**
 * What matters, in the inbox list: `[Opsbook] VocaVision · daily · 2 failing · 1 new · 3 warnings`,
 * `… · all clear`, or `[dry run] …`. One line: a header can never be injected from data.
 */
const length = (s: string) => Array.from(s).length;

export function renderSubject(model: ReportModel): string {
  const c = model.counts;
  const failing = (c.fail ?? 0) + (c.error ?? 0);
  const warnings = c.warn ?? 0;
  const fresh = model.transitions.newFailures.length;
  const parts: string[] = [];
  if (failing > 0) parts.push(`${failing} failing`);
  if (failing > 0 && fresh > 0) parts.push(`${fresh} new`);
  if (warnings > 0) parts.push(plural(warnings, 'warning'));
  if (parts.length === 0) parts.push(model.items.length === 0 && c.manual > 0 ? plural(c.manual, 'manual item') : 'all clear');

  const prefix = `${model.dryRun ? '[dry run] ' : ''}[Opsbook] `;
  const tail = ` · ${parts.join(' · ')}`;
  // The counts are what matters: names give way to them.
  const room = SUBJECT_MAX - length(prefix) - length(tail) - 3;
  const list = line(model.checklist.id, Math.min(CHECKLIST_MAX, Math.max(8, Math.floor(room / 3)))) || 'checklist';
  const service = line(model.service, Math.min(SERVICE_MAX, Math.max(8, room - length(list)))) || 'service';
  return truncate(`${prefix}${service} · ${list}${tail}`, SUBJECT_MAX);
}
