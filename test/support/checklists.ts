import type { Deps } from '../../lib/deps.js';
import { createDeps } from '../../lib/deps.js';
import type { DbDriver } from '../../lib/db/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import type { ErrorReporter } from '../../lib/sentry.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { openDb, type DbHarness } from './drivers.js';

export type Captured = { kind: 'exception' | 'message'; text: string; tags?: Record<string, string> };

/** An ErrorReporter that records what it is given (the interface is ours: lib/sentry.ts). */
export function recordingReporter(): ErrorReporter & { calls: Captured[] } {
  const calls: Captured[] = [];
  return {
    enabled: true,
    calls,
    async captureException(err, ctx) {
      calls.push({ kind: 'exception', text: err instanceof Error ? err.message : String(err), tags: ctx?.tags });
    },
    async captureMessage(message, ctx) {
      calls.push({ kind: 'message', text: message, tags: ctx?.tags });
    },
    async deliverMessage(message, ctx) {
      calls.push({ kind: 'message', text: message, tags: ctx?.tags });
      return true;
    },
    withMonitor: (_slug, fn) => fn(),
    async flush() {},
  };
}

export interface ChecklistHarness {
  h: DbHarness;
  sink: ResendSink;
  deps: Deps;
  errors: ReturnType<typeof recordingReporter>;
  close(): Promise<void>;
}

/** A real database on `driver`, the Resend sink behind the real SDK, and a recording error reporter. */
export async function openChecklistHarness(driver: DbDriver, resendKey: string): Promise<ChecklistHarness> {
  const [h, sink] = await Promise.all([openDb(driver), startResendSink()]);
  const errors = recordingReporter();
  const deps = await createDeps(parseEnv({ RESEND_API_KEY: resendKey }), {
    db: h.db,
    redis: createMemoryRedis(),
    email: createResendSender(resendKey, { baseUrl: sink.baseUrl, timeoutMs: 5000 }),
    errors,
    log: () => undefined,
  });
  await ensureSchema(h.db);
  return { h, sink, deps, errors, close: async () => void (await Promise.allSettled([h.close(), sink.close()])) };
}
