import rawConfig from '../opsbook.config.js';
import { identify } from '../lib/auth.js';
import { scheduledChecklists } from '../lib/config/health-view.js';
import { getDeps } from '../lib/deps.js';
import { healthBody, runHealth } from '../lib/health.js';
import { headOf, json, route } from '../lib/http.js';
import { raiseMissedAfterHealth } from '../lib/alerts/missed.js';
import { withTimeout } from '../lib/timeout.js';
import { resolverFor } from '../lib/tokens.js';

const checklists = scheduledChecklists(rawConfig);

/** GET /api/health — public, fast, honest. A valid token adds latencies, error messages and missed runs. */
export const GET = route(async (request, requestId, context) => {
  const deps = await getDeps();
  const { env } = deps;
  const [result, caller] = await Promise.all([
    runHealth(deps, { budgetMs: env.HEALTH_BUDGET_MS, critical: env.HEALTH_CRITICAL, production: env.VERCEL_ENV === 'production' }, new Date(), { checklists }),
    // A stored token is looked up in the database: if that is down or slow, the caller simply gets the
    // public answer, within the health budget — health never fails because of who asks.
    withTimeout(identify(request, resolverFor(deps)), env.HEALTH_BUDGET_MS, 'token lookup').catch(() => undefined),
  ]);
  const detailed = caller !== undefined && caller.role !== 'heartbeat';
  const response = json(healthBody(result, detailed), { status: result.httpStatus, requestId });
  await raiseMissedAfterHealth(deps, result, { checklists }, context);
  return response;
});

export const HEAD = headOf(GET);
