import type { CheckStatus, Hint } from '../checks/types.js';
import type { ManualItem, ReportItem, ReportModel } from './model.js';
import { barChart, hbar, lastPoints, metricSeries, metricsWithPoints } from './charts.js';
import { escapeHtml, htmlLine, line, safeHref, truncate } from './escape.js';
import { actionJson, formatAge, formatBytes, formatCell, formatChange, formatNumber, isNumeric, plural } from './format.js';
import { failingLabel, isFailing, type FixGroup, type Plan, type PlannedItem, type Section } from './plan.js';

/**
 * The HTML part: tables, `bgcolor` and inline styles only (Gmail, Outlook), no scripts, no remote
 * resources, and bounded: Gmail clips a message above 102 KB and hides what follows. What needs doing
 * comes first: the summary lists every failing item and then every warning, each with its fix (hint
 * and admin action) and evidence while the bytes last (one line each, then ids, when there are
 * hundreds; the text part has them all); a fix shared by several items is shown once, naming them.
 * The sections then list every item by area, one line each, passing checks without details; what
 * does not fit is counted ("… and 37 more ok checks"). It fits 375 px: no fixed width above 300 px.
 *
 * Text styles are set on each block's cell and inherited; Outlook, which does not inherit fonts into
 * nested tables, gets them from a conditional <style> (an enhancement: nothing depends on it).
 */

/** Failing items the sections consider (the first, by importance); a line is ~400 bytes. */
const MAX_FAILING_IN_SECTIONS = 250;

/** Hard ceiling for the HTML, in UTF-8 bytes. */
export const HTML_LIMIT_BYTES = 100_000;
/** What the layout aims for, leaving room for what mail clients add. */
export const HTML_TARGET_BYTES = 90_000;

export const LIMITS = {
  title: 100,
  id: 80,
  summary: 300,
  listSummary: 160,
  shortSummary: 90,
  lineSummary: 120,
  detailRows: 5,
  detailCols: 6,
  cell: 60,
  hint: 600,
  actionValue: 200,
  warnPerSection: 30,
  okPerSection: 25,
  skippedPerSection: 10,
  note: 400,
  manualText: 200,
  /** Ids named under a shared hint. */
  appliesTo: 12,
} as const;

/**
 * How many notes, manual items, heartbeats, links and summary rows the report shows. TIGHT is for
 * days when the failing items need the bytes: the rest is then counted ("… and 12 more manual items").
 */
interface Caps {
  notes: number;
  links: number;
  manual: number;
  heartbeats: number;
  /** Metric trend charts (pushed heartbeat metrics, SQL metrics). */
  metrics: number;
  recoveredInSummary: number;
  newInSummary: number;
  /** Hover titles (date: value) on trend bars. */
  barTitles: boolean;
}
const CAPS: Caps = { notes: 5, links: 20, manual: 25, heartbeats: 15, metrics: 12, recoveredInSummary: 12, newInSummary: 30, barTitles: true };
const TIGHT: Caps = { notes: 2, links: 8, manual: 8, heartbeats: 5, metrics: 4, recoveredInSummary: 5, newInSummary: 10, barTitles: false };

const FONT = "-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif";
const MONO = 'Menlo,Consolas,monospace';
const WRAP = 'word-break:break-word;overflow-wrap:anywhere';
/** Invisible filler for a cell that only shows its background. */
const FILL = 'style="font-size:0;line-height:0"';
const PAGE_BG = '#f1f3f6';
const INK = '#111827';
const MUTED = '#6b7280';
const BODY = '#374151';
const RULE = '#e5e7eb';
const FAINT = '#f1f2f4';
/** Characters of unwrappable detail cells a row can hold within a phone's 300 px: shared by its columns. */
const SHORT_CELLS_CHARS = 44;

interface Tone {
  label: string;
  fg: string;
  bg: string;
  solid: string;
  glyph: string;
}
const TONES: Record<CheckStatus, Tone> = {
  fail: { label: 'FAIL', fg: '#b91c1c', bg: '#fee2e2', solid: '#dc2626', glyph: '✗' },
  error: { label: 'ERROR', fg: '#9a3412', bg: '#ffedd5', solid: '#ea580c', glyph: '✗' },
  warn: { label: 'WARN', fg: '#92400e', bg: '#fef3c7', solid: '#d97706', glyph: '!' },
  ok: { label: 'OK', fg: '#166534', bg: '#dcfce7', solid: '#16a34a', glyph: '✓' },
  skipped: { label: 'SKIPPED', fg: '#4b5563', bg: '#e5e7eb', solid: '#9ca3af', glyph: '–' },
};
const tone = (s: CheckStatus): Tone => TONES[s] ?? TONES.skipped;

const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const table = (attrs: string, inner: string) => `<table role="presentation" cellpadding="0" cellspacing="0" border="0"${attrs}>${inner}</table>`;
/** A full-width block of the report: one row of the 640 px container. */
const block = (id: string, style: string, inner: string) => `<tr><td${id ? ` id="${id}"` : ''} style="${style}">${inner}</td></tr>`;
const BLOCK = `padding:22px 24px 4px;font-family:${FONT};font-size:14px;color:${INK};${WRAP}`;

// ---------------------------------------------------------------------------------------------- pieces

