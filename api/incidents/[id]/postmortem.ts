import { requireRole } from '../../../lib/auth.js';
import { getDeps } from '../../../lib/deps.js';
import { parseQuery } from '../../../lib/diagnostics/query.js';
import { route } from '../../../lib/http.js';
import { renderPostmortem } from '../../../lib/incidents/postmortem.js';
import { incidentByIdQuery } from '../../../lib/incidents/query.js';
import { incidentById } from '../../../lib/incidents/read.js';
import { resolverFor } from '../../../lib/tokens.js';

/** GET /api/incidents/<id>/postmortem — the post-mortem draft as Markdown (read role). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'read');
  const url = new URL(request.url);
  if (!url.searchParams.has('id')) url.searchParams.set('id', decodeURIComponent(url.pathname.replace(/\/+$/, '').split('/').at(-2) ?? ''));
  const query = parseQuery(incidentByIdQuery, url);
  const incident = await incidentById(deps.db, query.id);
  return new Response(renderPostmortem(incident), {
    headers: {
      'content-type': 'text/markdown; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': requestId,
      'content-disposition': `inline; filename="incident-${incident.id}-${incident.openedAt.slice(0, 10)}.md"`,
    },
  });
});
