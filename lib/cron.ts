import { verifyCronSecret } from './auth.js';
import type { Deps } from './deps.js';
import { OpsbookError } from './errors.js';
import { JOBS, type JobName, type JobResult } from '../cron/index.js';

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

/**
 * The cron entry point, without HTTP: check the secret first (so an unknown job name tells an
 * unauthenticated caller nothing), then run the job inside a Sentry cron monitor when Sentry is on,
 * and always flush before returning.
 */
export async function handleCron(request: Request, deps: Deps, jobName: string, now: Date): Promise<JobResult> {
  verifyCronSecret(request, deps.env, (msg) => deps.log('warn', msg));
  if (!isJobName(jobName)) throw new OpsbookError('NOT_FOUND', `No cron job named "${jobName.slice(0, 64)}".`);
  const job = JOBS[jobName];
  try {
    return await deps.errors.withMonitor(`opsbook-${jobName}`, () => job.run(deps, now));
  } catch (err) {
    await deps.errors.captureException(err, { tags: { job: jobName } });
    throw err;
  } finally {
    await deps.errors.flush();
  }
}