function pill(status: CheckStatus): string {
  const t = tone(status);
  return `<span style="background:${t.solid};color:#ffffff;font-size:11px;font-weight:700;padding:1px 6px;border-radius:3px">${t.label}</span>`;
}

function glyph(status: CheckStatus): string {
  const t = tone(status);
  return `<b style="color:${t.solid}">${t.glyph}</b>`;
}

/** In one-line lists, where there is no pill: an error is a check that could not run, not a failure. */
function errorMark(item: ReportItem): string {
  return item.status === 'error' ? ` <span style="color:${TONES.error.fg};font-size:11px;font-weight:700">ERROR</span>` : '';
}

function tag(p: PlannedItem): string {
  const label = failingLabel(p);
  if (!label) return '';
  if (p.isNew) return ` <span style="border:1px solid #dc2626;color:#dc2626;font-size:11px;font-weight:700;padding:0 4px;border-radius:3px">NEW</span>`;
  return ` <span style="color:#b45309;font-size:12px;font-weight:600">${escapeHtml(label)}</span>`;
}

function severity(item: ReportItem): string {
  return item.severity === 'P1' || item.severity === 'P2' ? ` <span style="color:${MUTED};font-size:11px;font-weight:600">${item.severity}</span>` : '';
}

function idCode(id: unknown): string {
  // <code> is monospace everywhere (Outlook's conditional style picks Consolas): no font-family needed.
  return `<code style="font-size:12px;color:${MUTED}">${htmlLine(id, LIMITS.id)}</code>`;
}

function name(item: ReportItem): string {
  const title = line(item.title, LIMITS.title);
  const id = line(item.id, LIMITS.id);
  if (!title || title === id) return idCode(id);
  return `<b>${escapeHtml(title)}</b> ${idCode(id)}`;
}

function heading(text: string, extra = ''): string {
  return `<div style="font-size:16px;font-weight:700;padding:0 0 5px;border-bottom:2px solid ${INK};margin:0 0 2px">${text}${extra ? ` <span style="font-size:12px;font-weight:400;color:${MUTED}">${extra}</span>` : ''}</div>`;
}

function subheading(text: string, color: string): string {
  return `<div style="font-size:12px;font-weight:700;color:${color};letter-spacing:0.5px;margin:16px 0 2px">${text}</div>`;
}

function detailsTable(item: ReportItem, maxRows: number): string {
  const rows = Array.isArray(item.details) ? item.details.filter((r) => r && typeof r === 'object') : [];
  const shown = rows.slice(0, maxRows);
  const more = rows.length - shown.length + (typeof item.more === 'number' && item.more > 0 ? item.more : 0);
  const note = (text: string) => `<div style="font-size:12px;color:${MUTED};margin-top:2px">${text}</div>`;
  if (shown.length === 0) return more > 0 ? note(`+ ${plural(more, 'more row')}`) : '';
  const keys: string[] = [];
  for (const r of shown) for (const k of Object.keys(r)) if (!keys.includes(k)) keys.push(k);
  const cols = keys.slice(0, LIMITS.detailCols);
  const hiddenCols = keys.length - cols.length;
  // Short values never wrap (a pid or "2 h 14 min" broken over two lines is hard to read); long
  // ones wrap anywhere, so a long table name or query never widens the email past 640 px.
  const short = Math.max(8, Math.min(18, Math.floor(SHORT_CELLS_CHARS / cols.length)));
  const nowrap = (text: string) => (Array.from(text).length <= short ? ' nowrap' : '');
  const th = cols
    .map((k) => {
      const text = line(k, 30);
      return `<th align="left"${nowrap(text)}>${escapeHtml(text)}</th>`;
    })
    .join('');
  const trs = shown
    .map((r, i) => {
      const tds = cols
        .map((k) => {
          const v = (r as Record<string, unknown>)[k];
          const text = formatCell(k, v, LIMITS.cell);
          return `<td${isNumeric(v) ? ' align="right"' : ''}${nowrap(text)}>${escapeHtml(text)}</td>`;
        })
        .join('');
      return `<tr${i % 2 ? ` bgcolor="#f9fafb"` : ''}>${tds}</tr>`;
    })
    .join('');
  const notes = [more > 0 ? plural(more, 'more row') : '', hiddenCols > 0 ? plural(hiddenCols, 'more column') : ''].filter(Boolean).join(' · ');
  return (
    `<table role="presentation" cellpadding="3" cellspacing="0" border="0" width="100%" style="margin-top:6px;border:1px solid ${RULE};font-size:12px;color:${BODY}">` +
    `<tr bgcolor="${FAINT}" style="color:${MUTED}">${th}</tr>${trs}</table>` +
    (notes ? note(`+ ${notes}`) : '')
  );
}

