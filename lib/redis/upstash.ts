import { Redis } from '@upstash/redis';
import { withTimeout } from '../timeout.js';
import type { PipelineResult, RedisArg, RedisClient, RedisLimits } from './types.js';

/**
 * The Upstash client with raw pipelines. The public API types every command; Opsbook's checks need
 * raw ones (INFO has no typed method), so this subclass sends them through the client's own requester,
 * which keeps its auth, base64 response encoding and error handling.
 */
class RawUpstash extends Redis {
  async rawPipeline(commands: RedisArg[][]): Promise<PipelineResult[]> {
    const res = (await this.client.request<unknown>({ path: ['pipeline'], body: commands })) as unknown;
    if (!Array.isArray(res)) throw new Error('Upstash pipeline answered with something other than an array');
    return res.map((slot: { result?: unknown; error?: string }) =>
      slot.error ? { ok: false as const, error: slot.error } : { ok: true as const, value: slot.result ?? null },
    );
  }
}

export function createUpstashRedis(url: string, token: string, limits: RedisLimits): RedisClient {
  const client = new RawUpstash({
    url,
    token,
    // A health check must answer within its budget: one attempt, and the timeout decides.
    retry: { retries: 0 },
    // Replies stay as Redis sent them (strings), the same as over TCP.
    automaticDeserialization: false,
    enableTelemetry: false,
    // One HTTP request per call we make: round trips stay countable and a pipeline stays one request.
    enableAutoPipelining: false,
  });
  return {
    driver: 'upstash',
    shared: true,
    command: <T>(args: RedisArg[]) =>
      withTimeout(
        client.exec<T>(args.map(String) as [string, ...string[]]),
        limits.callTimeoutMs,
        `redis ${String(args[0]).toUpperCase()}`,
      ),
    pipeline: (commands) => withTimeout(client.rawPipeline(commands), limits.callTimeoutMs, 'redis pipeline'),
    async close() {
      // HTTP: nothing held open.
    },
  };
}
