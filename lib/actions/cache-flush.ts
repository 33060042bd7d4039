import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { OpsbookError } from '../errors.js';
import { protectedKeys } from '../redis/protected-keys.js';
import { keptText, sweep } from '../redis/sweep.js';
import { guardedRedis } from './cache-delete.js';
import { auditAfter } from '../admin/audit.js';

export const schema = z.object({
  /**
   * No longer honoured: the flush never deletes BullMQ queues. `true` is refused with a pointer to
   * /api/admin/queues/clean, so a client written for the old behaviour is told rather than ignored.
   */
  includeQueues: z.boolean().optional(),
});
export type Params = z.output<typeof schema>;

/** Time one request spends scanning and deleting; the rest is left for a repeat. */
const BUDGET_MS = 25_000;

/**
 * `POST /api/admin/cache/flush` `{}` — runbook 001/004's `FLUSHDB`: every cache key of the selected
 * Redis database goes. Admin role, with confirm. It is NOT a FLUSHDB: the same Redis usually holds
 * BullMQ's queues and Opsbook's own rate-limit state, and a FLUSHDB would take every job with it. So the
 * whole keyspace is walked with SCAN, each key judged by lib/redis/protected-keys.ts, and the rest
 * UNLINKed in batches (lib/redis/sweep.ts). The dry run counts what would go and what is kept, by reason.
 * A keyspace too large for one request's time budget answers `partial`; a repeat continues.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'cache.flush',
  method: 'POST',
  path: '/api/admin/cache/flush',
  role: 'admin',
  summary: 'Delete every key of the Redis database except BullMQ queues and Opsbook\'s own (SCAN + UNLINK)',
  schema,
  confirm: true,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    if (params.includeQueues) {
      throw new OpsbookError('BAD_REQUEST', 'includeQueues: the cache flush never deletes BullMQ queues; remove jobs with /api/admin/queues/clean (admin, with confirm).');
    }
    const redis = guardedRedis(ctx.deps.redis);
    const guard = protectedKeys(redis, { queuePrefix: ctx.config.checks.queues.prefix, keyPrefix: ctx.config.redisKeyPrefix });
    const where = redis.shared ? '' : ' (in-memory fallback: this instance only)';
    const audit = (count: number, status: string, extra: Record<string, unknown> = {}) =>
      auditAfter(ctx, { action: 'cache.flush', target: 'redis', params, after: { deleted: count, ...extra }, result: status });
    const r = await sweep(redis, guard, { dryRun, budgetMs: BUDGET_MS, onPartialFailure: (n) => audit(n, 'partial', { complete: false, error: 'redis failed' }) });
    const keptNote = r.kept.count ? `; ${keptText(r.kept)}` : '';
    const data = { scanCalls: r.scanCalls, complete: r.complete, skipped: r.kept };
    if (dryRun) {
      return {
        status: r.count ? 'ok' : 'noop',
        dryRun,
        summary: `Would delete ${r.approx ? 'at least ' : ''}${r.count} key(s) of this Redis database${where}${keptNote}${r.complete ? '' : ` (the scan stopped at the time limit after ${r.scanCalls} calls; the flush continues where a repeat left off)`}.`,
        count: r.count,
        sample: r.sample,
        data,
      };
    }
    const status = r.count === 0 ? 'noop' : r.complete ? 'ok' : 'partial';
    return {
      status,
      dryRun,
      summary: `Flushed this Redis database: ${r.count} key(s) deleted${where}${keptNote}${r.complete ? '' : '; stopped at the time limit with keys left (repeat to continue)'}.`,
      count: r.count,
      sample: r.sample,
      data,
      auditId: await audit(r.count, status, { complete: r.complete, skipped: r.kept.count, skippedByReason: r.kept.byReason }),
    };
  },
};