function hintBlock(hint: Hint | undefined, withAction: boolean, appliesTo: ReportItem[] = []): string {
  if (!hint || typeof hint !== 'object') return '';
  const text = line(hint.text, LIMITS.hint);
  const action = withAction && hint.action && typeof hint.action === 'object' ? hint.action : undefined;
  if (!text && !action) return '';
  let code = '';
  if (action) {
    code =
      `<div style="font-size:12px;color:${BODY};margin-top:8px">Admin action that fixes it (dry run first):</div>` +
      table(
        ` width="100%" style="margin-top:4px;table-layout:fixed"`,
        `<tr><td bgcolor="#0f172a" style="padding:8px 10px;border-radius:4px"><pre style="margin:0;font-family:${MONO};font-size:12px;line-height:1.45;color:#e2e8f0;white-space:pre-wrap;${WRAP}">` +
          `<b style="color:#93c5fd">${htmlLine(action.method || 'POST', 10)}</b> ${htmlLine(action.path, 200)}\n${escapeHtml(actionJson(action.body, LIMITS.actionValue))}</pre></td></tr>`,
      );
  }
  // One fix for several items is shown once, naming them all.
  const who =
    appliesTo.length > 1
      ? `<div style="font-size:12px;color:#1e40af;margin-top:4px">Applies to ${plural(appliesTo.length, appliesTo.some((i) => i.kind === 'task') ? 'item' : 'check')}: ${appliesTo
          .slice(0, LIMITS.appliesTo)
          .map((i) => idCode(i.id))
          .join(', ')}${appliesTo.length > LIMITS.appliesTo ? ` … and ${formatNumber(appliesTo.length - LIMITS.appliesTo)} more` : ''}</div>`
      : '';
  return table(
    ` width="100%" style="margin-top:8px"`,
    `<tr><td bgcolor="#eff6ff" style="border-left:3px solid #3b82f6;padding:8px 10px;font-size:13px;line-height:1.45;color:#1e3a8a">` +
      `${text ? `<b>Hint:</b> ${escapeHtml(text)}` : ''}${who}${code}</td></tr>`,
  );
}

// ---------------------------------------------------------------------------------------------- items

/**
 * How much of a failing or warning group the summary shows, most to least: its fix and evidence
 * (detail rows), its fix, or one line per item.
 */
export type Level = 'full' | 'compact' | 'line';

function itemHead(p: PlannedItem): string {
  return `<div style="font-size:14px;color:${INK}">${pill(p.item.status)} ${name(p.item)}${tag(p)}${severity(p.item)}</div><div style="margin-top:3px">${htmlLine(p.item.summary, LIMITS.summary)}</div>`;
}

/** A group's card: each item's status and summary, then the fix once (hint and action), then the evidence. */
function groupCard(g: FixGroup, level: 'full' | 'compact'): string {
  const first = g.items[0]!.item;
  const t = tone(first.status);
  // Many items with one fix: the first ones in full, the others by id (the hint names them all).
  const headed = g.items.slice(0, LIMITS.appliesTo);
  const heads = headed.map((p, i) => `<div${i ? ' style="margin-top:8px"' : ''}>${itemHead(p)}</div>`).join('');
  const others = g.items.slice(headed.length);
  const also = others.length
    ? `<div style="font-size:13px;margin-top:8px">Also: ${others.map((p) => `${idCode(p.item.id)}${p.isNew ? ' <b style="color:#dc2626">NEW</b>' : ''}`).join(', ')}</div>`
    : '';
  const details = level === 'full' ? headed.map((p) => detailsTable(p.item, g.items.length > 1 ? 3 : LIMITS.detailRows)).join('') : '';
  return (
    `<tr><td style="padding:10px 0;border-top:1px solid ${RULE}">` +
    table(
      ` width="100%"`,
      `<tr><td width="4" bgcolor="${t.solid}" ${FILL}>&nbsp;</td><td style="padding-left:10px;line-height:1.45">` +
        heads +
        also +
        hintBlock(g.hint, true, g.items.map((p) => p.item)) +
        details +
        `</td></tr>`,
    ) +
    `</td></tr>`
  );
}

/** Section rows: lines take the items table's text style. */
const ITEMS_TABLE = ` width="100%" style="font-size:13px;line-height:1.4;color:${BODY}"`;

function itemLine(p: PlannedItem): string {
  return (
    `<tr><td style="padding:5px 0;border-top:1px solid ${FAINT}">` +
    `${glyph(p.item.status)} ${name(p.item)}${errorMark(p.item)}${tag(p)} — ${htmlLine(p.item.summary, LIMITS.lineSummary)}</td></tr>`
  );
}

// Rendering is pure, so a group's HTML at a level is computed once per plan (the budget tries levels).
const rendered = new WeakMap<FixGroup, Partial<Record<Level, string>>>();

function renderGroup(g: FixGroup, level: Level): string {
  let byLevel = rendered.get(g);
  if (!byLevel) rendered.set(g, (byLevel = {}));
  return (byLevel[level] ??= level === 'line' ? g.items.map(itemLine).join('') : groupCard(g, level));
}

// -------------------------------------------------------------------------------------------- sections

function sectionCounts(s: Section): string {
  const c = s.counts;
  return [
    plural(s.items.length, s.items.some((p) => p.item.kind === 'task') ? 'item' : 'check'),
    c.fail + c.error ? `${formatNumber(c.fail + c.error)} failing` : '',
    c.warn ? plural(c.warn, 'warning') : '',
    c.ok ? `${formatNumber(c.ok)} ok` : '',
    c.skipped ? `${formatNumber(c.skipped)} skipped` : '',
  ]
    .filter(Boolean)
    .join(' · ');
}

