import type { Queue } from 'bullmq';
import * as z from 'zod';
import type { ActionContext, ActionDefinition, ActionResult } from '../admin/action.js';
import { auditAfter, auditRow } from '../admin/audit.js';
import { redactSecrets } from '../env.js';
import { messageOf, OpsbookError } from '../errors.js';
import type { RedisClient } from '../redis/index.js';
import { withTimeout } from '../timeout.js';

// ---------------------------------------------------------------------------------------------------
// What the queue actions share (retry, clean, pause, resume)

/** A BullMQ queue name: BullMQ refuses ":" (it separates the key parts). */
export const queueName = z.string().min(1).max(200).regex(/^[^:]+$/, 'a BullMQ queue name cannot contain ":"');

/** Total time one queue action spends in batches; what is left is reported, and a repeat continues. */
export const QUEUE_BUDGET_MS = 25_000;
/** Jobs sampled in a dry run or an answer: ids and names only, never data (it may hold secrets). */
export const SAMPLE = 20;

/**
 * The queue Redis: the variable named by `checks.queues.redisUrlEnv`, else REDIS_URL. BullMQ runs Lua
 * scripts over a TCP connection (and blocking commands for workers), so Upstash's REST API cannot carry
 * it, and the in-memory fallback holds no queues.
 */
export function queueRedisUrl(ctx: ActionContext): string {
  const cfg = ctx.config.checks.queues;
  const named = cfg.redisUrlEnv ? process.env[cfg.redisUrlEnv]?.trim() : undefined;
  const url = named || ctx.deps.env.REDIS_URL;
  if (url && /^rediss?:\/\/\S+$/.test(url)) return url;
  const source = cfg.redisUrlEnv ? `${cfg.redisUrlEnv} (checks.queues.redisUrlEnv) or REDIS_URL` : 'REDIS_URL';
  const now =
    ctx.deps.redis.driver === 'upstash'
      ? "Only Upstash's REST API is configured, and BullMQ cannot run over it"
      : named
        ? `${cfg.redisUrlEnv} is not a redis:// URL`
        : 'No Redis URL is configured (the in-memory fallback holds no queues)';
  throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `${now}: BullMQ needs a redis:// or rediss:// URL over TCP. Set ${source} to the Redis your workers use (Upstash gives one too).`);
}

/** An error message without the URL (it may carry a password). */
function clean(err: unknown, url: string): string {
  return redactSecrets(messageOf(err)).split(url).join('[queue redis]').slice(0, 300);
}

export interface QueueHandle {
  queue: Queue;
  /** BullMQ's Job class (loaded with the queue). */
  Job: typeof import('bullmq').Job;
  /** Raw commands on the queue Redis, for what BullMQ has no call for (counts by age, job names). */
  redis: RedisClient;
  prefix: string;
  key(suffix: string): string;
}

/**
 * Open a queue by name, run `fn`, close everything. The queue must exist (`<prefix>:<name>:meta`), else
 * 404: a typo must not look like an empty queue. The check runs before BullMQ is constructed, and the Queue
 * is opened with `skipMetasUpdate` so Opsbook never writes a queue's meta hash (which would create it).
 */
export async function withQueue<T>(ctx: ActionContext, name: string, fn: (h: QueueHandle) => Promise<T>): Promise<T> {
  const url = queueRedisUrl(ctx);
  const prefix = ctx.config.checks.queues.prefix;
  const timeoutMs = ctx.deps.env.OPSBOOK_DEPENDENCY_TIMEOUT_MS;
  // Loaded on use: bullmq (with ioredis) costs ~0.3 s to import, and every admin route loads this file
  // through the registry.
  const [{ Queue, Job }, { createTcpRedis }] = await Promise.all([import('bullmq'), import('../redis/tcp.js')]);
  const redis = createTcpRedis(url, { callTimeoutMs: timeoutMs });
  try {
    let exists: number;
    try {
      exists = await redis.command<number>(['EXISTS', `${prefix}:${name}:meta`]);
    } catch (err) {
      throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `The queue Redis did not answer: ${clean(err, url)}`, { cause: err });
    }
    if (exists !== 1) {
      throw new OpsbookError('NOT_FOUND', `No queue "${name}" with prefix "${prefix}" (no ${prefix}:${name}:meta key). Check the name, and checks.queues.prefix in the config.`);
    }
    const queue = new Queue(name, {
      prefix,
      skipMetasUpdate: true,
      connection: {
        url,
        connectTimeout: timeoutMs,
        commandTimeout: timeoutMs,
        maxRetriesPerRequest: 1,
        retryStrategy: (times: number) => (times > 2 ? null : 200),
      },
    });
    // BullMQ emits connection errors as events; the calls below reject on their own.
    queue.on('error', () => undefined);
    try {
      return await fn({ queue, Job, redis, prefix, key: (s) => `${prefix}:${name}:${s}` });
    } catch (err) {
      if (err instanceof OpsbookError) throw err;
      throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `The queue Redis failed: ${clean(err, url)}`, { cause: err });
    } finally {
      await withTimeout(queue.close(), timeoutMs, 'queue close').catch(() => queue.disconnect().catch(() => undefined));
    }
  } finally {
    await redis.close();
  }
}

