import { requireRole } from '../../lib/auth.js';
import { latestReportQuery } from '../../lib/checklists/report-query.js';
import { latestReport, reportResponse } from '../../lib/checklists/reports.js';
import { getDeps } from '../../lib/deps.js';
import { parseQuery } from '../../lib/diagnostics/query.js';
import { route } from '../../lib/http.js';
import { resolverFor } from '../../lib/tokens.js';

/** GET /api/reports/latest?checklist=daily — the latest stored report as HTML (read role). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'read');
  const query = parseQuery(latestReportQuery, new URL(request.url));
  return reportResponse(await latestReport(deps.db, query.checklist), query.format, requestId);
});