function sectionFootnote(s: Section, shown: ReadonlySet<PlannedItem>): string {
  const omitted: Record<string, number> = {};
  for (const p of s.items) if (!shown.has(p)) omitted[p.item.status] = (omitted[p.item.status] ?? 0) + 1;
  const task = s.items.some((p) => p.item.kind === 'task');
  const parts: string[] = [];
  const failingOmitted = (omitted.fail ?? 0) + (omitted.error ?? 0);
  if (failingOmitted) parts.push(`${plural(failingOmitted, `more failing ${task ? 'item' : 'check'}`)} (listed in the summary)`);
  for (const [st, word] of [['warn', 'warning'], ['ok', 'ok'], ['skipped', 'skipped']] as const) {
    if (omitted[st]) parts.push(plural(omitted[st], `more ${word} ${task ? 'item' : 'check'}`));
  }
  const text = parts.length ? `… and ${parts.join(', ')}` : '';
  return text ? `<div style="font-size:12px;font-style:italic;color:${MUTED};padding-top:6px;border-top:1px solid ${RULE}">${text}</div>` : '';
}

/** A passing or skipped item's hint, once per section for the items shown that share it. */
function sectionHints(s: Section, shown: ReadonlySet<PlannedItem>): string {
  return s.hints
    .map((g) => {
      const items = g.items.filter((p) => shown.has(p)).map((p) => p.item);
      return items.length ? hintBlock(g.hint, false, items.length > 1 ? items : []).replace('<b>Hint:</b>', items.length === 1 ? `<b>Hint</b> (${idCode(items[0]!.id)})<b>:</b>` : '<b>Hint:</b>') : '';
    })
    .join('');
}

/** Every item is one line in its section: the fixes are in the summary, above. */
function renderSection(s: Section, index: number, shown: ReadonlySet<PlannedItem>): string {
  const rows = s.items.map((p) => (shown.has(p) ? itemLine(p) : '')).join('');
  return block(
    `ob-section-${index}`,
    BLOCK,
    heading(htmlLine(s.area, 60), sectionCounts(s)) + (rows ? table(ITEMS_TABLE, rows) : '') + sectionHints(s, shown) + sectionFootnote(s, shown),
  );
}

/** A section's bytes with no item shown (the largest footnote), reserved before choosing items. */
function sectionShellBytes(s: Section, index: number): number {
  return bytes(renderSection(s, index, new Set())) + 120;
}

/**
 * Which items the sections list, one line each, within `budget` bytes: failing, then warnings,
 * then ok, then skipped ones (with their shared hints), most important first. Per-section caps keep
 * long lists of ok checks from crowding out the rest. What does not fit is counted. Deterministic.
 */
export function chooseLines(plan: Plan, budget: number): Set<PlannedItem> {
  const shown = new Set<PlannedItem>();
  let left = budget;
  const capped: PlannedItem[] = [];
  for (const s of plan.sections) {
    const seen: Record<string, number> = {};
    for (const p of s.items) {
      const st = p.item.status;
      const cap = st === 'warn' ? LIMITS.warnPerSection : st === 'ok' ? LIMITS.okPerSection : isFailing(st) ? MAX_FAILING_IN_SECTIONS : LIMITS.skippedPerSection;
      seen[st] = (seen[st] ?? 0) + 1;
      if (seen[st]! <= cap) capped.push(p);
    }
  }
  const hinted = new Map<PlannedItem, FixGroup>();
  for (const s of plan.sections) for (const g of s.hints) for (const p of g.items) hinted.set(p, g);
  const hintCharged = new Set<FixGroup>();
  const rank = (p: PlannedItem) => (isFailing(p.item.status) ? 0 : p.item.status === 'warn' ? 1 : p.item.status === 'ok' ? 2 : 3);
  const ordered = capped.map((p, i) => ({ p, i })).sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i);
  for (const { p } of ordered) {
    let b = bytes(itemLine(p));
    const g = hinted.get(p);
    // A shared hint is paid for once, with the first item that shows it (plus its id in the list).
    if (g && !hintCharged.has(g)) b += bytes(hintBlock(g.hint, false, g.items.map((x) => x.item)));
    else if (g) b += bytes(idCode(p.item.id)) + 2;
    if (b > left) continue;
    shown.add(p);
    if (g) hintCharged.add(g);
    left -= b;
  }
  return shown;
}

// --------------------------------------------------------------------------------------------- summary

function badge(n: number, label: string, t: { fg: string; bg: string }): string {
  const fg = n > 0 ? t.fg : '#9ca3af';
  const bg = n > 0 ? t.bg : '#f9fafb';
  return (
    `<td align="center" bgcolor="${bg}" style="padding:8px 0;border-radius:6px;color:${fg}">` +
    `<div style="font-size:24px;line-height:28px;font-weight:700">${formatNumber(n)}</div>` +
    `<div style="font-size:10px;line-height:13px;font-weight:700;word-break:normal;overflow-wrap:normal">${label}</div></td>`
  );
}

function badges(model: ReportModel): string {
  const c = model.counts;
  const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  // "failing" is fail + error, as in the subject and the Failing list.
  const cells = [
    badge(n(c.fail) + n(c.error), n(c.error) ? `FAILING · ${formatNumber(n(c.error))} ERR` : 'FAILING', TONES.fail),
    badge(n(c.warn), 'WARNINGS', TONES.warn),
    badge(n(c.ok), 'OK', TONES.ok),
    badge(n(c.skipped), 'SKIPPED', TONES.skipped),
    badge(n(c.manual), 'MANUAL', { fg: '#1d4ed8', bg: '#dbeafe' }),
  ];
  return table(` width="100%" style="margin-top:10px;table-layout:fixed"`, `<tr>${cells.join(`<td width="4" ${FILL}>&nbsp;</td>`)}</tr>`);
}

