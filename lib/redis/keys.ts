import type { OpsbookConfig } from '../config/index.js';

/**
 * The names of the keys Opsbook itself writes to Redis, all in this one file so that "every key of
 * Opsbook's is under `redisKeyPrefix` and has a TTL" can be checked by reading it (and is, by
 * test/api/redis-keys.test.ts, over every route that writes Redis):
 *
 * - `<prefix>rl:token|ip|authfail:<id>:<window>`: the admin sliding windows (@upstash/ratelimit; its
 *   script sets PEXPIRE 2 windows + 1 s on a window's first hit, in the same script, so atomically);
 * - `<prefix>rl:heartbeat:<name>:<minute>`: the heartbeat ping limit (PEXPIRE 2 minutes with every INCR).
 *
 * Idempotency keys, confirm state, flags and maintenance live in Postgres, not here.
 */

/** The prefix when none is configured, or when the config cannot be read (a misconfigured deployment still limits). */
export const DEFAULT_REDIS_KEY_PREFIX = 'opsbook:';

/** The configured prefix (`redisKeyPrefix`), or the default when there is no readable config. */
export function redisKeyPrefixOf(config: Pick<OpsbookConfig, 'redisKeyPrefix'> | undefined): string {
  return config?.redisKeyPrefix ?? DEFAULT_REDIS_KEY_PREFIX;
}

/** The prefix @upstash/ratelimit puts before `:<identifier>:<window>` for one admin limiter. */
export function rateLimitPrefix(prefix: string, limiter: 'token' | 'ip' | 'authfail'): string {
  return `${prefix}rl:${limiter}`;
}

/** One heartbeat name's counter for one minute (minutes since the epoch, on the injected clock). */
export function heartbeatLimitKey(prefix: string, name: string, minute: number): string {
  return `${prefix}rl:heartbeat:${name}:${minute}`;
}
