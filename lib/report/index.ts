import type { RenderedReport, ReportModel } from './model.js';
import { renderHtml } from './html.js';
import { buildPlan } from './plan.js';
import { renderSubject } from './subject.js';
import { renderText } from './text.js';

export type { ReportItem, ReportModel, RenderedReport, ManualItem, MetricTrend, TrendPoint } from './model.js';
export { escapeHtml } from './escape.js';
export { HTML_LIMIT_BYTES } from './html.js';

/**
 * The checklist report: subject, HTML and plain text, all from one plan so they agree. Pure and
 * deterministic: the same model renders the same bytes (no clock, no locale, no I/O).
 */
export function renderReport(model: ReportModel): RenderedReport {
  const plan = buildPlan(model);
  const subject = renderSubject(model);
  return { subject, html: renderHtml(model, plan, subject), text: renderText(model, plan, subject) };
}
