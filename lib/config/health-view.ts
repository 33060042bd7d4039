import * as z from 'zod';
import { scheduleSchema } from '../checklists/schedule.js';
import type { ScheduledChecklist } from '../checklists/missed.js';

/**
 * The health route's view of the config: only what missed-run detection needs. Parsing the whole config
 * would load the task registry and every check family into the health function's cold start.
 */
const view = z.looseObject({
  checklists: z
    .array(z.looseObject({ id: z.string(), schedule: scheduleSchema, graceMinutes: z.number().int().min(0).default(60) }))
    .default([]),
});

/** The scheduled checklists of a raw config; an unreadable config yields none (getConfig reports it elsewhere). */
export function scheduledChecklists(raw: unknown): ScheduledChecklist[] {
  const parsed = view.safeParse(raw ?? {});
  return parsed.success ? parsed.data.checklists.map((c) => ({ id: c.id, schedule: c.schedule, graceMinutes: c.graceMinutes })) : [];
}
