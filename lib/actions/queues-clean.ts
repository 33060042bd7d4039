import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { durationField, durationMs } from '../admin/fields.js';
import { jobSummaries, QUEUE_BUDGET_MS, queueAction, queueName, SAMPLE } from './queues-retry.js';

export const schema = z.object({
  queue: queueName,
  state: z.enum(['failed', 'completed']),
  /** Only jobs that finished longer ago than this ("7d", "24h", "30m"); every one when omitted. */
  olderThan: durationField.optional(),
});
export type Params = z.output<typeof schema>;

/** Jobs removed per BullMQ call: each call is one Lua script, which blocks Redis while it runs. */
const BATCH = 1000;

/**
 * `POST /api/admin/queues/clean` `{"queue":"email","state":"failed","olderThan":"7d"}` — runbook 003's
 * "clear failed jobs", done right. The runbook's `DEL bull:email:failed` deletes only the sorted set of
 * ids: every job's hash (`bull:email:<id>`, with its data) and logs stay behind, unreachable, forever.
 * BullMQ's `queue.clean(grace, limit, state)` removes each job with its hash, logs and dependencies, in
 * batches of 1000, until none is left or the time limit (a repeat continues). Admin role, with confirm.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'queues.clean',
  method: 'POST',
  path: '/api/admin/queues/clean',
  role: 'admin',
  summary: 'Remove failed or completed jobs (with their data) from a BullMQ queue',
  schema,
  confirm: true,
  mutates: true,
  run: (ctx, params, { dryRun }) =>
    queueAction(ctx, params.queue, async (h) => {
      const graceMs = params.olderThan ? durationMs(params.olderThan) : 0;
      const setKey = h.key(params.state);
      const age = params.olderThan ? ` that finished more than ${params.olderThan} ago` : '';
      // The sets are scored by finish time (ms); clean takes exactly those up to now - grace.
      const cutoff = ctx.now.getTime() - graceMs;
      const [total, matching] = await Promise.all([h.redis.command<number>(['ZCARD', setKey]), h.redis.command<number>(['ZCOUNT', setKey, '-inf', cutoff])]);
      if (dryRun) {
        const ids = matching ? await h.redis.command<string[]>(['ZRANGEBYSCORE', setKey, '-inf', cutoff, 'LIMIT', 0, SAMPLE]) : [];
        return {
          result: {
            status: matching ? 'ok' : 'noop',
            dryRun,
            summary: matching
              ? `Would remove ${matching} ${params.state} job(s)${age} from ${params.queue}, each with its data and logs (${total} ${params.state} in all).`
              : `No ${params.state} jobs${age} in ${params.queue} (${total} ${params.state} in all).`,
            count: Number(matching),
            sample: await jobSummaries(h, ids.map(String)),
            data: { total: Number(total) },
          },
        };
      }
      const started = performance.now();
      const removed: string[] = [];
      let removedCount = 0;
      let stoppedEarly = false;
      for (;;) {
        const ids = await h.queue.clean(graceMs, BATCH, params.state);
        removed.push(...ids.slice(0, Math.max(0, SAMPLE - removed.length)));
        removedCount += ids.length;
        if (ids.length < BATCH) break;
        if (performance.now() - started > QUEUE_BUDGET_MS) {
          stoppedEarly = true;
          break;
        }
      }
      const status = removedCount === 0 ? 'noop' : stoppedEarly ? 'partial' : 'ok';
      return {
        result: {
          status,
          dryRun,
          summary:
            removedCount === 0
              ? `No ${params.state} jobs${age} in ${params.queue}.`
              : `Removed ${removedCount} ${params.state} job(s)${age} from ${params.queue}, with their data${stoppedEarly ? '; stopped at the time limit with more left (repeat to continue)' : ''}.`,
          count: removedCount,
          sample: removed.map((id) => ({ id })),
        },
        audit: {
          action: 'queues.clean',
          target: `queue:${params.queue}`,
          params,
          before: { [params.state]: Number(total) },
          after: { removed: removedCount, stoppedEarly },
          result: status,
        },
      };
    }),
};
