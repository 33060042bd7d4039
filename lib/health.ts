import type { Db, QueryResult, Statement } from './db/index.js';
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
  const [{ database, extras }, redis] = await Promise.all([
    databaseAndState(deps.db, config, now, budget),
    probe(deps.redis.driver, budget, 'redis PING', () => sharedPing(deps.redis)),
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

type OpsbookState = { checklists: { state: ChecklistsState; missed: MissedRun[]; error?: string }; maintenance?: MaintenanceState };

/** Databases known to hold Opsbook's schema: there the probe and the state read travel as one request. */
const schemaSeen = new WeakSet<Db>();

/**
 * Health probes in flight, per client, by what they ask. Concurrent health requests on one instance share
 * one round trip instead of queuing on health's single connection: 200 at once on the local runner queued
 * past the budget and answered "database unhealthy" for a Postgres that was fine (and over Upstash REST
 * each PING was an HTTP request of its own). Sharing is exact (the same statements and parameters, asked
 * while the same answer is on its way); each caller still waits only within its own budget.
 */
const inflight = new WeakMap<object, Map<string, Promise<unknown>>>();

function shared<T>(client: object, key: string, ask: () => Promise<T>): Promise<T> {
  let byKey = inflight.get(client);
  if (!byKey) inflight.set(client, (byKey = new Map()));
  let p = byKey.get(key) as Promise<T> | undefined;
  if (!p) {
    p = ask().finally(() => byKey.delete(key));
    byKey.set(key, p);
  }
  return p;
}

const sharedPing = (redis: RedisClient) => shared(redis, 'PING', () => redis.command(['PING']));
const sharedProbe = (db: Db, statements: Statement[]) => shared(db, JSON.stringify(statements), () => db.batch(statements, { lane: 'health' }));

function stateStatements(config: { checklists: ScheduledChecklist[] }, now: Date) {
  const missed = missedRunsStatement(config, now);
  return {
    statements: [missed.statement, { text: 'SELECT value FROM opsbook.settings WHERE key = $1', params: [MAINTENANCE_KEY] }],
    evaluate(runs: QueryResult, settings: QueryResult): OpsbookState {
      const list = missed.evaluate(runs.rows);
      const maintenance = maintenanceState(settings.rows[0]?.value, now.getTime());
      return { checklists: { state: list.length ? 'degraded' : 'healthy', missed: list }, ...(maintenance.enabled ? { maintenance } : {}) };
    },
  };
}

/**
 * `SELECT 1`, and Opsbook's own state for the answer: missed checklist runs (a missed run degrades
 * health: the morning report did not happen and nobody was told) and maintenance mode. On a database
 * known to hold Opsbook's schema they are one read-only batch, so health costs one round trip to
 * Postgres; otherwise (a fresh install, the first call of an instance) two requests in parallel.
 */
async function databaseAndState(
  db: Db,
  config: { checklists: ScheduledChecklist[] },
  now: Date,
  budgetMs: number,
): Promise<{ database: CheckDetail; extras: OpsbookState }> {
  const state = stateStatements(config, now);
  if (schemaSeen.has(db)) {
    const start = performance.now();
    try {
      const [, runs, settings] = await withTimeout(sharedProbe(db, [{ text: 'SELECT 1' }, ...state.statements]), budgetMs, 'database SELECT 1');
      return { database: { status: 'healthy', latencyMs: elapsedMs(start), driver: db.driver }, extras: state.evaluate(runs!, settings!) };
    } catch (err) {
      const code = (err as { code?: string }).code;
      // A query-level error (class 42: the schema was dropped, a privilege revoked) says nothing about the
      // database being up: ask again the long way. Anything else is the database failing the probe.
      if (typeof code !== 'string' || !code.startsWith('42')) {
        const error = redactSecrets(messageOf(err));
        return { database: { status: 'unhealthy', latencyMs: elapsedMs(start), driver: db.driver, error }, extras: { checklists: { state: 'unknown', missed: [], error } } };
      }
      schemaSeen.delete(db);
    }
  }
  const [database, extras] = await Promise.all([
    probe(db.driver, budgetMs, 'database SELECT 1', () => sharedProbe(db, [{ text: 'SELECT 1' }])),
    (async (): Promise<OpsbookState> => {
      try {
        const [runs, settings] = await withTimeout(sharedProbe(db, state.statements), budgetMs, 'opsbook state');
        schemaSeen.add(db);
        return state.evaluate(runs!, settings!);
      } catch (err) {
        // No opsbook schema yet means no checklist has ever run and maintenance was never set.
        if ((err as { code?: string }).code === '42P01') return { checklists: { state: 'healthy', missed: [] } };
        return { checklists: { state: 'unknown', missed: [], error: redactSecrets(messageOf(err)) } };
      }
    })(),
  ]);
  return { database, extras };
}

/** The body: the runbook's shape for everyone, plus details for an authenticated caller. */
export function healthBody(result: HealthResult, withDetails: boolean): Record<string, unknown> {
  const body: Record<string, unknown> = { status: result.status, timestamp: result.timestamp, checks: result.checks };
  // The maintenance message is written for the app's users: everyone may see it.
  if (result.maintenance) body.maintenance = result.maintenance;
  if (withDetails) body.details = result.details;
  return body;
}

/**
 * Health while the config is invalid: 503 `misconfigured`, because no checklist would run. The problems
 * (config paths and rules, never values of the environment) go only to an admin token; everyone else
 * gets one generic line.
 */
export function misconfiguredBody(problems: string[], admin: boolean, now: Date): Record<string, unknown> {
  return {
    status: 'misconfigured',
    timestamp: now.toISOString(),
    message: admin ? "Opsbook's config is invalid: fix these and redeploy." : "Opsbook's configuration is invalid; it runs nothing until it is fixed.",
    ...(admin ? { problems } : {}),
  };
}
