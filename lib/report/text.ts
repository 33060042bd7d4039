import type { CheckStatus, Hint } from '../checks/types.js';
import type { ReportItem, ReportModel } from './model.js';
import { lastPoints, metricSeries, metricsWithPoints } from './charts.js';
import { clean, line, oneLine } from './escape.js';
import { actionJson, formatAge, formatBytes, formatCell, formatChange, formatNumber, isNumeric, plural } from './format.js';
import { failingLabel, isFailing, type FixGroup, type Plan, type PlannedItem, type Section } from './plan.js';

/**
 * The plain-text part, in the HTML's order: summary (failing items, then warnings, each with its fix
 * once for the items that share it, and their detail rows), sections (one line per item), trends as numbers, manual items as "[ ] …", links. Lines stay within WIDTH where the
 * content allows (a long URL or id is never cut). Not clipped by mail clients, so it is the complete
 * list of failing items even when the HTML had to shorten; other lists are still capped.
 */

export const WIDTH = 100;
const TEXT_LIMITS = {
  summary: 400,
  hint: 600,
  actionValue: 200,
  /** Past this many bytes of failing entries (hints, fixes), the rest are one line each. */
  failingBytes: 100_000,
  detailRows: 5,
  cell: 40,
  warnPerSection: 30,
  okPerSection: 30,
  skippedPerSection: 10,
  /** Past this many bytes of sections, items shrink to one line; past twice as many, they are counted. */
  sectionBytes: 80_000,
  /** Past this many bytes of warning entries (hints, fixes), the rest are one line each. */
  warningBytes: 40_000,
  recovered: 30,
  manual: 50,
  links: 30,
  heartbeats: 30,
  metrics: 30,
  notes: 5,
} as const;

const LABEL: Record<CheckStatus, string> = { fail: 'FAIL', error: 'ERROR', warn: 'WARN', ok: 'OK', skipped: 'SKIPPED' };
const GLYPH: Record<CheckStatus, string> = { fail: '✗', error: '✗', warn: '!', ok: '✓', skipped: '-' };
const label = (s: CheckStatus) => LABEL[s] ?? line(s, 10).toUpperCase();
const glyph = (s: CheckStatus) => GLYPH[s] ?? '?';

/** Word-wrap one paragraph to WIDTH, the first line after `first`, the rest indented by `indent`. */
export function wrap(text: string, indent: number, first = ' '.repeat(indent)): string[] {
  const words = oneLine(text).split(' ').filter(Boolean);
  const lines: string[] = [];
  let current = first;
  let empty = true;
  for (const word of words) {
    const candidate = empty ? current + word : `${current} ${word}`;
    if (!empty && Array.from(candidate).length > WIDTH) {
      lines.push(current);
      current = ' '.repeat(indent) + word;
    } else current = candidate;
    empty = false;
  }
  lines.push(current);
  return lines.map((l) => l.trimEnd());
}

/** Parts joined by " · ", lines broken between parts (a value is never split), words only within a part too long for a line. */
export function wrapParts(parts: string[], indent: number, first: string): string[] {
  const lines: string[] = [];
  let current = first;
  let empty = true;
  for (const part of parts.map((p) => oneLine(p))) {
    const candidate = empty ? current + part : `${current} · ${part}`;
    if (Array.from(candidate).length <= WIDTH) {
      current = candidate;
      empty = false;
      continue;
    }
    if (!empty) lines.push(`${current} ·`);
    const words = wrap(part, indent, empty ? current : ' '.repeat(indent));
    current = words.pop()!;
    lines.push(...words);
    empty = false;
  }
  lines.push(current);
  return lines.map((l) => l.trimEnd());
}

function name(item: ReportItem): string {
  const title = line(item.title, 100);
  const id = line(item.id, 100);
  return title && title !== id ? `${title} (${id})` : id;
}

