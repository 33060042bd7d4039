import type { Deps } from '../lib/deps.js';
import { runDaily, type DailyResult } from './daily.js';

/** Every scheduled job, by the name its route and vercel.json use. One line per job. */
export const JOBS = {
  daily: { run: (deps: Deps, now: Date) => runDaily(deps, now), schedule: '0 9 * * *' },
} as const;

export type JobName = keyof typeof JOBS;
export type JobResult = DailyResult;
