import { Redis } from 'ioredis';
import { withTimeout } from '../timeout.js';
import type { PipelineResult, RedisArg, RedisClient, RedisLimits } from './types.js';

/**
 * A TCP client for `redis://` and `rediss://` URLs (self-hosted Redis, Railway, a droplet). ioredis is
 * the client BullMQ uses, so one library serves both. It speaks RESP2, so replies have the same shapes
 * as Upstash's JSON.
 */
export function createTcpRedis(url: string, limits: RedisLimits): RedisClient {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: limits.callTimeoutMs,
    commandTimeout: limits.callTimeoutMs,
    // Fail fast instead of queueing commands while disconnected: a health check must see the outage.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 0,
    retryStrategy: (times) => (times > 3 ? null : Math.min(times * 200, 1000)),
    reconnectOnError: () => false,
  });
  // ioredis emits 'error' on every failed (re)connect; without a listener it prints a stack trace.
  client.on('error', () => undefined);
  let closed = false;

  async function ready(): Promise<void> {
    // A client that gave up reconnecting ('end') is started again, so Redis recovering is noticed.
    if (client.status === 'wait' || client.status === 'end') await client.connect();
  }

  return {
    driver: 'tcp',
    shared: true,
    async command<T>(args: RedisArg[]) {
      const [name, ...rest] = args;
      return withTimeout(
        async () => {
          await ready();
          return (await client.call(String(name), ...rest)) as T;
        },
        limits.callTimeoutMs,
        `redis ${String(name).toUpperCase()}`,
      );
    },
    async pipeline(commands: RedisArg[][]) {
      return withTimeout(
        async () => {
          await ready();
          const p = client.pipeline();
          for (const [name, ...rest] of commands) p.call(String(name), ...rest);
          const res = (await p.exec()) ?? [];
          return res.map(([err, value]): PipelineResult =>
            err ? { ok: false, error: err.message } : { ok: true, value: value ?? null },
          );
        },
        limits.callTimeoutMs,
        'redis pipeline',
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
      else client.disconnect();
    },
  };
}