/** Names (and a time field) of some jobs, by id: one pipeline of HMGETs. Never `data`. */
export async function jobSummaries(h: QueueHandle, ids: string[], timeField: 'finishedOn' | 'timestamp' = 'finishedOn'): Promise<Array<{ id: string; name: string | null; at: string | null; attemptsMade: number | null }>> {
  if (ids.length === 0) return [];
  const res = await h.redis.pipeline(ids.map((id) => ['HMGET', h.key(id), 'name', timeField, 'atm']));
  return ids.map((id, i) => {
    const slot = res[i];
    const [name, at, atm] = slot?.ok && Array.isArray(slot.value) ? (slot.value as Array<string | null>) : [null, null, null];
    const ms = at ? Number(at) : NaN;
    return { id, name: name ?? null, at: Number.isFinite(ms) ? new Date(ms).toISOString() : null, attemptsMade: atm ? Number(atm) : null };
  });
}

export type AuditEntryAfter = Parameters<typeof auditRow>[1];

/**
 * A queue action: `fn` works on the open queue and returns its answer plus, for a real run, the audit
 * entry; the queue is closed before the audit row is written, so a Postgres failure is not reported as
 * a queue failure (nor the other way round).
 */
export async function queueAction(
  ctx: ActionContext,
  name: string,
  fn: (h: QueueHandle) => Promise<{ result: ActionResult; audit?: AuditEntryAfter }>,
): Promise<ActionResult> {
  const { result, audit } = await withQueue(ctx, name, fn);
  return audit ? { ...result, auditId: await auditAfter(ctx, audit) } : result;
}

// ---------------------------------------------------------------------------------------------------
// queues.retry

export const schema = z.object({
  queue: queueName,
  /** At most this many failed jobs, the oldest first. @default 100 */
  limit: z.number().int().min(1).max(1000).default(100),
});
export type Params = z.output<typeof schema>;

/** Jobs retried concurrently (each is one BullMQ script call; ioredis pipelines them on one connection). */
const RETRY_CONCURRENCY = 50;

/**
 * `POST /api/admin/queues/retry` `{"queue":"email","limit":100}` — runbook 003's "retry failed jobs",
 * bounded: the `limit` oldest failed jobs, each through BullMQ's own `job.retry('failed')` (the script
 * that moves it back to wait, or prioritized, and respects a paused queue). Not `queue.retryJobs()`: that
 * loops until every failed job is retried, whatever the count. Retrying is what the runbook prescribes
 * and is not destructive, so it runs without a confirm step; the dry run shows what would be retried.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'queues.retry',
  method: 'POST',
  path: '/api/admin/queues/retry',
  role: 'operate',
  summary: 'Retry the oldest failed jobs of a BullMQ queue (bounded)',
  schema,
  confirm: false,
  mutates: true,
  run: (ctx, params, { dryRun }) =>
    queueAction(ctx, params.queue, async (h) => {
      const failed = await h.queue.getFailedCount();
      const wanted = Math.min(failed, params.limit);
      if (dryRun) {
        const ids = wanted ? await h.queue.getRanges(['failed'], 0, Math.min(wanted, SAMPLE) - 1, true) : [];
        return {
          result: {
            status: wanted ? 'ok' : 'noop',
            dryRun,
            summary: wanted
              ? `Would retry ${wanted} of ${failed} failed job(s) in ${params.queue}, the oldest first${failed > wanted ? ` (limit ${params.limit})` : ''}.`
              : `No failed jobs in ${params.queue}.`,
            count: wanted,
            sample: await jobSummaries(h, ids),
            data: { failed },
          },
        };
      }
      const started = performance.now();
      const ids = wanted ? await h.queue.getRanges(['failed'], 0, wanted - 1, true) : [];
      const retried: string[] = [];
      const problems: Array<{ id: string; error: string }> = [];
      let notReached = 0;
      for (let i = 0; i < ids.length; i += RETRY_CONCURRENCY) {
        if (performance.now() - started > QUEUE_BUDGET_MS) {
          notReached = ids.length - i;
          break;
        }
        await Promise.all(
          ids.slice(i, i + RETRY_CONCURRENCY).map(async (id) => {
            try {
              const job = await h.Job.fromId(h.queue, id);
              if (!job) return void problems.push({ id, error: 'gone (removed since it was listed)' });
              await job.retry('failed');
              retried.push(id);
            } catch (err) {
              // Typically "not in the failed state": a worker or another caller moved it meanwhile.
              problems.push({ id, error: redactSecrets(messageOf(err)).slice(0, 200) });
            }
          }),
        );
      }
      const status = ids.length === 0 ? 'noop' : problems.length || notReached ? 'partial' : 'ok';
      return {
        result: {
          status,
          dryRun,
          summary:
            ids.length === 0
              ? `No failed jobs in ${params.queue}.`
              : `Retried ${retried.length} of ${failed} failed job(s) in ${params.queue}` +
                `${problems.length ? `; ${problems.length} could not be retried` : ''}${notReached ? `; ${notReached} not reached within the time limit (repeat to continue)` : ''}.`,
          count: retried.length,
          sample: await jobSummaries(h, retried.slice(0, SAMPLE), 'timestamp'),
          results: problems.slice(0, SAMPLE),
          data: { failedBefore: failed, notReached },
        },
        audit: {
          action: 'queues.retry',
          target: `queue:${params.queue}`,
          params,
          before: { failed },
          after: { retried: retried.length, problems: problems.length, notReached },
          result: status,
        },
      };
    }),
};
