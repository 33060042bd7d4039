import { identify } from '../lib/auth.js';
import { configState } from '../lib/config/index.js';
import { getDeps } from '../lib/deps.js';
import { healthBody, misconfiguredBody, runHealth } from '../lib/health.js';
import { headOf, json, route } from '../lib/http.js';
import { raiseMissedAfterHealth } from '../lib/alerts/missed.js';
import { withTimeout } from '../lib/timeout.js';
import { resolverFor } from '../lib/tokens.js';

/** GET /api/health — public, fast, honest. A valid token adds latencies, error messages and missed runs. */
export const GET = route(async (request, requestId, context) => {
  const deps = await getDeps();
  const { env } = deps;
  const now = new Date();
  const opts = { budgetMs: env.HEALTH_BUDGET_MS, critical: env.HEALTH_CRITICAL, production: env.VERCEL_ENV === 'production' };
  const [checked, caller] = await Promise.all([
    // The config is validated once per instance (then this is a resolved promise): an invalid one is
    // 503 "misconfigured" whatever the dependencies say, because nothing scheduled would run.
    configState().then(async (config) => {
      if (!config.ok) return { kind: 'misconfigured' as const, problems: config.problems };
      const checklists = config.config.checklists;
      const { service, notifications } = config.config;
      return { kind: 'checked' as const, checklists, service, notifications, result: await runHealth(deps, opts, now, { checklists }) };
    }),
    // A stored token is looked up in the database: if that is down or slow, the caller simply gets the
    // public answer, within the health budget — health never fails because of who asks.
    withTimeout(identify(request, resolverFor(deps)), env.HEALTH_BUDGET_MS, 'token lookup').catch(() => undefined),
  ]);
  if (checked.kind === 'misconfigured') return json(misconfiguredBody(checked.problems, caller?.role === 'admin', now), { status: 503, requestId });
  const { result, checklists, service, notifications } = checked;
  const detailed = caller !== undefined && caller.role !== 'heartbeat';
  const response = json(healthBody(result, detailed), { status: result.httpStatus, requestId });
  await raiseMissedAfterHealth(deps, result, { checklists, service, notifications }, context);
  return response;
});

export const HEAD = headOf(GET);