/**
 * Which failing and warning groups the summary shows, and how, within `budget` bytes: failing groups
 * first, most important first, each with its fix (hint and action) while the bytes last, else as
 * lines, else by id; then warnings the same way; then evidence (detail rows) for as many as fit.
 */
export function chooseAttention(plan: Plan, budget: number): Map<FixGroup, Level> {
  const levels = new Map<FixGroup, Level>();
  const cost = new Map<FixGroup, number>();
  let left = budget;
  const place = (groups: FixGroup[]) => {
    for (const g of groups) {
      for (const level of ['compact', 'line'] as const) {
        const b = bytes(renderGroup(g, level));
        if (b > left) continue;
        levels.set(g, level);
        cost.set(g, b);
        left -= b;
        break;
      }
    }
  };
  const upgrade = (groups: FixGroup[]) => {
    for (const g of groups) {
      if (levels.get(g) !== 'compact') continue;
      const b = bytes(renderGroup(g, 'full'));
      if (b - cost.get(g)! > left) continue;
      left -= b - cost.get(g)!;
      levels.set(g, 'full');
      cost.set(g, b);
    }
  };
  place(plan.failingGroups);
  place(plan.warningGroups);
  upgrade(plan.failingGroups);
  upgrade(plan.warningGroups);
  return levels;
}

/** FAILING (n) or WARNINGS (n): the groups chosen, then every other item by id, as far as the bytes allow. */
function attentionList(title: string, color: string, groups: FixGroup[], levels: Map<FixGroup, Level>, idBytes: number, restNote: string): string {
  const total = groups.reduce((n, g) => n + g.items.length, 0);
  if (total === 0) return '';
  const rows = groups.map((g) => (levels.has(g) ? renderGroup(g, levels.get(g)!) : '')).join('');
  const rest = groups.filter((g) => !levels.has(g)).flatMap((g) => g.items);
  let tail = '';
  if (rest.length) {
    const parts: string[] = [];
    let used = 400;
    for (const p of rest) {
      const s = `${idCode(p.item.id)}${p.isNew ? ' <b style="color:#dc2626">NEW</b>' : ''}`;
      if (used + bytes(s) + 2 > idBytes) break;
      parts.push(s);
      used += bytes(s) + 2;
    }
    const unnamed = rest.length - parts.length;
    tail =
      `<div style="font-size:13px;line-height:1.6;padding-top:4px;border-top:1px solid ${FAINT}">${parts.length ? `${parts.join(', ')}` : ''}` +
      `${unnamed > 0 ? `${parts.length ? ' … and ' : ''}${formatNumber(unnamed)} more ${restNote}` : ''}</div>`;
  }
  return subheading(`${title} (${formatNumber(total)})`, color) + (rows ? table(ITEMS_TABLE, rows) : '') + tail;
}

function shortList(title: string, color: string, items: Array<{ item: ReportItem }>, cap: number, rest: string): string {
  if (items.length === 0) return '';
  const rows = items
    .slice(0, cap)
    .map(
      ({ item }) =>
        `<tr><td style="padding:4px 0;border-top:1px solid ${FAINT};font-size:13px;line-height:1.4;color:${BODY}">${glyph(item.status)} ${name(item)} — ${htmlLine(item.summary, LIMITS.shortSummary)}</td></tr>`,
    )
    .join('');
  const more = items.length - Math.min(cap, items.length);
  return (
    subheading(`${title} (${formatNumber(items.length)})`, color) +
    table(` width="100%"`, rows) +
    (more > 0 ? `<div style="font-size:12px;color:${MUTED};padding-top:4px">… and ${formatNumber(more)} ${rest}</div>` : '')
  );
}

function newSinceList(plan: Plan, caps: Caps): string {
  if (plan.newSince.length === 0) return '';
  const shown = plan.newSince.slice(0, caps.newInSummary);
  const rest = plan.newSince.length - shown.length;
  return (
    subheading(`NEW SINCE LAST RUN (${formatNumber(plan.newSince.length)})`, TONES.fail.fg) +
    `<div style="font-size:13px;line-height:1.6;color:${BODY}">${shown.map((p) => idCode(p.item.id)).join(', ')}${rest > 0 ? ` … and ${formatNumber(rest)} more` : ''}` +
    ` <span style="color:${MUTED}">— failing now, not in the previous run</span></div>`
  );
}

function summaryBlock(model: ReportModel, plan: Plan, attention: string, caps: Caps): string {
  const c = model.counts;
  let verdict = '';
  if (model.items.length === 0) {
    verdict = `<div style="font-size:14px;color:${BODY};margin-top:12px">No automated checks in this checklist: the manual items below are the work.</div>`;
  } else if (plan.failing.length === 0 && plan.warnings.length === 0) {
    verdict = table(
      ` width="100%" style="margin-top:12px"`,
      `<tr><td bgcolor="#dcfce7" style="padding:10px 12px;border-radius:6px;font-weight:600;color:#166534">✓ All clear: ${plural(c.ok ?? 0, 'check')} passed${c.skipped ? `, ${formatNumber(c.skipped)} skipped` : ''}.</td></tr>`,
    );
  }
  return block(
    'ob-summary',
    BLOCK.replace('padding:22px', 'padding:20px'),
    heading('Summary') +
      badges(model) +
      verdict +
      attention +
      newSinceList(plan, caps) +
      shortList('RECOVERED', TONES.ok.fg, plan.recovered.map((item) => ({ item })), caps.recoveredInSummary, 'more recovered'),
  );
}

