export type RedisArg = string | number;
export type RedisDriver = 'upstash' | 'tcp' | 'memory';

/** One slot of a pipeline's answer: a failing command does not fail its neighbours. */
export type PipelineResult = { ok: true; value: unknown } | { ok: false; error: string };

/**
 * The one Redis interface Opsbook's logic sees: raw commands and pipelines, so a check can ask for
 * exactly what it needs in one round trip whichever transport is underneath.
 * Replies follow RESP2 as JSON: strings, numbers, null and arrays.
 */
export interface RedisClient {
  readonly driver: RedisDriver;
  /** Whether other instances see the same data (false for the in-memory fallback). */
  readonly shared: boolean;
  /** One command, e.g. `["SET", "k", "v", "PX", 1000]`. Rejects on a Redis error reply. */
  command<T = unknown>(args: RedisArg[]): Promise<T>;
  /** Several commands in one round trip (a pipeline, not a transaction). */
  pipeline(commands: RedisArg[][]): Promise<PipelineResult[]>;
  close(): Promise<void>;
}

export interface RedisLimits {
  /** Client-side bound on one command or pipeline, ms. @default 5000 */
  callTimeoutMs: number;
}
