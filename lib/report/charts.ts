import type { MetricTrend, ReportModel, TrendPoint } from './model.js';
import { escapeHtml, htmlLine } from './escape.js';
import { formatChange, formatWithUnit } from './format.js';

/**
 * Bars that survive email clients: no SVG, no canvas, no images (Outlook drops SVG; images are remote
 * or attachments). A bar is a table cell with a fixed height and a background colour, bottom-aligned in
 * a row of fixed height; every client that renders tables renders these.
 */

export const MAX_BARS = 30;
/**
 * A cell that only shows its background: empty, with a height attribute. Outlook would give an
 * empty cell a line's height; the report's Outlook-only style sets `.b` cells to font-size 0.
 */
const BAR = 'class="b"';

export interface BarOptions {
  /** Chart height in px. */
  height: number;
  /** Width of the whole chart in px (the bars share it). */
  width: number;
  color: string;
  /** Colour of the latest bar, to show where "today" is. */
  latestColor?: string;
  /** Colour for zero values (drawn as a 1 px baseline). */
  zeroColor?: string;
  /** Scale from 0 (counts) or from the minimum (sizes, where the change matters). */
  zeroBased: boolean;
  format: (n: number) => string;
  /** A hover title ("2025-03-10: 4.1 GB") on each bar. */
  titles: boolean;
}

/** Last points only, finite values only. */
export function lastPoints(points: TrendPoint[] | undefined, n = MAX_BARS): TrendPoint[] {
  return (points ?? []).filter((p) => p && Number.isFinite(p.value)).slice(-n);
}

export function barHeights(values: number[], height: number, zeroBased: boolean): number[] {
  if (values.length === 0) return [];
  const max = Math.max(...values);
  const min = zeroBased ? 0 : Math.min(...values);
  const span = max - min;
  return values.map((v) => {
    if (v <= 0 && zeroBased) return 1;
    if (span <= 0) return Math.round(height * 0.6);
    // Size charts start a little below the minimum so the smallest bar is still a bar.
    const lo = zeroBased ? 0 : 0.15;
    return Math.max(2, Math.round(height * (lo + (1 - lo) * ((v - min) / span))));
  });
}

/** A row of bottom-aligned bar cells with the first and last date below. */
export function barChart(points: TrendPoint[], o: BarOptions): string {
  const pts = lastPoints(points);
  if (pts.length === 0) return '';
  const heights = barHeights(
    pts.map((p) => p.value),
    o.height,
    o.zeroBased,
  );
  const cellWidth = Math.max(3, Math.floor(o.width / Math.max(pts.length, 10)));
  const bars = pts
    .map((p, i) => {
      const h = heights[i]!;
      const last = i === pts.length - 1;
      const color = p.value <= 0 && o.zeroColor ? o.zeroColor : last && o.latestColor ? o.latestColor : o.color;
      const title = o.titles ? ` title="${htmlLine(p.date, 20)}: ${escapeHtml(o.format(p.value))}"` : '';
      return (
        `<td valign="bottom"${title}><table cellpadding="0" cellspacing="0" width="${cellWidth - 2}"><tr><td height="${h}" bgcolor="${color}" ${BAR}></td></tr></table></td>`
      );
    })
    .join('');
  const first = pts[0]!;
  const latest = pts[pts.length - 1]!;
  const chartWidth = cellWidth * pts.length;
  return (
    // Hidden from screen readers: the text next to the chart says the same in words.
    `<table role="presentation" aria-hidden="true" cellpadding="0" cellspacing="0" border="0" width="${chartWidth}">` +
    `<tr><td height="${o.height}" width="1" ${BAR}></td>${bars}</tr>` +
    `</table>` +
    // The dates sit under the bars on one line each, never wrapped (a chart of one day is 27 px wide).
    `<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="${Math.max(chartWidth, 160)}" style="border-top:1px solid #d1d5db;font-size:11px;color:#6b7280"><tr>` +
    (pts.length === 1
      ? `<td nowrap style="white-space:nowrap">${htmlLine(first.date, 20)}</td>`
      : `<td nowrap style="white-space:nowrap">${htmlLine(first.date, 20)}</td><td align="right" nowrap style="white-space:nowrap">${htmlLine(latest.date, 20)}</td>`) +
    `</tr></table>`
  );
}

/** A horizontal bar: `fraction` of `width` px filled. */
export function hbar(fraction: number, width: number, color: string, track = '#eef0f3'): string {
  const f = Number.isFinite(fraction) ? Math.min(1, Math.max(0, fraction)) : 0;
  const filled = Math.max(2, Math.round(width * f));
  const rest = width - filled;
  return (
    `<table role="presentation" aria-hidden="true" cellpadding="0" cellspacing="0" border="0" width="${width}"><tr>` +
    `<td width="${filled}" height="8" bgcolor="${color}" ${BAR}></td>` +
    (rest > 0 ? `<td width="${rest}" bgcolor="${track}" ${BAR}></td>` : '') +
    `</tr></table>`
  );
}

/** The pushed and SQL metrics that have points to show, in the model's order. */
export function metricsWithPoints(trends: ReportModel['trends']): MetricTrend[] {
  return Array.isArray(trends.metrics) ? trends.metrics.filter((m) => m && lastPoints(m.points).length) : [];
}

/**
 * One metric's trend as the HTML and the text part both show it: its last points, the first and last, the
 * change between them, its range, and a formatter in its unit. One rule, so the two parts never disagree.
 */
export function metricSeries(m: MetricTrend) {
  const points = lastPoints(m.points);
  const first = points[0]!;
  const last = points[points.length - 1]!;
  const values = points.map((p) => p.value);
  return {
    points,
    first,
    last,
    fmt: (n: number) => formatWithUnit(n, m.unit),
    change: points.length > 1 ? formatChange(first.value, last.value) : undefined,
    min: Math.min(...values),
    max: Math.max(...values),
  };
}