// ---------------------------------------------------------------------------------------------- trends

function trendCell(title: string, latest: string, detail: string, chart: string): string {
  return (
    `<tr><td valign="top" style="padding:8px 0">` +
    `<div style="font-size:12px;font-weight:700;color:${MUTED};letter-spacing:0.5px">${title}</div>` +
    `<div style="font-size:20px;font-weight:700;margin:2px 0">${latest}</div>` +
    `<div style="font-size:12px;color:${MUTED};margin-bottom:6px">${detail}</div>${chart}</td></tr>`
  );
}

function trendsBlock(model: ReportModel, caps: Caps): string {
  const t = model.trends ?? {};
  const cells: string[] = [];
  const size = lastPoints(t.databaseSize);
  if (size.length) {
    const first = size[0]!;
    const last = size[size.length - 1]!;
    const change = formatChange(first.value, last.value);
    const values = size.map((p) => p.value);
    cells.push(
      trendCell(
        `DATABASE SIZE · ${plural(size.length, 'DAY', 'DAYS')}`,
        escapeHtml(formatBytes(last.value)),
        escapeHtml(`${change ? `${change} since ${line(first.date, 20)} · ` : ''}min ${formatBytes(Math.min(...values))}, max ${formatBytes(Math.max(...values))}`),
        barChart(size, { height: 44, width: 270, color: '#93c5fd', latestColor: '#2563eb', zeroBased: false, format: formatBytes, titles: caps.barTitles }),
      ),
    );
  }
  const fails = lastPoints(t.queueFailures);
  if (fails.length) {
    const last = fails[fails.length - 1]!;
    const peak = fails.reduce((a, b) => (b.value > a.value ? b : a), fails[0]!);
    cells.push(
      trendCell(
        `QUEUE FAILURES · ${plural(fails.length, 'DAY', 'DAYS')}`,
        `${escapeHtml(formatNumber(last.value))} <span style="font-size:12px;font-weight:400;color:${MUTED}">failed jobs today</span>`,
        escapeHtml(`peak ${formatNumber(peak.value)} on ${line(peak.date, 20)} · ${formatNumber(fails.reduce((a, b) => a + b.value, 0))} in all`),
        barChart(fails, { height: 44, width: 270, color: '#fca5a5', latestColor: '#dc2626', zeroColor: '#d1d5db', zeroBased: true, format: formatNumber, titles: caps.barTitles }),
      ),
    );
  }
  // Pushed heartbeat metrics and SQL metrics: one chart each, like the database size, in their unit.
  const metrics = metricsWithPoints(t);
  for (const m of metrics.slice(0, caps.metrics)) {
    const { points: pts, first, last, fmt, change, min, max } = metricSeries(m);
    cells.push(
      trendCell(
        `${htmlLine(line(m.title, 60).toUpperCase(), 60)} · ${plural(pts.length, 'DAY', 'DAYS')}`,
        `${escapeHtml(fmt(last.value))} <span style="font-size:12px;font-weight:400;color:${MUTED}">${idCode(m.id)}</span>`,
        escapeHtml(`${change ? `${change} since ${line(first.date, 20)} · ` : ''}min ${fmt(min)}, max ${fmt(max)}`),
        barChart(pts, { height: 36, width: 270, color: '#a5b4fc', latestColor: '#4f46e5', zeroBased: false, format: fmt, titles: caps.barTitles }),
      ),
    );
  }
  let rest = metrics.length > caps.metrics ? `<div style="font-size:12px;color:${MUTED}">… and ${plural(metrics.length - caps.metrics, 'more metric')} (in the plain-text part)</div>` : '';
  if (typeof t.newSlowQueries === 'number' && Number.isFinite(t.newSlowQueries)) {
    const n = t.newSlowQueries;
    rest += `<div style="margin-top:10px"><b style="font-size:18px;color:${n > 0 ? TONES.warn.fg : TONES.ok.fg}">${formatNumber(n)}</b> new slow ${n === 1 ? 'query' : 'queries'} since the previous snapshot</div>`;
  }
  const hbs = Array.isArray(t.heartbeats) ? t.heartbeats.slice(0, caps.heartbeats) : [];
  if (hbs.length) {
    const ages = hbs.map((h) => (typeof h.lastSuccessAgeSeconds === 'number' && Number.isFinite(h.lastSuccessAgeSeconds) ? h.lastSuccessAgeSeconds : undefined));
    const maxAge = Math.max(1, ...ages.filter((a): a is number => a !== undefined));
    const rows = hbs
      .map((h, i) => {
        const state = line(h.state, 16);
        const color = /^(up|running|ok)$/i.test(state) ? TONES.ok.solid : /^(late|new|warn)/i.test(state) ? TONES.warn.solid : /^(down|fail)/i.test(state) ? TONES.fail.solid : TONES.skipped.solid;
        const age = ages[i];
        return (
          `<tr><td>${idCode(line(h.name, 40))}</td><td style="font-weight:700;color:${color}">${htmlLine(state, 16)}</td>` +
          `<td nowrap>${age === undefined ? 'no success yet' : `${escapeHtml(formatAge(age))} ago`}</td><td width="90">${hbar(age === undefined ? 1 : age / maxAge, 90, color)}</td></tr>`
        );
      })
      .join('');
    const more = (t.heartbeats?.length ?? 0) - hbs.length;
    rest +=
      `<div style="font-size:12px;font-weight:700;color:${MUTED};letter-spacing:0.5px;margin-top:14px">HEARTBEATS · TIME SINCE LAST SUCCESS</div>` +
      `<table role="presentation" cellpadding="3" cellspacing="0" border="0" width="100%" style="margin-top:2px;font-size:12px;color:${BODY}">${rows}</table>` +
      (more > 0 ? `<div style="font-size:12px;color:${MUTED}">… and ${plural(more, 'more heartbeat')}</div>` : '');
  }
  if (cells.length === 0 && !rest) return '';
  // One chart per row: two side by side would not fit a phone's 375 px.
  const charts = cells.length ? table(` width="100%"`, cells.join('')) : '';
  return block('ob-trends', BLOCK, heading('Trends') + charts + rest);
}