function tags(p: PlannedItem): string {
  const parts = [failingLabel(p), p.item.severity === 'P1' || p.item.severity === 'P2' ? p.item.severity : undefined].filter(Boolean);
  return parts.length ? ` · ${parts.join(' · ')}` : '';
}

function hintLines(hint: Hint | undefined, indent: number): string[] {
  if (!hint) return [];
  const pad = ' '.repeat(indent);
  const out = typeof hint.text === 'string' && line(hint.text, 10) ? wrap(line(hint.text, TEXT_LIMITS.hint), indent + 6, `${pad}Hint: `) : [];
  if (hint.action && typeof hint.action === 'object') {
    out.push(`${pad}Fix:  ${line(hint.action.method || 'POST', 10)} ${line(hint.action.path, 200)}   (dry run first)`);
    for (const l of clean(actionJson(hint.action.body, TEXT_LIMITS.actionValue)).split('\n')) out.push(`${pad}      ${l}`);
  }
  return out;
}

function detailLines(item: ReportItem, indent: number): string[] {
  const rows = Array.isArray(item.details) ? item.details.filter((r) => r && typeof r === 'object') : [];
  const shown = rows.slice(0, TEXT_LIMITS.detailRows);
  const more = rows.length - shown.length + (typeof item.more === 'number' && item.more > 0 ? item.more : 0);
  const pad = ' '.repeat(indent);
  const out: string[] = [];
  if (shown.length) {
    const keys: string[] = [];
    for (const r of shown) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
    const heads = keys.map((k) => line(k, 24));
    const cells = shown.map((r) => keys.map((k) => formatCell(k, (r as Record<string, unknown>)[k], TEXT_LIMITS.cell)));
    // Columns of numbers are right-aligned, as in the HTML.
    const numeric = keys.map((k) => shown.every((r) => isNumeric((r as Record<string, unknown>)[k])));
    const widths = heads.map((h, i) => Math.max(Array.from(h).length, ...cells.map((c) => Array.from(c[i]!).length)));
    const tableWidth = indent + widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1);
    if (tableWidth <= WIDTH) {
      const fill = (v: string, i: number) => ' '.repeat(widths[i]! - Array.from(v).length);
      const fmt = (vals: string[], align: boolean) => pad + vals.map((v, i) => (align && numeric[i] ? fill(v, i) + v : v + fill(v, i))).join(' | ').trimEnd();
      out.push(fmt(heads, false), pad + widths.map((w) => '-'.repeat(w)).join('-+-'));
      for (const c of cells) out.push(fmt(c, true));
    } else {
      for (const c of cells) append(out, wrapParts(keys.map((_, i) => `${heads[i]}=${c[i]}`), indent + 2, `${pad}- `));
    }
  }
  if (more > 0) out.push(`${pad}+ ${plural(more, 'more row')}`);
  return out;
}

/** push(...lines) without the argument limit (a group can hold thousands of lines). */
function append(out: string[], lines: string[]): void {
  for (const l of lines) out.push(l);
}

/** A group's items (status, summary, detail rows), then their fix once, naming them when several share it. */
function groupEntry(g: FixGroup): string[] {
  const out: string[] = [];
  // Many items with one fix: the first ones in full, the others named in "Applies to".
  const headed = g.items.slice(0, 12);
  for (const p of headed) {
    const { item } = p;
    append(out, wrap(`${label(item.status)} ${name(item)}${tags(p)}`, 4, `  ${glyph(item.status)} `));
    append(out, wrap(line(item.summary, TEXT_LIMITS.summary), 6));
  }
  if (g.items.length > 1 && g.hint) append(out, wrap(`Applies to ${plural(g.items.length, 'item')}: ${g.items.map((p) => line(p.item.id, 100)).join(', ')}`, 12, '      '));
  append(out, hintLines(g.hint, 6));
  for (const p of headed.slice(0, g.items.length > 1 ? 3 : 1)) append(out, detailLines(p.item, 6));
  return out;
}

