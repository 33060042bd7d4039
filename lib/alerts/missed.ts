import { withNotificationBudget } from '../notify/budget.js';
import type { Deps } from '../deps.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import { missedRunsStatement, type MissedRun, type ScheduledChecklist } from '../checklists/missed.js';
import type { HealthResult } from '../health.js';
import { afterResponse, type RequestContext } from '../http.js';
import type { NotificationsConfig } from '../config/schema.js';

export interface RaisedMissedRun extends MissedRun {
  /** This invocation claimed the alert (false: another one already raised it). */
  raised: boolean;
}

/**
 * Missed checklist runs become alerts of their own: every cron invocation (and /api/health, after its
 * answer) looks for them and raises each (checklist, period) once. The claim is a conditional insert,
 * so two instances finding the same missed run send one alert. `muted` (maintenance) records the miss
 * without alerting.
 */
export function raiseMissedRuns(
  deps: Pick<Deps, 'db' | 'errors' | 'log'>,
  config: { service?: string; checklists: ScheduledChecklist[]; notifications?: NotificationsConfig },
  now: Date,
  raisedBy: string,
  muted = false,
): Promise<RaisedMissedRun[]> {
  // Several misses found at once share one notification budget (and the cron invocation's, inside one).
  return withNotificationBudget(config.notifications?.budgetMs ?? 0, () => raiseEach(deps, config, now, raisedBy, muted));
}

async function raiseEach(
  deps: Pick<Deps, 'db' | 'errors' | 'log'>,
  config: { service?: string; checklists: ScheduledChecklist[]; notifications?: NotificationsConfig },
  now: Date,
  raisedBy: string,
  muted = false,
): Promise<RaisedMissedRun[]> {
  if (config.checklists.length === 0) return [];
  const { statement, evaluate } = missedRunsStatement(config, now);
  const found = evaluate((await deps.db.query(statement.text, statement.params)).rows);
  const out: RaisedMissedRun[] = [];
  // A dead run is not missed: it is taken over (runChecklistJob, or health after its answer).
  for (const m of found.filter((f) => !f.dead)) {
    const claimed = await deps.db.query(
      `INSERT INTO opsbook.missed_alerts (checklist, period, expected_at, raised_at, raised_by, muted) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (checklist, period) DO NOTHING RETURNING checklist`,
      [m.checklist, m.period, m.expectedAt, now.toISOString(), raisedBy.slice(0, 100), muted],
    );
    let raised = claimed.rows.length > 0;
    if (raised && !muted && config.notifications?.routes.length) {
      // Slack, webhook and PagerDuty: their own exactly-once rows (lib/notify), loaded only when there is a miss to tell.
      const { notifyMissed } = await import('../notify/deliver.js');
      await notifyMissed(deps, { service: config.service ?? 'Opsbook', notifications: config.notifications }, m, now);
    }
    if (raised && !muted) {
      // Claim, hand over, and release the claim if Sentry did not take the event (down, refusing, too
      // slow): the next invocation or health poll claims it again. Exactly once, give or take an event
      // that Sentry took after the timeout.
      let handed = false;
      try {
        handed = await deps.errors.deliverMessage(
          `${config.service ?? 'Opsbook'} · ${m.checklist} missed its run for ${m.period} (expected ${m.expectedAt}; last run ${m.lastRunAt ?? 'never'})`,
          { level: 'error', tags: { checklist: m.checklist, alert: 'missed-run', period: m.period }, fingerprint: ['opsbook', 'missed-run', m.checklist, m.period] },
        );
      } catch (err) {
        deps.log('error', `missed-run alert for ${m.checklist} ${m.period} not sent: ${redactSecrets(messageOf(err))}`);
      }
      if (!handed) {
        await deps.db
          .query(`DELETE FROM opsbook.missed_alerts WHERE checklist = $1 AND period = $2 AND raised_at = $3 AND raised_by = $4`, [m.checklist, m.period, now.toISOString(), raisedBy.slice(0, 100)])
          .catch((err) => deps.log('error', `missed-run claim for ${m.checklist} ${m.period} not released: ${redactSecrets(messageOf(err))}`));
        deps.log('warn', `missed-run alert for ${m.checklist} ${m.period} not accepted by Sentry; it is raised again by the next invocation`);
        raised = false;
      }
    }
    out.push({ ...m, raised });
  }
  return out;
}

/**
 * /api/health's part: when its answer shows missed or dead runs, act after the answer is built (through
 * the platform's waitUntil), so the poll that notices is also the one that acts: a dead run (its process
 * was killed; a daily cron has no later call that day) is taken over and completed, a missed run is
 * raised. The full config and the run engine are loaded only then, never on a plain health answer.
 */
export async function raiseMissedAfterHealth(
  deps: Deps,
  result: HealthResult,
  config: { service?: string; checklists: ScheduledChecklist[]; notifications?: NotificationsConfig },
  context: RequestContext,
  now: () => Date = () => new Date(),
): Promise<void> {
  const found = result.details.checklists?.missed ?? [];
  if (!found.length) return;
  await afterResponse(
    context,
    async () => {
      const at = now();
      if (found.some((m) => m.dead)) {
        const [{ getConfig }, { takeOverDeadRuns }] = await Promise.all([import('../config/index.js'), import('../checklists/run.js')]);
        await takeOverDeadRuns(deps, await getConfig(), at);
      }
      await raiseMissedRuns(deps, config, at, 'health');
      // The function may be frozen as soon as this settles: whatever else was captured goes out now.
      await deps.errors.flush();
    },
    (err) => deps.log('warn', `missed-run alert not raised: ${redactSecrets(messageOf(err))}`),
  );
}
