import type { Db } from './db/index.js';
import { messageOf } from './errors.js';
import { redactSecrets } from './env.js';
import type { RedisClient } from './redis/index.js';
import { elapsedMs, withTimeout } from './timeout.js';

export type Dependency = 'database' | 'redis';
export type CheckState = 'healthy' | 'degraded' | 'unhealthy';
export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface HealthOptions {
  /** Total time the health answer may take, ms. @default 2000 */
  budgetMs: number;
  /** Dependencies whose failure makes the service unhealthy (HTTP 503). @default ["database"] */
  critical: Dependency[];
  /** In production the in-memory Redis fallback is `degraded`: instances do not share it. */
  production: boolean;
}

export interface CheckDetail {
  status: CheckState;
  latencyMs: number;
  driver: string;
  error?: string;
}

export interface HealthResult {
  status: OverallStatus;
  timestamp: string;
  checks: Record<Dependency, CheckState>;
  /** Only shown to an authenticated caller: latencies and error messages. */
  details: Record<Dependency, CheckDetail>;
  httpStatus: 200 | 503;
}

/** Leave a little of the budget for building the response, so the answer is within budget. */
const RESPONSE_MARGIN_MS = 25;

async function probe(driver: string, budgetMs: number, label: string, call: () => Promise<unknown>): Promise<CheckDetail> {
  const start = performance.now();
  try {
    await withTimeout(call, budgetMs, label);
    return { status: 'healthy', latencyMs: elapsedMs(start), driver };
  } catch (err) {
    return { status: 'unhealthy', latencyMs: elapsedMs(start), driver, error: redactSecrets(messageOf(err)) };
  }
}

/**
 * `SELECT 1` and `PING`, in parallel, each bounded by the budget; the answer never waits longer than
 * the slower of the two, and never longer than the budget.
 */
export async function runHealth(deps: { db: Db; redis: RedisClient }, opts: HealthOptions, now: Date): Promise<HealthResult> {
  const budget = Math.max(1, opts.budgetMs - RESPONSE_MARGIN_MS);
  const [database, redis] = await Promise.all([
    probe(deps.db.driver, budget, 'database SELECT 1', () => deps.db.query('SELECT 1')),
    probe(deps.redis.driver, budget, 'redis PING', () => deps.redis.command(['PING'])),
  ]);
  if (redis.status === 'healthy' && !deps.redis.shared && opts.production) {
    redis.status = 'degraded';
    redis.error = 'in-memory fallback: its state is not shared between instances';
  }
  const details: Record<Dependency, CheckDetail> = { database, redis };
  let status: OverallStatus = 'healthy';
  for (const dep of ['database', 'redis'] as const) {
    const state = details[dep].status;
    if (state === 'unhealthy' && opts.critical.includes(dep)) status = 'unhealthy';
    else if (state !== 'healthy' && status === 'healthy') status = 'degraded';
  }
  return {
    status,
    timestamp: now.toISOString(),
    checks: { database: database.status, redis: redis.status },
    details,
    httpStatus: status === 'unhealthy' ? 503 : 200,
  };
}

/** The body: the runbook's shape for everyone, plus details for an authenticated caller. */
export function healthBody(result: HealthResult, withDetails: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { status: result.status, timestamp: result.timestamp, checks: result.checks };
  if (withDetails) body.details = result.details;
  return body;
}
