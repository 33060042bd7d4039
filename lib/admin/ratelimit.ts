import { createHash } from 'node:crypto';
import { Ratelimit } from '@upstash/ratelimit';
import { getConfig, type OpsbookConfig } from '../config/index.js';
import { getDeps, type Deps } from '../deps.js';
import type { RedisClient } from '../redis/index.js';
import { DEFAULT_REDIS_KEY_PREFIX, rateLimitPrefix, redisKeyPrefixOf } from '../redis/keys.js';
import { OpsbookError } from '../errors.js';
import { withTimeout } from '../timeout.js';

export interface LimitResult {
  success: boolean;
  limit: number;
  remaining: number;
  reset: number;
}

export interface Limiter {
  limit(identifier: string): Promise<LimitResult>;
}

/**
 * @upstash/ratelimit speaks to Redis only through EVAL/EVALSHA; this gives it those two over any of
 * Opsbook's Redis transports (Upstash REST or TCP), so one limiter works for both.
 */
function scriptingOver(redis: RedisClient) {
  // The library's scripts start with `#!lua flags=allow-key-locking`, a flag only Upstash knows:
  // open-source Redis refuses the script. The flag is an optimisation, so the shebang is dropped and the
  // library's script hash is mapped to the hash of the script Redis actually holds.
  const loaded = new Map<string, string>();
  const strip = (script: string) => script.replace(/^#!lua[^\n]*\n/, '');
  return {
    evalsha: (sha: string, keys: string[], args: unknown[]) =>
      redis.command(['EVALSHA', loaded.get(sha) ?? sha, keys.length, ...keys, ...args.map(String)]),
    async eval(script: string, keys: string[], args: unknown[]) {
      const body = strip(script);
      const result = await redis.command(['EVAL', body, keys.length, ...keys, ...args.map(String)]);
      loaded.set(createHash('sha1').update(script).digest('hex'), createHash('sha1').update(body).digest('hex'));
      return result;
    },
  };
}

/**
 * The in-memory fallback has no Lua, so it gets the same sliding window in process: the product runs
 * on that fallback locally, and its limits are per instance, like the rest of its state.
 */
function memoryLimiter(max: number, windowMs: number, now: () => number): Limiter {
  const hits = new Map<string, number[]>();
  return {
    async limit(id) {
      const t = now();
      const recent = (hits.get(id) ?? []).filter((h) => h > t - windowMs);
      const success = recent.length < max;
      if (success) recent.push(t);
      hits.set(id, recent);
      return { success, limit: max, remaining: Math.max(0, max - recent.length), reset: (recent[0] ?? t) + windowMs };
    },
  };
}

/**
 * A sliding-window limiter. The library lets requests through when Redis does not answer in time
 * (`timeout`); for admin routes that is the wrong default, so the timeout is off in the library and
 * enforced here instead, where it fails closed: Redis unreachable → 503.
 */
export function createLimiter(redis: RedisClient, opts: { max: number; window: `${number} s` | `${number} m`; prefix: string; timeoutMs: number; now?: () => number }): Limiter {
  const windowMs = Number.parseInt(opts.window, 10) * (opts.window.endsWith('m') ? 60_000 : 1000);
  if (redis.driver === 'memory') return memoryLimiter(opts.max, windowMs, opts.now ?? Date.now);
  const rl = new Ratelimit({
    redis: scriptingOver(redis) as never,
    limiter: Ratelimit.slidingWindow(opts.max, opts.window),
    prefix: opts.prefix,
    timeout: 0,
    analytics: false,
    ephemeralCache: false,
  });
  return {
    async limit(id) {
      try {
        const res = await withTimeout(rl.limit(id), opts.timeoutMs, 'rate limit');
        return { success: res.success, limit: res.limit, remaining: res.remaining, reset: res.reset };
      } catch (err) {
        throw new OpsbookError('DEPENDENCY_UNAVAILABLE', 'Rate limiting is unavailable (Redis did not answer), so admin actions are refused.', { cause: err });
      }
    },
  };
}

/** The admin limits: per token, per IP, and failed authentications per IP (slows brute force, on every route). */
export interface AdminLimiters {
  perToken: Limiter;
  perIp: Limiter;
  failedAuth: Limiter;
}

export function adminLimiters(
  redis: RedisClient,
  timeoutMs: number,
  limits: { perTokenPerMinute: number; perIpPerMinute: number; failedAuthPer5Minutes: number } = { perTokenPerMinute: 60, perIpPerMinute: 120, failedAuthPer5Minutes: 10 },
  keyPrefix: string = DEFAULT_REDIS_KEY_PREFIX,
): AdminLimiters {
  return {
    perToken: createLimiter(redis, { max: limits.perTokenPerMinute, window: '60 s', prefix: rateLimitPrefix(keyPrefix, 'token'), timeoutMs }),
    perIp: createLimiter(redis, { max: limits.perIpPerMinute, window: '60 s', prefix: rateLimitPrefix(keyPrefix, 'ip'), timeoutMs }),
    failedAuth: createLimiter(redis, { max: limits.failedAuthPer5Minutes, window: '5 m', prefix: rateLimitPrefix(keyPrefix, 'authfail'), timeoutMs }),
  };
}

/**
 * Limits when the config cannot be read (a misconfigured deployment still limits guessing); its keys
 * then go under the default prefix (lib/redis/keys.ts), which cache/delete protects as well.
 */
const DEFAULT_LIMITS = { perTokenPerMinute: 60, perIpPerMinute: 120, failedAuthPer5Minutes: 10 };

const limitersByDeps = new WeakMap<Deps, Map<unknown, AdminLimiters>>();
/** One set of limiters per deps and config (a limiter keeps the library's script cache). */
export function limitersFor(deps: Deps, config: OpsbookConfig | undefined): AdminLimiters {
  let byConfig = limitersByDeps.get(deps);
  if (!byConfig) limitersByDeps.set(deps, (byConfig = new Map()));
  const key = config ?? DEFAULT_LIMITS;
  let l = byConfig.get(key);
  if (!l) byConfig.set(key, (l = adminLimiters(deps.redis, Math.min(2000, deps.env.OPSBOOK_DEPENDENCY_TIMEOUT_MS), config?.admin.rateLimit ?? DEFAULT_LIMITS, redisKeyPrefixOf(config))));
  return l;
}

/** Counts one request against a limiter; over the limit → 429 RATE_LIMITED with Retry-After. */
export async function limitOrThrow(limiter: Limiter, id: string, what: string): Promise<void> {
  const r = await limiter.limit(id);
  if (!r.success) {
    const retry = Math.max(1, Math.ceil((r.reset - Date.now()) / 1000));
    throw new OpsbookError('RATE_LIMITED', `Too many ${what}. Retry in ${retry} s.`, { headers: { 'retry-after': String(retry) } });
  }
}

/**
 * One failed authentication from `ip`, on any route: lib/http.ts calls this for every UNAUTHORIZED
 * answer (a wrong or missing token, a wrong cron secret), so no route can forget it. Within the limit
 * it returns (the caller answers 401); beyond it, it throws RATE_LIMITED (429, Retry-After). A valid
 * token from the same address is never counted, so guessing cannot lock out the real operator.
 */
export async function limitFailedAuthentication(ip: string): Promise<void> {
  const deps = await getDeps();
  const config = await getConfig().catch(() => undefined);
  await limitOrThrow(limitersFor(deps, config).failedAuth, ip, 'failed authentications from this address');
}
