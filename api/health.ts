import rawConfig from '../opsbook.config.js';
import { identify } from '../lib/auth.js';
import { scheduledChecklists } from '../lib/config/health-view.js';
import { getDeps } from '../lib/deps.js';
import { healthBody, runHealth } from '../lib/health.js';
import { afterResponse, headOf, json, route } from '../lib/http.js';
import { raiseMissedRuns } from '../lib/alerts/missed.js';
import { redactSecrets } from '../lib/env.js';
import { messageOf } from '../lib/errors.js';
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
  // A missed checklist run is an alert: raised once (claimed in Postgres) after the answer is built.
  if (result.details.checklists?.missed.length) {
    await afterResponse(context, () => raiseMissedRuns(deps, { checklists }, new Date(), 'health'), (err) => deps.log('warn', `missed-run alert not raised: ${redactSecrets(messageOf(err))}`));
  }
  return response;
});

export const HEAD = headOf(GET);
