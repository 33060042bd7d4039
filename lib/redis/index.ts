import { upstashCredentials, type Env } from '../env.js';
import type { RedisClient, RedisDriver, RedisLimits } from './types.js';

export type { PipelineResult, RedisArg, RedisClient, RedisDriver, RedisLimits } from './types.js';

export function selectRedisDriver(env: Env): RedisDriver {
  if (upstashCredentials(env)) return 'upstash';
  if (env.REDIS_URL) return 'tcp';
  return 'memory';
}

/** The Redis the environment names: Upstash REST, then REDIS_URL over TCP, then the in-memory fallback. */
export async function createRedis(env: Env): Promise<RedisClient> {
  const limits: RedisLimits = { callTimeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS };
  const upstash = upstashCredentials(env);
  if (upstash) {
    const { createUpstashRedis } = await import('./upstash.js');
    return createUpstashRedis(upstash.url, upstash.token, limits);
  }
  if (env.REDIS_URL) {
    const { createTcpRedis } = await import('./tcp.js');
    return createTcpRedis(env.REDIS_URL, limits);
  }
  const { createMemoryRedis } = await import('./memory.js');
  return createMemoryRedis();
}
