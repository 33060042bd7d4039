import { verifyCronSecret } from './auth.js';
import type { OpsbookConfig } from './config/index.js';
import type { Deps } from './deps.js';
import { OpsbookError } from './errors.js';
import { jobsFor } from '../cron/index.js';
import { ensureSchema } from './db/schema.js';
import { messageOf } from './errors.js';
import { redactSecrets } from './env.js';
import { openWindows } from './alerts/maintenance.js';
import { raiseMissedRuns, type RaisedMissedRun } from './alerts/missed.js';
import { withNotificationBudget } from './notify/budget.js';

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
    // Any invocation raises the runs other checklists missed: Vercel does not retry a failed cron, and
    // this is the next moment Opsbook runs at all. It never stops the job itself.
    // Its notifications (missed runs, what earlier invocations left pending, the run's own) share one budget.
    return await withNotificationBudget(config.notifications.budgetMs, async () => {
      const missedRuns = await raiseMissed(deps, config, now, job.name);
      const result = await deps.errors.withMonitor(`opsbook-${job.name}`, () => job.run(deps, now), job.monitor);
      return missedRuns.length && result && typeof result === 'object' ? { ...result, missedRuns } : result;
    });
  } catch (err) {
    await deps.errors.captureException(err, { tags: { job: job.name } });
    throw err;
  } finally {
    await deps.errors.flush();
  }
}

async function raiseMissed(deps: Deps, config: OpsbookConfig, now: Date, jobName: string): Promise<RaisedMissedRun[]> {
  try {
    await ensureSchema(deps.db);
    // A window over every check is planned downtime for Opsbook too: the miss is recorded, not alerted.
    const muted = openWindows(config.maintenanceWindows, now).some((w) => !w.checks);
    return await raiseMissedRuns(deps, config, now, `cron:${jobName}`, muted);
  } catch (err) {
    deps.log('warn', `missed-run detection skipped: ${redactSecrets(messageOf(err))}`);
    return [];
  }
}
