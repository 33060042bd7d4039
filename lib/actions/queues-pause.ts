import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { queueAction, queueName } from './queues-retry.js';

export const schema = z.object({
  queue: queueName,
});
export type Params = z.output<typeof schema>;

/**
 * Pause or resume a queue globally through BullMQ (`queue.pause()` / `queue.resume()`): workers finish
 * the jobs they hold and take no new ones; new jobs still queue up. Pausing a paused queue is a no-op,
 * still audited. The `queues.stuck` check reports a paused queue with waiting jobs, so a forgotten pause
 * shows up in diagnostics.
 */
function pauseOrResume(pause: boolean): ActionDefinition<typeof schema> {
  const verb = pause ? 'pause' : 'resume';
  const id = `queues.${verb}`;
  return {
    id,
    method: 'POST',
    path: `/api/admin/queues/${verb}`,
    role: 'operate',
    summary: pause ? 'Pause a BullMQ queue (workers take no new jobs)' : 'Resume a paused BullMQ queue',
    schema,
    confirm: false,
    mutates: true,
    run: (ctx, params, { dryRun }) =>
      queueAction(ctx, params.queue, async (h) => {
        const wasPaused = await h.queue.isPaused();
        const changes = wasPaused !== pause;
        const counts = await h.queue.getJobCounts('waiting', 'active');
        const state = pause ? 'paused' : 'running';
        if (dryRun) {
          return {
            result: {
              status: changes ? 'ok' : 'noop',
              dryRun,
              summary: changes
                ? `Would ${verb} ${params.queue} (${counts.waiting ?? 0} waiting, ${counts.active ?? 0} active${pause ? ': active jobs finish, no new ones start' : ''}).`
                : `${params.queue} is already ${state}.`,
              count: changes ? 1 : 0,
              sample: [{ queue: params.queue, paused: wasPaused, ...counts }],
            },
          };
        }
        if (changes) await (pause ? h.queue.pause() : h.queue.resume());
        const isPaused = await h.queue.isPaused();
        const status = changes ? 'ok' : 'noop';
        return {
          result: {
            status,
            dryRun,
            summary: changes ? `${params.queue} ${pause ? 'paused' : 'resumed'}.` : `${params.queue} was already ${state}.`,
            count: changes ? 1 : 0,
            sample: [{ queue: params.queue, paused: isPaused, ...counts }],
          },
          audit: { action: id, target: `queue:${params.queue}`, params, before: { paused: wasPaused }, after: { paused: isPaused }, result: status },
        };
      }),
  };
}

/** `POST /api/admin/queues/pause` `{"queue":"email"}`. */
export const pause = pauseOrResume(true);
/** `POST /api/admin/queues/resume` `{"queue":"email"}`. */
export const resume = pauseOrResume(false);
