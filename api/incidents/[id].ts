import { requireRole } from '../../lib/auth.js';
import { getDeps } from '../../lib/deps.js';
import { parseQuery } from '../../lib/diagnostics/query.js';
import { json, route } from '../../lib/http.js';
import { incidentByIdQuery } from '../../lib/incidents/query.js';
import { incidentById } from '../../lib/incidents/read.js';
import { resolverFor } from '../../lib/tokens.js';

/** GET /api/incidents/<id> — one incident with its results, audited actions and notifications (read role). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'read');
  const url = new URL(request.url);
  if (!url.searchParams.has('id')) url.searchParams.set('id', decodeURIComponent(url.pathname.replace(/\/+$/, '').split('/').pop() ?? ''));
  const query = parseQuery(incidentByIdQuery, url);
  return json({ incident: await incidentById(deps.db, query.id), requestId }, { requestId });
});
