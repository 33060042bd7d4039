import type { OpsbookConfig } from '../lib/config/index.js';
import type { Deps } from '../lib/deps.js';
import type { MonitorConfig } from '../lib/sentry.js';
import { toVercelCron } from '../lib/checklists/schedule.js';
import { runChecklistJob } from './checklist.js';

export interface Job {
  name: string;
  /** The vercel.json schedule (UTC). */
  schedule: string;
  monitor: MonitorConfig;
  run(deps: Deps, now: Date): Promise<unknown>;
}

/** Every scheduled job the config defines: one per checklist on a schedule (a manual one has no cron), named by its id. */
export function jobsFor(config: OpsbookConfig): Job[] {
  return config.checklists.flatMap((list) => {
    const schedule = toVercelCron(list.schedule);
    if (schedule === undefined) return [];
    return {
      name: list.id,
      schedule,
      monitor: {
        schedule: { type: 'crontab', value: schedule },
        checkinMargin: list.sentry.checkinMargin,
        maxRuntime: list.sentry.maxRuntime,
        timezone: 'UTC',
      },
      run: (deps, now) => runChecklistJob(deps, config, list.id, now),
    };
  });
}

/** The `crons` section of vercel.json, generated from the config (`npm run crons`). */
export function vercelCrons(config: OpsbookConfig): Array<{ path: string; schedule: string }> {
  return jobsFor(config).map((j) => ({ path: `/api/cron/${j.name}`, schedule: j.schedule }));
}
