import { verifyCronSecret } from './auth.js';
import type { OpsbookConfig } from './config/index.js';
import type { Deps } from './deps.js';
import { OpsbookError } from './errors.js';
import { jobsFor } from '../cron/index.js';

/**
 * The cron entry point, without HTTP: check the secret first (so an unknown job name tells an
 * unauthenticated caller nothing), then run the job inside a Sentry cron monitor check-in when Sentry
 * is on, and always flush before returning: a frozen serverless instance sends nothing.
 */
export async function handleCron(request: Request, deps: Deps, config: OpsbookConfig, jobName: string, now: Date): Promise<unknown> {
  verifyCronSecret(request, deps.env, (msg) => deps.log('warn', msg));
  const job = jobsFor(config).find((j) => j.name === jobName);
  if (!job) throw new OpsbookError('NOT_FOUND', `No cron job named "${jobName.slice(0, 64)}".`);
  try {
    return await deps.errors.withMonitor(`opsbook-${job.name}`, () => job.run(deps, now), job.monitor);
  } catch (err) {
    await deps.errors.captureException(err, { tags: { job: job.name } });
    throw err;
  } finally {
    await deps.errors.flush();
  }
}
