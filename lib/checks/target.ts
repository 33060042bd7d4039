import type { OpsbookConfig } from '../config/index.js';
import { createDb, type Db } from '../db/index.js';
import type { Deps } from '../deps.js';
import { messageOf } from '../errors.js';
import { redactSecrets, registerSecretVariable } from '../env.js';
import { createRedis, type RedisClient } from '../redis/index.js';
import { createPgAccess } from './pg-access.js';
import { errored, fail } from './outcome.js';
import { selectorMatches, targetId } from './selector.js';
import type { Check, CheckContext, CheckFamily, Need, PgAccess } from './types.js';

/** One client per diagnosed URL per instance, like deps.db: a warm instance keeps its pool. */
const clients = new Map<string, Promise<Db>>();
const redisClients = new Map<string, Promise<RedisClient>>();

function cached<T>(map: Map<string, Promise<T>>, key: string, make: () => Promise<T>): Promise<T> {
  let p = map.get(key);
  if (!p) {
    p = make();
    p.catch(() => map.delete(key));
    map.set(key, p);
  }
  return p;
}

/** The value of a configured variable, registered as a secret first so no message can carry it. */
function secretEnv(name: string, setting: string): { value: string } | { problem: string } {
  registerSecretVariable(name);
  const value = process.env[name]?.trim();
  return value ? { value } : { problem: `${setting} names ${name}, which is not set in this environment` };
}

/** A Db for the postgres:// URL in variable `name` (a Neon host → HTTP), with Opsbook's own limits. */
async function dbFromEnv(deps: Deps, name: string, setting: string): Promise<{ db: Db; separate: boolean } | { problem: string }> {
  const url = secretEnv(name, setting);
  if ('problem' in url) return url;
  if (!/^postgres(ql)?:\/\/\S+$/.test(url.value)) return { problem: `${name} must be a postgres:// or postgresql:// URL` };
  if (url.value === deps.env.DATABASE_URL) return { db: deps.db, separate: false };
  const db = await cached(clients, url.value, () => createDb({ ...deps.env, DATABASE_URL: url.value, DATABASE_DRIVER: undefined }));
  return { db, separate: true };
}

/**
 * The database Postgres checks and SQL metrics diagnose: Opsbook's own (DATABASE_URL) unless
 * `checks.postgres.databaseUrlEnv` names another. Returns a problem, not a throw, when the variable is
 * unset: the run still answers, and `postgres.reachable` says what to set.
 */
export async function diagnosedDb(deps: Deps, config: OpsbookConfig): Promise<{ db: Db; separate: boolean } | { problem: string }> {
  const name = config.checks.postgres.databaseUrlEnv;
  if (!name) return { db: deps.db, separate: false };
  return dbFromEnv(deps, name, 'checks.postgres.databaseUrlEnv');
}

/** Close the diagnosed databases' and Redis targets' clients (tests, the local runner's shutdown). */
export async function closeDiagnosedDbs(): Promise<void> {
  const all = [...clients.values(), ...redisClients.values()];
  clients.clear();
  redisClients.clear();
  await Promise.allSettled(all.map(async (p) => (await p).close?.()));
}

// ---------------------------------------------------------------------------------------------------------------
// Targets: more Postgres databases and Redis servers, each with the main target's checks under `@name`.

export type TargetKind = 'postgres' | 'redis';

/** The check standing for a target kind being reachable: while it fails, the target's other checks are suppressed. */
const ROOT: Record<TargetKind, string> = { postgres: 'postgres.reachable', redis: 'redis.ping' };

/** The config a target's checks read: the main target's settings with the target's overrides. */
export function targetConfig(config: OpsbookConfig, kind: TargetKind, name: string): OpsbookConfig {
  if (kind === 'postgres') {
    const pg = config.checks.postgres;
    const t = pg.targets[name]!;
    return {
      ...config,
      checks: {
        ...config.checks,
        postgres: { ...pg, databaseUrlEnv: t.urlEnv, thresholds: { ...pg.thresholds, ...defined(t.thresholds) }, sizeLimitBytes: t.sizeLimitBytes ?? pg.sizeLimitBytes, targets: {} },
      },
    };
  }
  const redis = config.checks.redis;
  const t = redis.targets[name]!;
  return { ...config, checks: { ...config.checks, redis: { ...redis, thresholds: { ...redis.thresholds, ...defined(t.thresholds) }, targets: {} } } };
}

function defined<T extends Record<string, unknown>>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** `postgres` → `postgres@staging`; a need on a sibling check of the same kind moves to the same target. */
function targetNeed(need: Need, kind: TargetKind, name: string): Need {
  if (need === kind) return `${kind}@${name}` as Need;
  if (need.startsWith(`${kind}.`) && !need.includes('@')) return `${need}@${name}` as Need;
  return need;
}

/**
 * The checks a target adds: each family's checks for the target's config, renamed `id@name`, limited to
 * the target's `checks` (its root always kept), and run on the target's own client.
 */
