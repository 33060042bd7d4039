import type { Db } from './db/index.js';
import { messageOf } from './errors.js';
import { redactSecrets } from './env.js';
import type { RedisClient } from './redis/index.js';
import { elapsedMs, withTimeout } from './timeout.js';
import { missedRunsStatement, type MissedRun, type ScheduledChecklist } from './checklists/missed.js';
import { MAINTENANCE_KEY, maintenanceState, type MaintenanceState } from './flags-reader.js';

export type Dependency = 'database' | 'redis';
export type CheckState = 'healthy' | 'degraded' | 'unhealthy';
/** Checklists: `degraded` when a scheduled run was missed, `unknown` when the database cannot say. */
export type ChecklistsState = 'healthy' | 'degraded' | 'unknown';
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
  checks: Record<Dependency, CheckState> & { checklists?: ChecklistsState };
  /** Only shown to an authenticated caller: latencies, error messages, missed runs. */
  details: Record<Dependency, CheckDetail> & { checklists?: { missed: MissedRun[]; error?: string } };
  /** Set while maintenance mode is on (POST /api/admin/maintenance). */
  maintenance?: MaintenanceState;
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
export async function runHealth(
  deps: { db: Db; redis: RedisClient },
  opts: HealthOptions,
  now: Date,
  config: { checklists: ScheduledChecklist[] } = { checklists: [] },
): Promise<HealthResult> {
  const budget = Math.max(1, opts.budgetMs - RESPONSE_MARGIN_MS);
  const [database, redis, extras] = await Promise.all([
    probe(deps.db.driver, budget, 'database SELECT 1', () => deps.db.query('SELECT 1')),
    probe(deps.redis.driver, budget, 'redis PING', () => deps.redis.command(['PING'])),
    opsbookState(deps.db, config, now, budget),
  ]);
  const checklists = config.checklists.length ? extras.checklists : undefined;
  if (redis.status === 'healthy' && !deps.redis.shared && opts.production) {
    redis.status = 'degraded';
    redis.error = 'in-memory fallback: its state is not shared between instances';
  }
  const details: HealthResult['details'] = { database, redis };
  let status: OverallStatus = 'healthy';
  for (const dep of ['database', 'redis'] as const) {
    const state = details[dep].status;
    if (state === 'unhealthy' && opts.critical.includes(dep)) status = 'unhealthy';
    else if (state !== 'healthy' && status === 'healthy') status = 'degraded';
  }
  const checks: HealthResult['checks'] = { database: database.status, redis: redis.status };
  if (checklists) {
    checks.checklists = checklists.state;
    details.checklists = { missed: checklists.missed, ...(checklists.error ? { error: checklists.error } : {}) };
    if (checklists.state === 'degraded' && status === 'healthy') status = 'degraded';
  }
  return {
    status,
    timestamp: now.toISOString(),
    checks,
    details,
    ...(extras.maintenance ? { maintenance: extras.maintenance } : {}),
    httpStatus: status === 'unhealthy' ? 503 : 200,
  };
}

/**
 * Opsbook's own state for the health answer, in one read-only request beside `SELECT 1`: missed
 * checklist runs (a missed run degrades health: the morning report did not happen and nobody was told)
 * and maintenance mode.
 */
async function opsbookState(
  db: Db,
  config: { checklists: ScheduledChecklist[] },
  now: Date,
  budgetMs: number,
): Promise<{ checklists: { state: ChecklistsState; missed: MissedRun[]; error?: string }; maintenance?: MaintenanceState }> {
  const missed = missedRunsStatement(config, now);
  try {
    const [runs, settings] = await withTimeout(
      db.batch([missed.statement, { text: 'SELECT value FROM opsbook.settings WHERE key = $1', params: [MAINTENANCE_KEY] }]),
      budgetMs,
      'opsbook state',
    );
    const list = missed.evaluate(runs!.rows);
    const maintenance = maintenanceState(settings!.rows[0]?.value, now.getTime());
    return { checklists: { state: list.length ? 'degraded' : 'healthy', missed: list }, ...(maintenance.enabled ? { maintenance } : {}) };
  } catch (err) {
    // No opsbook schema yet means no checklist has ever run and maintenance was never set.
    if ((err as { code?: string }).code === '42P01') return { checklists: { state: 'healthy', missed: [] } };
    return { checklists: { state: 'unknown', missed: [], error: redactSecrets(messageOf(err)) } };
  }
}

/** The body: the runbook's shape for everyone, plus details for an authenticated caller. */
export function healthBody(result: HealthResult, withDetails: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { status: result.status, timestamp: result.timestamp, checks: result.checks };
  // The maintenance message is written for the app's users: everyone may see it.
  if (result.maintenance) body.maintenance = result.maintenance;
  if (withDetails) body.details = result.details;
  return body;
}
