import { identify } from '../lib/auth.js';
import { getConfig } from '../lib/config/index.js';
import { getDeps } from '../lib/deps.js';
import { healthBody, runHealth } from '../lib/health.js';
import { headOf, json, route } from '../lib/http.js';
import { resolverFor } from '../lib/tokens.js';

/** GET /api/health — public, fast, honest. An admin token adds latencies and error messages. */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  const { env } = deps;
  const [result, caller] = await Promise.all([
    runHealth(
      deps,
      { budgetMs: env.HEALTH_BUDGET_MS, critical: env.HEALTH_CRITICAL, production: env.VERCEL_ENV === 'production' },
      new Date(),
      await getConfig(),
    ),
    identify(request, resolverFor(deps)),
  ]);
  const detailed = caller !== undefined && caller.role !== 'heartbeat';
  return json(healthBody(result, detailed), { status: result.httpStatus, requestId });
});

export const HEAD = headOf(GET);
