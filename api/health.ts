import { maintenanceForHealth } from '../lib/actions/maintenance-mode.js';
import { identify } from '../lib/auth.js';
import { getConfig } from '../lib/config/index.js';
import { getDeps } from '../lib/deps.js';
import { healthBody, runHealth } from '../lib/health.js';
import { headOf, json, route } from '../lib/http.js';
import { withTimeout } from '../lib/timeout.js';
import { resolverFor } from '../lib/tokens.js';

/** GET /api/health — public, fast, honest. An admin token adds latencies and error messages. */
export const GET = route(async (request, requestId) => {
  const deps = await getDeps();
  const { env } = deps;
  const now = new Date();
  const [result, caller, maintenance] = await Promise.all([
    runHealth(
      deps,
      { budgetMs: env.HEALTH_BUDGET_MS, critical: env.HEALTH_CRITICAL, production: env.VERCEL_ENV === 'production' },
      now,
      await getConfig(),
    ),
    // A stored token is looked up in the database: if that is down or slow, the caller simply gets the
    // public answer, within the health budget — health never fails because of who asks.
    withTimeout(identify(request, resolverFor(deps)), env.HEALTH_BUDGET_MS, 'token lookup').catch(() => undefined),
    // Maintenance mode (POST /api/admin/maintenance), in parallel and within the same budget; only when on.
    maintenanceForHealth(deps.db, now, env.HEALTH_BUDGET_MS - 50),
  ]);
  const detailed = caller !== undefined && caller.role !== 'heartbeat';
  const body = healthBody(result, detailed);
  if (maintenance) body.maintenance = maintenance;
  return json(body, { status: result.httpStatus, requestId });
});

export const HEAD = headOf(GET);
