import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';
import { createPgAccess } from '../checks/pg-access.js';
import { suppressDependents, withRoots } from '../checks/dependencies.js';
import { diagnosedDb, targetRoundTrips } from '../checks/target.js';
import { applyBaselines } from '../checks/baseline.js';
import { allChecks } from '../checks/registry.js';
import { worst } from '../checks/outcome.js';
import { selectorMatches, splitTarget } from '../checks/selector.js';
import type { Check, CheckContext, CheckResult, CheckStatus, PgAccess } from '../checks/types.js';
import { TimeoutError, withTimeout } from '../timeout.js';
import type { RedisClient } from '../redis/index.js';
import type { QueryTextMode } from '../sql/normalize.js';

export interface DiagnosticsOptions {
  /** Check ids or families (`postgres`, `postgres.activity`, `http.site`, `postgres@staging`); all when empty. */
  only?: string[];
  /** Only the checks on this target (`main` holds every check whose id names no other). */
  target?: string;
  /** Persist sizes, query stats and queue counts for trends. @default false */
  snapshot?: boolean;
  /** Total time, ms. @default config.diagnostics.budgetMs */
  budgetMs?: number;
  /** Per-check time, ms. @default config.diagnostics.checkTimeoutMs */
  checkTimeoutMs?: number;
  /** Redis holding BullMQ queues, when not the main one. */
  queueRedis?: RedisClient;
  /** Called as each check finishes, for progress output. */
  onResult?: (result: CheckResult) => void;
  /**
   * SQL text of other sessions and statements: placeholders for literals, and only the command tag of
   * a statement that carries a credential. `raw` is for an admin who asked for it, audited by the caller.
   * @default 'normalized'
   */
  queryText?: QueryTextMode;
}

export interface DiagnosticsReport {
  status: CheckStatus;
  startedAt: string;
  durationMs: number;
  counts: Record<CheckStatus, number>;
  checks: CheckResult[];
  /** Postgres round trips this run cost (capabilities + one merged batch, normally 2). */
  postgresRoundTrips: number;
  /** The same per Postgres target, when targets are configured (`main` is the diagnosed database, not the store). */
  postgresRoundTripsByTarget?: Record<string, number>;
  snapshotStored?: boolean;
  /**
   * Checks run because the selection needs them (`postgres.reachable`), not listed because they passed.
   * Checklists feed them to alert state, so a root-cause incident can resolve.
   */
  hiddenRoots?: CheckResult[];
}

/** Does a selector name this check (lib/checks/selector.ts: an id, a family or prefix, `@target`)? */
export function selects(selector: string, check: Pick<Check, 'id' | 'family'>): boolean {
  return selectorMatches(selector, check);
}

/** Pick the checks `only` names; an unknown selector is a clear 400 listing what exists. */
export function selectChecks(checks: Check[], only: string[] | undefined): Check[] {
  if (!only || only.length === 0) return checks;
  const unknown = only.filter((s) => !checks.some((c) => selects(s, c)));
  if (unknown.length) {
    throw new OpsbookError('BAD_REQUEST', `Unknown check id(s): ${unknown.join(', ')}.`, { details: { known: checks.map((c) => c.id) } });
  }
  return checks.filter((c) => only.some((s) => selects(s, c)));
}

/** Keep the checks on `target`; a target no check is on is a clear 400 listing the targets there are. */
function selectTarget(checks: Check[], all: Check[], target: string | undefined): Check[] {
  if (target === undefined) return checks;
  const known = [...new Set(all.map((c) => splitTarget(c.id).target))];
  if (!known.includes(target)) {
    throw new OpsbookError('BAD_REQUEST', `Unknown target "${target.slice(0, 40)}": the targets are ${known.join(', ')}.`, { details: { known } });
  }
  return checks.filter((c) => splitTarget(c.id).target === target);
}

/**
 * Run checks in parallel, each within its own timeout and all within the run budget. A check that
 * throws or overruns becomes an `error` result; the run always answers.
 */