/** One line per item: past the budget, the id alone; past twice the budget, not even that (counted). */
function attentionLines(title: string, groups: FixGroup[], limit: number, what: string): string[] {
  const total = groups.reduce((n, g) => n + g.items.length, 0);
  if (total === 0) return [];
  const out = ['', `${title} (${formatNumber(total)})`];
  let used = 0;
  let shortened = 0;
  for (const g of groups) {
    let lines: string[];
    if (used > 2 * limit) lines = g.items.map((p) => `  ${glyph(p.item.status)} ${label(p.item.status)} ${line(p.item.id, 100)}${tags(p)}`);
    else if (used > limit) lines = g.items.flatMap((p) => wrap(`${label(p.item.status)} ${name(p.item)}${tags(p)} — ${line(p.item.summary, 100)}`, 4, `  ${glyph(p.item.status)} `));
    else lines = groupEntry(g);
    if (used > limit) shortened += g.items.length;
    for (const l of lines) used += Buffer.byteLength(l, 'utf8') + 1;
    append(out, lines);
  }
  if (shortened) out.push(`  (hints and fixes left out for the last ${plural(shortened, what)} to keep this email short)`);
  return out;
}

/** Bytes of section text written so far: past the budget, items shrink, then are only counted. */
interface Budget {
  used: number;
}

function sectionLines(s: Section, budget: Budget): string[] {
  const c = s.counts;
  const noun = s.items.some((p) => p.item.kind === 'task') ? 'item' : 'check';
  const counts = [
    plural(s.items.length, noun),
    c.fail + c.error ? `${formatNumber(c.fail + c.error)} failing` : '',
    c.warn ? plural(c.warn, 'warning') : '',
    c.ok ? `${formatNumber(c.ok)} ok` : '',
    c.skipped ? `${formatNumber(c.skipped)} skipped` : '',
  ].filter(Boolean);
  const title = `${line(s.area, 60).toUpperCase()}  (${counts.join(' · ')})`;
  const out = ['', title, '-'.repeat(Math.min(WIDTH, Array.from(title).length))];
  const seen: Record<string, number> = {};
  const omitted: Record<string, number> = {};
  const shown = new Set<PlannedItem>();
  for (const p of s.items) {
    const st = p.item.status;
    const cap = st === 'warn' ? TEXT_LIMITS.warnPerSection : st === 'ok' ? TEXT_LIMITS.okPerSection : isFailing(st) ? Infinity : TEXT_LIMITS.skippedPerSection;
    seen[st] = (seen[st] ?? 0) + 1;
    // Past twice the budget even failing items are only counted here: FAILING above names every one.
    if (seen[st]! > cap || budget.used > 2 * TEXT_LIMITS.sectionBytes) {
      omitted[st] = (omitted[st] ?? 0) + 1;
      continue;
    }
    const lines = wrap(`${label(st)} ${name(p.item)}${tags(p)} — ${line(p.item.summary, budget.used > TEXT_LIMITS.sectionBytes ? 100 : 200)}`, 12, `  ${glyph(st)} `);
    shown.add(p);
    for (const l of lines) budget.used += Buffer.byteLength(l, 'utf8') + 1;
    out.push(...lines);
  }
  // A passing or skipped item's hint, once for all the listed items that share it.
  for (const g of s.hints) {
    const ids = g.items.filter((p) => shown.has(p)).map((p) => line(p.item.id, 100));
    if (!ids.length || !g.hint || !line(g.hint.text, 10)) continue;
    const lines = wrap(`Hint (${ids.join(', ')}): ${line(g.hint.text, TEXT_LIMITS.hint)}`, 6, '    ');
    for (const l of lines) budget.used += Buffer.byteLength(l, 'utf8') + 1;
    out.push(...lines);
  }
  const rest = Object.entries(omitted).map(([st, n]) => `${formatNumber(n)} more ${st === 'warn' ? 'warning' : isFailing(st as CheckStatus) ? `${st} (in FAILING above)` : st}`);
  const omittedTotal = Object.values(omitted).reduce((a, b) => a + b, 0);
  if (rest.length) out.push(`  … and ${rest.join(', ')} ${omittedTotal === 1 ? noun : `${noun}s`}`);
  return out;
}

