import { requireRole } from '../../lib/auth.js';
import { getDeps } from '../../lib/deps.js';
import { parseQuery } from '../../lib/diagnostics/query.js';
import { json, route } from '../../lib/http.js';
import { incidentListQuery } from '../../lib/incidents/query.js';
import { listIncidents } from '../../lib/incidents/read.js';
import { resolverFor } from '../../lib/tokens.js';

/** GET /api/incidents?state=open&since=…&until=…&limit=…&cursor=… — incidents, newest first (read role). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'read');
  const query = parseQuery(incidentListQuery, new URL(request.url));
  return json({ ...(await listIncidents(deps.db, query)), requestId }, { requestId });
});
