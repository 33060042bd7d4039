import { MAIN_TARGET, splitTarget, targetId } from './selector.js';
import type { Check, CheckResult, Need } from './types.js';

/**
 * Dependency suppression. A check declares what it needs; when that is down, the check reports
 * `suppressed: <root> unreachable` and raises no alert, so one Postgres outage is one root cause in the
 * report and one alert, not twenty. A need is down when the check standing for it failed:
 *
 * - `postgres` → `postgres.reachable`; `store` → the same, when the store is the diagnosed database;
 * - `redis` (and `queue-redis` when the queues live in the main Redis) → `redis.ping`;
 * - `postgres@staging` / `redis@cache` → that target's `postgres.reachable@staging` / `redis.ping@cache`;
 * - a check id (`tcp.api`) → that check, as configured with `needs` on http/tls/dns/tcp/status pages/SQL metrics;
 * - `network` stands for nothing: the internet has no single check that speaks for it.
 */
export interface RootOptions {
  /** The queue Redis is the main Redis. @default true */
  queuesOnMainRedis: boolean;
  /** Opsbook's store is the diagnosed Postgres. @default true */
  storeIsDiagnosed: boolean;
}

const DEFAULTS: RootOptions = { queuesOnMainRedis: true, storeIsDiagnosed: true };

/** The check that stands for a need, if any. */
export function rootCheckOf(need: Need, opts: RootOptions = DEFAULTS): string | undefined {
  switch (need) {
    case 'postgres':
      return 'postgres.reachable';
    case 'store':
      return opts.storeIsDiagnosed ? 'postgres.reachable' : undefined;
    case 'redis':
      return 'redis.ping';
    case 'queue-redis':
      return opts.queuesOnMainRedis ? 'redis.ping' : undefined;
    case 'network':
      return undefined;
    default: {
      // Another target's Postgres or Redis (`postgres@staging`) is its own root, suppressing only its checks.
      const target = /^(postgres|redis)@(.+)$/.exec(need);
      if (target) return targetId(target[1] === 'postgres' ? 'postgres.reachable' : 'redis.ping', target[2]!);
      return need;
    }
  }
}

/** How a need is named in `suppressed: <name> unreachable`. */
function needName(rootId: string): string {
  const { base, target } = splitTarget(rootId);
  const kind = base === 'postgres.reachable' ? 'postgres' : base === 'redis.ping' ? 'redis' : undefined;
  if (!kind) return rootId;
  return target === MAIN_TARGET ? kind : `${kind}@${target}`;
}

/**
 * The checks to run for a selection: the selection plus the checks standing for what it needs (a
 * checklist listing `postgres.connections` also learns whether Postgres is reachable at all).
 */
export function withRoots(selected: Check[], all: Check[], opts: RootOptions = DEFAULTS): Check[] {
  const ids = new Set(selected.map((c) => c.id));
  const out = [...selected];
  const queue = [...selected];
  while (queue.length) {
    const check = queue.shift()!;
    for (const need of check.needs) {
      const root = rootCheckOf(need, opts);
      if (!root || ids.has(root)) continue;
      const found = all.find((c) => c.id === root);
      if (!found) continue;
      ids.add(root);
      out.unshift(found);
      queue.push(found);
    }
  }
  return out;
}

const down = (r: CheckResult | undefined) => r !== undefined && (r.status === 'fail' || r.status === 'error');

/**
 * Replace the results of checks whose needs are down. The root cause is followed through chains
 * (`http.api` needs `tcp.api`, which is suppressed by `postgres`) so every dependent names the same one.
 * A check on a cycle is never suppressed (there is no root to blame); `opsbook check-config` reports cycles.
 */
export function suppressDependents(results: CheckResult[], checks: Check[], opts: RootOptions = DEFAULTS): CheckResult[] {
  const byId = new Map(results.map((r) => [r.id, r]));
  const needsOf = new Map(checks.map((c) => [c.id, c.needs]));
  const rootCause = new Map<string, string | null>();

  // A check on a cycle (a needs b, b needs a) has no root to blame: it keeps its own result.
  const reaches = (from: string, target: string, seen = new Set<string>()): boolean =>
    (needsOf.get(from) ?? []).some((n) => {
      const root = rootCheckOf(n, opts);
      if (!root || root === from || seen.has(root)) return false;
      seen.add(root);
      return root === target || reaches(root, target, seen);
    });
  const cyclic = new Set(checks.filter((c) => reaches(c.id, c.id)).map((c) => c.id));

  const causeOf = (id: string, seen: Set<string>): string | null => {
    if (rootCause.has(id)) return rootCause.get(id)!;
    if (seen.has(id) || cyclic.has(id)) return null;
    seen.add(id);
    let cause: string | null = null;
    for (const need of needsOf.get(id) ?? []) {
      const root = rootCheckOf(need, opts);
      if (!root || root === id) continue;
      const upstream = causeOf(root, seen);
      if (upstream) {
        cause = upstream;
        break;
      }
      if (down(byId.get(root))) {
        cause = root;
        break;
      }
    }
    rootCause.set(id, cause);
    return cause;
  };

  return results.map((r) => {
    const cause = causeOf(r.id, new Set());
    if (!cause) return r;
    const name = needName(cause);
    return {
      id: r.id,
      title: r.title,
      family: r.family,
      severity: r.severity,
      durationMs: r.durationMs,
      target: r.target,
      status: 'skipped',
      summary: `suppressed: ${name} unreachable`,
      suppressedBy: cause,
      hint: { text: `${name} is down (see ${cause}); this check runs again once it is back.` },
    };
  });
}

/** The root causes of a run: each down root with the checks it suppressed. */
export function rootCauses(results: CheckResult[]): Array<{ root: CheckResult; suppressed: string[] }> {
  const groups = new Map<string, string[]>();
  for (const r of results) if (r.suppressedBy) groups.set(r.suppressedBy, [...(groups.get(r.suppressedBy) ?? []), r.id]);
  const out: Array<{ root: CheckResult; suppressed: string[] }> = [];
  for (const [rootId, suppressed] of groups) {
    const root = results.find((r) => r.id === rootId);
    if (root) out.push({ root, suppressed });
  }
  return out;
}