function trendLines(model: ReportModel): string[] {
  const t = model.trends ?? {};
  const out: string[] = [];
  const size = lastPoints(t.databaseSize);
  if (size.length) {
    const first = size[0]!;
    const last = size[size.length - 1]!;
    const change = formatChange(first.value, last.value);
    const values = size.map((p) => p.value);
    out.push(
      `  Database size: ${formatBytes(last.value)} on ${line(last.date, 20)}` +
        `${change ? ` (${change} since ${line(first.date, 20)})` : ''}; min ${formatBytes(Math.min(...values))}, max ${formatBytes(Math.max(...values))}`,
    );
  }
  const fails = lastPoints(t.queueFailures);
  if (fails.length) {
    const last = fails[fails.length - 1]!;
    const peak = fails.reduce((a, b) => (b.value > a.value ? b : a), fails[0]!);
    out.push(
      `  Queue failures: ${formatNumber(last.value)} on ${line(last.date, 20)}; peak ${formatNumber(peak.value)} on ${line(peak.date, 20)}; ` +
        `${formatNumber(fails.reduce((a, b) => a + b.value, 0))} over ${plural(fails.length, 'day')}`,
    );
    out.push(...wrap(`last ${plural(fails.length, 'day')}: ${fails.map((p) => formatNumber(p.value)).join(' ')}`, 4));
  }
  const metrics = metricsWithPoints(t);
  for (const m of metrics.slice(0, TEXT_LIMITS.metrics)) {
    const { points: pts, first, last, fmt, change, min, max } = metricSeries(m);
    append(
      out,
      wrap(
        `${line(m.title, 80)} (${line(m.id, 100)}): ${fmt(last.value)} on ${line(last.date, 20)}${change ? ` (${change} since ${line(first.date, 20)})` : ''}; ` +
          `min ${fmt(min)}, max ${fmt(max)} over ${plural(pts.length, 'day')}`,
        4,
        '  ',
      ),
    );
    const short = /^bytes?$/i.test(line(m.unit, 20)) ? formatBytes : formatNumber;
    if (pts.length > 1) append(out, wrap(`last ${plural(pts.length, 'day')}: ${pts.map((p) => short(p.value)).join(' ')}`, 4));
  }
  if (metrics.length > TEXT_LIMITS.metrics) out.push(`  … and ${plural(metrics.length - TEXT_LIMITS.metrics, 'more metric')}`);
  if (typeof t.newSlowQueries === 'number' && Number.isFinite(t.newSlowQueries)) out.push(`  New slow queries since the previous snapshot: ${formatNumber(t.newSlowQueries)}`);
  const hbs = Array.isArray(t.heartbeats) ? t.heartbeats.slice(0, TEXT_LIMITS.heartbeats) : [];
  if (hbs.length) {
    out.push('  Heartbeats (since last success):');
    const names = hbs.map((h) => line(h.name, 40));
    const w = Math.max(...names.map((n) => Array.from(n).length));
    hbs.forEach((h, i) => {
      const age = typeof h.lastSuccessAgeSeconds === 'number' && Number.isFinite(h.lastSuccessAgeSeconds) ? `${formatAge(h.lastSuccessAgeSeconds)} ago` : 'no success yet';
      out.push(`    ${names[i]!.padEnd(w)}  ${line(h.state, 12).padEnd(8)}  ${age}`);
    });
    const more = (t.heartbeats?.length ?? 0) - hbs.length;
    if (more > 0) out.push(`    … and ${plural(more, 'more heartbeat')}`);
  }
  return out.length ? ['', 'TRENDS', '------', ...out] : [];
}