// ------------------------------------------------------------------------------------ manual, links, top

function link(href: string | undefined, label: string): string {
  return href ? `<a href="${href}" style="color:#2563eb">${label}</a>` : label;
}

function manualBlock(manual: ManualItem[], caps: Caps): string {
  if (!Array.isArray(manual) || manual.length === 0) return '';
  const shown = manual.slice(0, caps.manual);
  const rows = shown
    .map((m) => {
      const meta: string[] = [];
      if (m.owner) meta.push(`owner <b>${htmlLine(m.owner, 60)}</b>`);
      if (m.lastDone) meta.push(`last done ${htmlLine(m.lastDone, 30)}`);
      if (m.link) {
        const href = safeHref(m.link);
        meta.push(href ? link(href, 'open link') : `link: ${htmlLine(m.link, 80)}`);
      }
      return (
        `<tr><td width="26" valign="top" style="font-size:18px;color:${BODY}">☐</td>` +
        `<td style="border-bottom:1px solid ${FAINT}">${htmlLine(m.text, LIMITS.manualText)}` +
        (meta.length ? `<div style="font-size:12px;line-height:16px;color:${MUTED}">${meta.join(' · ')}</div>` : '') +
        `</td></tr>`
      );
    })
    .join('');
  const rest = manual.length - shown.length;
  return block(
    'ob-manual',
    BLOCK,
    heading('Manual items', 'tick them off as you go') +
      `<table role="presentation" cellpadding="5" cellspacing="0" border="0" width="100%" style="line-height:20px">${rows}</table>` +
      (rest > 0 ? `<div style="font-size:12px;color:${MUTED}">… and ${plural(rest, 'more manual item')}</div>` : ''),
  );
}

function linksBlock(links: Record<string, string>, caps: Caps): string {
  const entries = links && typeof links === 'object' ? Object.entries(links) : [];
  if (entries.length === 0) return '';
  const shown = entries.slice(0, caps.links);
  const items = shown.map(([label, url]) => {
    const href = safeHref(url);
    return href ? link(href, htmlLine(label, 40)) : `${htmlLine(label, 40)} <span style="color:${MUTED}">(not a web link: ${htmlLine(url, 40)})</span>`;
  });
  const rest = entries.length - shown.length;
  return block('ob-links', BLOCK, heading('Dashboards') + `<div style="line-height:1.9;color:${BODY}">${items.join(' &nbsp;·&nbsp; ')}${rest > 0 ? ` · … and ${formatNumber(rest)} more` : ''}</div>`);
}

function headerBlock(model: ReportModel): string {
  const meta = [
    `period <b style="color:#ffffff">${htmlLine(model.period, 40)}</b>`,
    htmlLine(model.checklist.schedule, 120),
    `generated ${htmlLine(model.generatedAt, 40)}`,
    model.runId ? `run #${htmlLine(model.runId, 20)}` : '',
  ].filter(Boolean);
  return (
    `<tr><td bgcolor="${INK}" style="padding:18px 24px;border-radius:8px 8px 0 0;font-family:${FONT};${WRAP}">` +
    `<div style="font-size:12px;font-weight:700;letter-spacing:1px;color:#9ca3af">OPSBOOK · ${htmlLine(model.service, 60)}</div>` +
    `<div style="font-size:21px;line-height:28px;font-weight:700;color:#ffffff;margin-top:2px">${htmlLine(model.checklist.title, 120)}</div>` +
    `<div style="font-size:12px;line-height:18px;color:#d1d5db;margin-top:4px">${meta.join(' &nbsp;·&nbsp; ')}</div></td></tr>`
  );
}

