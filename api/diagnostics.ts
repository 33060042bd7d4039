import { requireRole } from '../lib/auth.js';
import { getConfig } from '../lib/config/index.js';
import { getDeps } from '../lib/deps.js';
import { diagnosticsQuery, parseQuery } from '../lib/diagnostics/query.js';
import { diagnosticsToText, playbookToText } from '../lib/diagnostics/text.js';
import { runPlaybook } from '../lib/diagnostics/playbook-run.js';
import { authorizeRawQueryText } from '../lib/diagnostics/raw-text.js';
import { runDiagnostics } from '../lib/diagnostics/run.js';
import { json, route } from '../lib/http.js';
import { resolverFor } from '../lib/tokens.js';

/** GET /api/diagnostics[?only=ids&target=name&format=text&playbook=name&snapshot=1&queryText=raw] — read role (raw text: admin, audited). */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  const actor = await requireRole(request, resolverFor(deps), 'read');
  const query = parseQuery(diagnosticsQuery, new URL(request.url));
  const [config, now] = [await getConfig(), new Date()];
  if (query.queryText === 'raw') await authorizeRawQueryText(deps, config, actor, request, requestId, query, now);
  const options = { only: query.only, target: query.target, snapshot: query.snapshot, queryText: query.queryText };
  const body = query.playbook
    ? await runPlaybook(deps, config, query.playbook, options, now)
    : await runDiagnostics(deps, config, options, now);
  if (query.format === 'text') {
    const text = 'steps' in body ? playbookToText(body) : diagnosticsToText(body, `${config.service} diagnostics`);
    return new Response(text, { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-request-id': requestId } });
  }
  return json(body, { requestId });
});
