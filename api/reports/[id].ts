import { requireRole } from '../../lib/auth.js';
import { reportByIdQuery } from '../../lib/checklists/report-query.js';
import { reportById, reportResponse } from '../../lib/checklists/reports.js';
import { getDeps } from '../../lib/deps.js';
import { parseQuery } from '../../lib/diagnostics/query.js';
import { route } from '../../lib/http.js';
import { resolverFor } from '../../lib/tokens.js';

/** GET /api/reports/<id> — one stored report as HTML (read role). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'read');
  const url = new URL(request.url);
  if (!url.searchParams.has('id')) url.searchParams.set('id', decodeURIComponent(url.pathname.split('/').pop() ?? ''));
  const query = parseQuery(reportByIdQuery, url);
  return reportResponse(await reportById(deps.db, query.id), query.format, requestId);
});