function bannerBlock(model: ReportModel, caps: Caps): string {
  const banner = (bg: string, border: string, color: string, html: string) =>
    `<tr><td bgcolor="${bg}" style="padding:9px 24px;border-bottom:1px solid ${border};font-family:${FONT};font-size:13px;line-height:1.45;color:${color};${WRAP}">${html}</td></tr>`;
  let out = model.dryRun ? banner('#ede9fe', '#ddd6fe', '#5b21b6', '<b>Dry run:</b> nothing was stored or sent.') : '';
  for (const note of Array.isArray(model.notes) ? model.notes.slice(0, caps.notes) : []) {
    out += banner('#fffbeb', '#fde68a', '#92400e', `<b>Note:</b> ${htmlLine(note, LIMITS.note)}`);
  }
  return out;
}

function preheader(plan: Plan, subject: string): string {
  const first = plan.failing[0] ?? plan.warnings[0];
  const text = truncate(`${subject.replace(/^.*?\[Opsbook\]\s*/, '')}${first ? ` — ${line(first.item.id, LIMITS.id)}: ${line(first.item.summary, 140)}` : ''}`, 140);
  return `<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;font-size:1px;line-height:1px;color:${PAGE_BG};opacity:0">${escapeHtml(text)}</div>`;
}

function footerBlock(model: ReportModel): string {
  return block(
    '',
    `padding:20px 24px;font-family:${FONT};font-size:11px;line-height:1.5;color:#9ca3af;${WRAP}`,
    `Sent by Opsbook for ${htmlLine(model.service, 60)} · checklist ${htmlLine(model.checklist.id, 40)}${model.runId ? ` · run #${htmlLine(model.runId, 20)}` : ''}.` +
      ` The plain-text part of this email has the same report, with every failing item.`,
  );
}

// ---------------------------------------------------------------------------------------------- compose

/** Outlook does not inherit fonts into nested tables: an Outlook-only enhancement, not a dependency. */
const MSO_STYLE =
  `<!--[if mso]><style>td,div,span,b,a{font-family:'Segoe UI',Arial,sans-serif}code,pre{font-family:Consolas,monospace}` +
  `.b{font-size:0;line-height:0;mso-line-height-rule:exactly}</style><![endif]-->`;

function page(subject: string, pre: string, rows: string): string {
  return (
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<meta name="x-apple-disable-message-reformatting"><meta name="color-scheme" content="light"><meta name="supported-color-schemes" content="light">` +
    `<title>${escapeHtml(subject)}</title>${MSO_STYLE}</head>` +
    `<body bgcolor="${PAGE_BG}" style="margin:0;padding:0;background:${PAGE_BG}">${pre}` +
    table(
      ` width="100%" bgcolor="${PAGE_BG}"`,
      `<tr><td align="center" style="padding:16px 8px">` +
        table(` id="ob-report" width="640" bgcolor="#ffffff" style="width:100%;max-width:640px;border:1px solid ${RULE};border-radius:8px"`, rows) +
        `</td></tr>`,
    ) +
    `</body></html>`
  );
}

function compose(model: ReportModel, plan: Plan, subject: string, target: number, caps: Caps): { html: string; everyFailingShown: boolean } {
  const pre = preheader(plan, subject);
  const top = headerBlock(model) + bannerBlock(model, caps);
  const bottom = trendsBlock(model, caps) + manualBlock(model.manual, caps) + linksBlock(model.links, caps) + footerBlock(model);
  const fixed = bytes(page(subject, pre, top + bottom)) + bytes(summaryBlock(model, plan, '', caps));
  const shells = plan.sections.reduce((n, s, i) => n + sectionShellBytes(s, i + 1), 0);
  const room = Math.max(0, target - fixed - shells);

  // The summary's failing and warning items, with their fixes, come first: up to three fifths of
  // the bytes (a fifth of it for naming by id what does not fit); the sections' lines get the rest.
  const idBytes = Math.max(6_000, Math.floor(room * 0.15));
  const levels = chooseAttention(plan, Math.max(0, Math.floor(room * 0.6) - idBytes));
  const attention =
    attentionList('FAILING', TONES.fail.fg, plan.failingGroups, levels, idBytes, 'failing (every one is in the plain-text part)') +
    attentionList('WARNINGS', TONES.warn.fg, plan.warningGroups, levels, Math.floor(idBytes / 3), 'warnings (in the plain-text part)');
  const shown = chooseLines(plan, Math.max(0, room - bytes(attention)));
  const sections = plan.sections.map((s, i) => renderSection(s, i + 1, shown)).join('');
  return {
    html: page(subject, pre, top + summaryBlock(model, plan, attention, caps) + sections + bottom),
    everyFailingShown: plan.failingGroups.every((g) => levels.get(g) === 'full' || levels.get(g) === 'compact'),
  };
}

/** The HTML part, under HTML_LIMIT_BYTES whatever the model holds. */
export function renderHtml(model: ReportModel, plan: Plan, subject: string): string {
  let target = HTML_TARGET_BYTES;
  let caps = CAPS;
  let out = compose(model, plan, subject, target, caps);
  // Failing items' fixes (hint, action) come before the long tail of notes, manual items and heartbeats.
  if (!out.everyFailingShown || bytes(out.html) >= HTML_LIMIT_BYTES) {
    caps = TIGHT;
    out = compose(model, plan, subject, target, caps);
  }
  for (let attempt = 0; attempt < 4 && bytes(out.html) >= HTML_LIMIT_BYTES; attempt++) {
    target -= bytes(out.html) - HTML_LIMIT_BYTES + 4_000;
    out = compose(model, plan, subject, target, caps);
  }
  return out.html;
}