export async function runDiagnostics(deps: Deps, config: OpsbookConfig, opts: DiagnosticsOptions, now: Date): Promise<DiagnosticsReport> {
  const started = performance.now();
  const budgetMs = opts.budgetMs ?? config.diagnostics.budgetMs;
  const checkTimeoutMs = Math.min(opts.checkTimeoutMs ?? config.diagnostics.checkTimeoutMs, budgetMs);
  const all = allChecks(config);
  const selected = selectTarget(selectChecks(all, opts.only), all, opts.target);
  const store = createPgAccess(deps.db);
  const target = await diagnosedDb(deps, config);
  const pg = 'problem' in target ? unavailablePg(target.problem) : target.separate ? createPgAccess(target.db, { previousFrom: store }) : store;
  const queueRedis = opts.queueRedis ?? deps.redis;
  const rootOpts = { queuesOnMainRedis: queueRedis === deps.redis, storeIsDiagnosed: !('db' in target && target.separate) };
  const checks = withRoots(selected, all, rootOpts);
  const ctx: CheckContext = { deps, config, pg, store, queueRedis, timeoutMs: checkTimeoutMs, snapshot: new Map(), queryText: opts.queryText ?? 'normalized' };

  const wanted = new Set(selected.map((c) => c.id));
  // Progress is for what was asked; an added root shows in the results only when it is a root cause.
  const raw = await executeChecks(checks, ctx, now, opts.onResult && ((r) => wanted.has(r.id) && opts.onResult!(r)));
  const remainingMs = Math.max(1, budgetMs - (performance.now() - started));
  const suppressed = await applyBaselines(suppressDependents(raw, checks, rootOpts), config, store, now, Math.min(checkTimeoutMs, remainingMs));
  const causes = new Set(suppressed.map((r) => r.suppressedBy).filter(Boolean));
  // Selected checks keep their order; an added root is listed first when it is shown.
  const results = [
    ...suppressed.filter((r) => !wanted.has(r.id) && causes.has(r.id)),
    ...selected.map((c) => suppressed.find((r) => r.id === c.id)!),
  ];
  const hiddenRoots = suppressed.filter((r) => !wanted.has(r.id) && !causes.has(r.id));
  const counts: Record<CheckStatus, number> = { ok: 0, warn: 0, fail: 0, skipped: 0, error: 0 };
  for (const r of results) counts[r.status]++;

  const byTarget = targetRoundTrips(ctx);
  let snapshotStored: boolean | undefined;
  if (opts.snapshot) snapshotStored = await storeSnapshot(deps, ctx.snapshot, now);

  return {
    status: worst(results.map((r) => r.status)),
    startedAt: now.toISOString(),
    durationMs: Math.round(performance.now() - started),
    counts,
    checks: results,
    postgresRoundTrips: pg.roundTrips + (pg === store ? 0 : store.roundTrips) + Object.values(byTarget).reduce((a, b) => a + b, 0),
    ...(Object.keys(config.checks.postgres.targets).length ? { postgresRoundTripsByTarget: { main: pg.roundTrips, ...byTarget } } : {}),
    ...(hiddenRoots.length ? { hiddenRoots } : {}),
    ...(snapshotStored !== undefined ? { snapshotStored } : {}),
  };
}

/** Run checks in parallel, each bounded by ctx.timeoutMs; a throw or an overrun is that check's `error`. */
export function executeChecks(checks: Check[], ctx: CheckContext, now: Date, onResult?: (r: CheckResult) => void): Promise<CheckResult[]> {
  return Promise.all(
    checks.map(async (check) => {
      const result = await runOne(check, ctx, now, ctx.timeoutMs);
      onResult?.(result);
      return result;
    }),
  );
}

async function runOne(check: Check, ctx: CheckContext, now: Date, timeoutMs: number): Promise<CheckResult> {
  const started = performance.now();
  const base = { id: check.id, title: check.title, family: check.family, severity: check.severity, target: splitTarget(check.id).target };
  try {
    const outcome = await withTimeout(() => check.run(ctx, now), timeoutMs, check.id);
    return { ...base, ...outcome, durationMs: Math.round(performance.now() - started) };
  } catch (err) {
    const summary =
      err instanceof TimeoutError ? `did not finish within ${timeoutMs} ms` : `could not run: ${redactSecrets(messageOf(err)).slice(0, 300)}`;
    return { ...base, status: 'error', summary, durationMs: Math.round(performance.now() - started) };
  }
}

/** Write this run's snapshot rows in one transaction. Diagnostics still answer if this fails. */
async function storeSnapshot(deps: Deps, snapshot: Map<string, unknown>, now: Date): Promise<boolean> {
  if (snapshot.size === 0) return true;
  try {
    await deps.db.batch(
      [...snapshot].map(([kind, data]) => ({
        text: 'INSERT INTO opsbook.snapshots (kind, taken_at, data) VALUES ($1, $2, $3::jsonb)',
        params: [kind, now.toISOString(), JSON.stringify(data)],
      })),
      { readOnly: false },
    );
    return true;
  } catch (err) {
    deps.log('warn', `diagnostics snapshot not stored: ${messageOf(err)}`);
    return false;
  }
}

/** Postgres access when the diagnosed database is misconfigured: every check says why, none hangs. */
function unavailablePg(problem: string): PgAccess & { readonly roundTrips: number } {
  const refuse = () => Promise.reject(new OpsbookError('MISCONFIGURED', problem));
  return { roundTrips: 0, caps: refuse, batch: refuse };
}
