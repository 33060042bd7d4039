import type { CheckResult, CheckStatus } from '../checks/types.js';
import type { DiagnosticsReport } from './run.js';
import type { PlaybookReport } from './playbook-run.js';

const LABEL: Record<CheckStatus, string> = { fail: 'FAIL', error: 'ERROR', warn: 'WARN', ok: 'ok', skipped: 'skip' };
const ORDER: CheckStatus[] = ['fail', 'error', 'warn', 'ok', 'skipped'];

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'object' ? JSON.stringify(v) : String(v);
  return s.replace(/\s+/g, ' ').slice(0, 120);
}

/** One check as text: the status and summary first, then its rows and what to do. */
export function checkToText(c: CheckResult, opts: { detailRows?: number } = {}): string[] {
  const lines = [`${LABEL[c.status].padEnd(5)} ${c.id.padEnd(32)} ${c.summary}`];
  if (c.status !== 'ok' && c.status !== 'skipped') {
    for (const row of (c.details ?? []).slice(0, opts.detailRows ?? 5)) {
      lines.push(`      ${Object.entries(row).map(([k, v]) => `${k}=${cell(v)}`).join('  ')}`);
    }
    if (c.more) lines.push(`      … and ${c.more} more`);
  }
  if (c.hint && c.status !== 'ok') {
    lines.push(`      → ${c.hint.text}`);
    if (c.hint.action) lines.push(`        ${c.hint.action.method} ${c.hint.action.path} ${JSON.stringify(c.hint.action.body)}`);
  }
  return lines;
}

/**
 * The readable version of a diagnostics run (`?format=text`): the verdict on the first line, the
 * problems before the passes, and the action to take under each problem.
 */
export function diagnosticsToText(report: DiagnosticsReport, title = 'Opsbook diagnostics'): string {
  const c = report.counts;
  const head = `${title} — ${report.startedAt} — ${LABEL[report.status].toUpperCase()} (${c.fail} fail, ${c.error} error, ${c.warn} warn, ${c.ok} ok, ${c.skipped} skipped) in ${report.durationMs} ms`;
  const sorted = [...report.checks].sort((a, b) => ORDER.indexOf(a.status) - ORDER.indexOf(b.status));
  return [head, '', ...sorted.flatMap((r) => checkToText(r)), ''].join('\n');
}

/** A playbook as text: its steps in the runbook's order, then what to do. */
export function playbookToText(report: PlaybookReport): string {
  const lines = [`${report.title} — ${report.startedAt} — ${LABEL[report.status].toUpperCase()} in ${report.durationMs} ms`, ''];
  for (const s of report.steps) {
    lines.push(`${s.step}. ${s.title}${s.note ? ` (${s.note})` : ''}`);
    for (const c of s.checks) lines.push(...checkToText(c).map((l) => `   ${l}`));
  }
  lines.push('', 'Suggested actions (dry run first):');
  for (const a of report.suggestedActions) {
    lines.push(`  - ${a.text}`);
    if (a.action) lines.push(`    ${a.action.method} ${a.action.path} ${JSON.stringify(a.action.body)}`);
  }
  return lines.join('\n') + '\n';
}