export function renderText(model: ReportModel, plan: Plan, subject: string): string {
  const c = model.counts;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const out: string[] = [];
  out.push(...wrap(`${line(model.service, 200)} — ${line(model.checklist.title, 200)}`, 2, ''));
  out.push(
    ...wrap(
      [`period ${line(model.period, 60)}`, line(model.checklist.schedule, 200), `generated ${line(model.generatedAt, 60)}`, model.runId ? `run #${line(model.runId, 20)}` : '']
        .filter(Boolean)
        .join(' · '),
      2,
      '',
    ),
  );
  if (model.dryRun) out.push('DRY RUN: nothing was stored or sent.');
  for (const note of Array.isArray(model.notes) ? model.notes.slice(0, TEXT_LIMITS.notes) : []) out.push(...wrap(line(note, 600), 6, 'NOTE: '));

  out.push('', 'SUMMARY', '-------');
  out.push(`  ${line(subject.replace(/^.*?\[Opsbook\]\s*/, ''), WIDTH - 2)}`);
  out.push(
    `  ${formatNumber(n(c.fail) + n(c.error))} failing${n(c.error) ? ` (${formatNumber(n(c.error))} error)` : ''} · ${plural(n(c.warn), 'warning')} · ` +
      `${formatNumber(n(c.ok))} ok · ${formatNumber(n(c.skipped))} skipped · ${formatNumber(n(c.manual))} manual`,
  );
  if (model.items.length > 0 && plan.failing.length === 0 && plan.warnings.length === 0) out.push('  All clear.');

  append(out, attentionLines('FAILING', plan.failingGroups, TEXT_LIMITS.failingBytes, 'failing item'));
  append(out, attentionLines('WARNINGS', plan.warningGroups, TEXT_LIMITS.warningBytes, 'warning'));
  if (plan.newSince.length) {
    out.push('', `NEW SINCE LAST RUN (${formatNumber(plan.newSince.length)})`);
    out.push(...wrap(plan.newSince.map((p) => line(p.item.id, 100)).join(', '), 2));
  }
  if (plan.recovered.length) {
    out.push('', `RECOVERED (${formatNumber(plan.recovered.length)})`);
    for (const item of plan.recovered.slice(0, TEXT_LIMITS.recovered)) out.push(...wrap(`${name(item)} — ${line(item.summary, 200)}`, 4, '  ✓ '));
    const rest = plan.recovered.length - TEXT_LIMITS.recovered;
    if (rest > 0) out.push(`  … and ${formatNumber(rest)} more recovered`);
  }

  const budget: Budget = { used: 0 };
  for (const s of plan.sections) append(out, sectionLines(s, budget));
  out.push(...trendLines(model));

  const manual = Array.isArray(model.manual) ? model.manual : [];
  if (manual.length) {
    out.push('', 'MANUAL ITEMS', '------------');
    for (const m of manual.slice(0, TEXT_LIMITS.manual)) {
      out.push(...wrap(line(m.text, 300), 6, '  [ ] '));
      const meta = [m.owner ? `owner ${line(m.owner, 60)}` : '', m.lastDone ? `last done ${line(m.lastDone, 30)}` : '', m.link ? line(m.link, 300) : ''].filter(Boolean);
      if (meta.length) out.push(`      ${meta.join(' · ')}`);
    }
    if (manual.length > TEXT_LIMITS.manual) out.push(`  … and ${plural(manual.length - TEXT_LIMITS.manual, 'more manual item')}`);
  }
  const links = model.links && typeof model.links === 'object' ? Object.entries(model.links) : [];
  if (links.length) {
    out.push('', 'DASHBOARDS', '----------');
    for (const [k, v] of links.slice(0, TEXT_LIMITS.links)) out.push(`  ${line(k, 40)}: ${line(v, 300)}`);
  }
  out.push('', `— Opsbook · ${line(model.checklist.id, 40)}${model.runId ? ` · run #${line(model.runId, 20)}` : ''}`);
  return `${out.join('\n')}\n`;
}
