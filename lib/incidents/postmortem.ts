import type { IncidentRecord } from './read.js';

/**
 * The post-mortem draft the runbooks ask for after a P0/P1, pre-filled from an incident record: summary,
 * timeline, root cause, resolution, and the sections only people can write left blank. A pure function
 * of the record (the route, the CLI and the tests render the same text); every time is the record's
 * own, in UTC, to the millisecond.
 */

const PASSING = new Set(['ok', 'warn']);

/** One line of Markdown from untrusted text: no line breaks, no raw HTML, no heading or list start. */
function text(s: string, max = 500): string {
  return s.replace(/[\r\n]+/g, ' ').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').slice(0, max).trim();
}
const code = (s: string) => `\`${s.replace(/`/g, "'").slice(0, 200)}\``;
const day = (isoTime: string) => isoTime.slice(0, 10);

export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const d = Math.floor(seconds / 86_400);
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return [d ? `${d} d` : '', h ? `${h} h` : '', m ? `${m} min` : ''].filter(Boolean).join(' ') || '0 min';
}

interface Event {
  at: string;
  order: number;
  line: string;
}

function actionLine(a: IncidentRecord['actions'][number]): string {
  const how = a.confirm === 'confirmed' ? ', confirmed after its dry run' : '';
  return `${code(a.action)}${a.target ? ` on ${code(a.target)}` : ''} by ${text(a.actor, 100)} (${a.role}${how}) → ${text(a.result, 60)}`;
}

/** Endpoints the incident touched: targets named in the check ids, and URLs or hosts in the snapshot's failing results. */
function endpointsOf(r: IncidentRecord): string[] {
  const out = new Set<string>();
  const ids = [r.checkId, ...r.suppressed.map((s) => s.id)];
  for (const id of ids) if (id.includes('@')) out.add(`target ${id.slice(id.indexOf('@') + 1)}`);
  for (const item of r.snapshots.open?.items ?? []) {
    if (!(item.id === r.checkId || item.suppressedBy === r.checkId || item.status === 'fail' || item.status === 'error')) continue;
    for (const d of item.details ?? []) {
      for (const k of ['url', 'endpoint', 'host']) if (typeof d[k] === 'string' && (d[k] as string).length <= 200) out.add(d[k] as string);
    }
  }
  return [...out].slice(0, 20);
}

export function renderPostmortem(r: IncidentRecord): string {
  const passing = r.results.find((x) => x.checkId === r.checkId && PASSING.has(x.status) && x.at >= r.openedAt);
  const firstAction = r.actions[0];
  const events: Event[] = [
    {
      at: r.openedAt,
      order: 0,
      line: `Detection: ${code(r.checkId)} opened the incident (${r.severity}${r.muted ? `, muted by maintenance${r.mutedBy ? ` "${text(r.mutedBy, 100)}"` : ''}` : ''})${r.rootCause ? ` — ${text(r.rootCause.summary)}` : ''}`,
    },
  ];
  if (r.sentry.claimedAt) events.push({ at: r.sentry.claimedAt, order: 1, line: 'Alerted: Sentry event sent' });
  for (const n of r.notifications) if (n.sentAt) events.push({ at: n.sentAt, order: 1, line: `Notified: ${text(n.channel, 60)} (${n.event})` });
  r.actions.forEach((a, i) => events.push({ at: a.at, order: 2, line: `${i === 0 ? 'First action' : 'Action'}: ${actionLine(a)}` }));
  if (passing) events.push({ at: passing.at, order: 3, line: `Mitigation: ${code(r.checkId)} passing again — ${text(passing.summary)}` });
  if (r.resolvedAt) events.push({ at: r.resolvedAt, order: 4, line: `Resolution: the incident resolved (recovered for enough runs in a row)` });
  events.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.order - b.order));

  const impactChecks = [`${code(r.checkId)} (${text(r.title, 120)})`, ...r.suppressed.map((s) => `${code(s.id)} (${text(s.title, 120)}, suppressed)`)];
  const endpoints = endpointsOf(r);
  const lines = [
    `# Post-mortem: ${text(r.title, 120)} — ${day(r.openedAt)}`,
    '',
    `_Draft pre-filled by Opsbook from incident ${r.id} (${code(`${r.alertKey}#${r.seq}`)}). Times are UTC._`,
    '',
    '## Summary',
    '',
    `- **Date:** ${day(r.openedAt)}`,
    `- **Duration:** ${r.durationSeconds === null ? `still open (since ${r.openedAt})` : `${formatDuration(r.durationSeconds)} (${r.openedAt} → ${r.resolvedAt})`}`,
    `- **Severity:** ${r.severity}`,
    `- **Checklist:** ${code(r.checklist)}`,
    `- **Impact:** ${impactChecks.join(', ')}`,
    `- **Endpoints:** ${endpoints.length ? endpoints.map(code).join(', ') : 'none recorded'}`,
    ...(r.muted ? [`- **Muted:** opened during maintenance${r.mutedBy ? ` ("${text(r.mutedBy, 100)}")` : ''}`] : []),
    '',
    '## Timeline',
    '',
    ...events.map((e) => `- ${e.at} — ${e.line}`),
    '',
    `First action: ${firstAction ? firstAction.at : 'none audited'}. Mitigation: ${passing ? passing.at : 'not observed'}. Resolution: ${r.resolvedAt ?? 'not yet'}.`,
    '',
    '## Root cause (as Opsbook saw it)',
    '',
    ...(r.rootCause
      ? [
          `${code(r.rootCause.id)} (${text(r.rootCause.title, 120)}): ${text(r.rootCause.summary, 1000)}`,
          ...(r.rootCause.hint ? ['', `Hint: ${text(r.rootCause.hint, 1000)}`] : []),
          ...(r.suppressed.length ? ['', `It suppressed ${r.suppressed.length} dependent check(s): ${r.suppressed.map((s) => code(s.id)).join(', ')}.`] : []),
        ]
      : ['Not recorded (the incident opened before Opsbook kept incident records).']),
    '',
    '## Resolution',
    '',
    ...(r.actions.length ? ['Actions taken:', '', ...r.actions.map((a) => `- ${a.at} — ${actionLine(a)}`)] : ['No admin action was audited during the incident.']),
    ...(r.resolvedAt ? ['', `Resolved at ${r.resolvedAt}${r.durationSeconds !== null ? `, ${formatDuration(r.durationSeconds)} after detection` : ''}.`] : ['', 'Not resolved yet.']),
    '',
    '## Lessons learned',
    '',
    '<!-- What went well, what went badly, where we were lucky. -->',
    '',
    '## Action items',
    '',
    '<!-- - [ ] what, owner, due date -->',
    '',
  ];
  return lines.join('\n');
}