export function targetChecks(config: OpsbookConfig, kind: TargetKind, families: CheckFamily[]): Check[] {
  const targets: Record<string, { checks?: string[] }> = kind === 'postgres' ? config.checks.postgres.targets : config.checks.redis.targets;
  if (kind === 'postgres' ? !config.checks.postgres.enabled : !config.checks.redis.enabled) return [];
  return Object.entries(targets).flatMap(([name, t]) => {
    const cfg = targetConfig(config, kind, name);
    return families
      .flatMap((f) => f.checks(cfg))
      .filter((c) => c.id === ROOT[kind] || !t.checks || t.checks.some((sel) => selectorMatches(sel, c)))
      .map(
        (c): Check => ({
          ...c,
          id: targetId(c.id, name),
          needs: c.needs.map((n) => targetNeed(n, kind, name)),
          async run(ctx, now) {
            const tctx = await targetContext(ctx, kind, name, cfg);
            if ('problem' in tctx) {
              return c.id === ROOT[kind]
                ? fail(`${kind}@${name} unreachable: ${tctx.problem}`, { hint: { text: `Set the variable the target names (checks.${kind}.targets.${name}), or remove the target.` } })
                : errored(tctx.problem);
            }
            const outcome = await c.run(tctx, now);
            // Admin actions act on the main target: a button here would terminate or vacuum the wrong database.
            if (!outcome.hint?.action) return outcome;
            return { ...outcome, hint: { text: `${outcome.hint.text} On ${kind}@${name}, do it there by hand: Opsbook's admin actions act on the main target only.` } };
          },
        }),
      );
  });
}

interface TargetEntry {
  ctx: Promise<CheckContext | { problem: string }>;
  pg?: PgAccess & { readonly roundTrips: number };
}

/** One context per target per run: the target's checks share its capabilities round trip and Redis probe. */
const contexts = new WeakMap<CheckContext, Map<string, TargetEntry>>();

function targetContext(ctx: CheckContext, kind: TargetKind, name: string, config: OpsbookConfig): Promise<CheckContext | { problem: string }> {
  let byTarget = contexts.get(ctx);
  if (!byTarget) contexts.set(ctx, (byTarget = new Map()));
  const key = `${kind}@${name}`;
  let entry = byTarget.get(key);
  if (!entry) {
    const e: TargetEntry = { ctx: Promise.resolve({ problem: '' }) };
    e.ctx = (kind === 'postgres' ? postgresContext(ctx, name, config, e) : redisContext(ctx, name, config)).catch((err) => ({ problem: redactSecrets(messageOf(err)).slice(0, 300) }));
    byTarget.set(key, (entry = e));
  }
  return entry.ctx;
}

async function postgresContext(ctx: CheckContext, name: string, config: OpsbookConfig, entry: TargetEntry): Promise<CheckContext | { problem: string }> {
  const found = await dbFromEnv(ctx.deps, config.checks.postgres.databaseUrlEnv!, `checks.postgres.targets.${name}.urlEnv`);
  if ('problem' in found) return found;
  // Snapshots are Opsbook's: the target's previous ones are read from the store, under their `@name` kinds.
  entry.pg = createPgAccess(found.db, { previousFrom: ctx.store });
  return { ...ctx, config, pg: entry.pg, target: name };
}

async function redisContext(ctx: CheckContext, name: string, config: OpsbookConfig): Promise<CheckContext | { problem: string }> {
  const t = ctx.config.checks.redis.targets[name]!;
  const setting = `checks.redis.targets.${name}`;
  let redis: RedisClient;
  if (t.urlEnv) {
    const url = secretEnv(t.urlEnv, `${setting}.urlEnv`);
    if ('problem' in url) return url;
    if (!/^rediss?:\/\/\S+$/.test(url.value)) return { problem: `${t.urlEnv} must be a redis:// or rediss:// URL` };
    redis = await cached(redisClients, url.value, () => createRedis({ ...ctx.deps.env, REDIS_URL: url.value, UPSTASH_REDIS_REST_URL: undefined, UPSTASH_REDIS_REST_TOKEN: undefined }));
  } else {
    const url = secretEnv(t.restUrlEnv!, `${setting}.restUrlEnv`);
    if ('problem' in url) return url;
    const token = secretEnv(t.restTokenEnv!, `${setting}.restTokenEnv`);
    if ('problem' in token) return token;
    if (!/^https?:\/\/\S+$/.test(url.value)) return { problem: `${t.restUrlEnv} must be an https:// URL` };
    redis = await cached(redisClients, `${url.value}#${token.value}`, () =>
      createRedis({ ...ctx.deps.env, REDIS_URL: undefined, UPSTASH_REDIS_REST_URL: url.value, UPSTASH_REDIS_REST_TOKEN: token.value }),
    );
  }
  return { ...ctx, config, deps: { ...ctx.deps, redis }, target: name };
}

/** Postgres round trips each of the run's targets cost (normally its capabilities plus one merged batch: 2). */
export function targetRoundTrips(ctx: CheckContext): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, e] of contexts.get(ctx) ?? []) if (e.pg) out[key.slice(key.indexOf('@') + 1)] = e.pg.roundTrips;
  return out;
}
