import { requireRole } from '../../lib/auth.js';
import { getConfig } from '../../lib/config/index.js';
import { getDeps } from '../../lib/deps.js';
import { handlePing } from '../../lib/heartbeats.js';
import { json, route } from '../../lib/http.js';
import { resolverFor } from '../../lib/tokens.js';

/**
 * GET|POST /api/heartbeats/<name> — a scheduled job reports success (Healthchecks.io style), e.g.
 * `curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $TOKEN" https://…/api/heartbeats/db-backup`.
 * Needs a token with the heartbeat role; the body (first 10 KB) is stored, never logged.
 */
const ping = route(async (request, requestId) => {
  const deps = await getDeps();
  await requireRole(request, resolverFor(deps), 'heartbeat');
  const receipt = await handlePing(request, deps, await getConfig(), new Date());
  return json(receipt, { requestId });
});

export const GET = ping;
export const POST = ping;
