import type { Deps } from '../deps.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import { missedRunsStatement, type MissedRun, type ScheduledChecklist } from '../checklists/missed.js';
import type { HealthResult } from '../health.js';
import { afterResponse, type RequestContext } from '../http.js';

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
export async function raiseMissedRuns(
  deps: Pick<Deps, 'db' | 'errors' | 'log'>,
  config: { service?: string; checklists: ScheduledChecklist[] },
  now: Date,
  raisedBy: string,
  muted = false,
): Promise<RaisedMissedRun[]> {
  if (config.checklists.length === 0) return [];
  const { statement, evaluate } = missedRunsStatement(config, now);
  const found = evaluate((await deps.db.query(statement.text, statement.params)).rows);
  const out: RaisedMissedRun[] = [];
  for (const m of found) {
    const claimed = await deps.db.query(
      `INSERT INTO opsbook.missed_alerts (checklist, period, expected_at, raised_at, raised_by, muted) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (checklist, period) DO NOTHING RETURNING checklist`,
      [m.checklist, m.period, m.expectedAt, now.toISOString(), raisedBy.slice(0, 100), muted],
    );
    const raised = claimed.rows.length > 0;
    out.push({ ...m, raised });
    if (!raised || muted) continue;
    try {
      await deps.errors.captureMessage(
        `${config.service ?? 'Opsbook'} · ${m.checklist} missed its run for ${m.period} (expected ${m.expectedAt}; last run ${m.lastRunAt ?? 'never'})`,
        { level: 'error', tags: { checklist: m.checklist, alert: 'missed-run', period: m.period }, fingerprint: ['opsbook', 'missed-run', m.checklist, m.period] },
      );
    } catch (err) {
      deps.log('error', `missed-run alert for ${m.checklist} ${m.period} not sent: ${redactSecrets(messageOf(err))}`);
    }
  }
  return out;
}

/**
 * /api/health's part: when its answer shows missed runs, raise them after the answer is built (through
 * the platform's waitUntil), so the poll that notices a miss is also the one that alerts.
 */
export async function raiseMissedAfterHealth(
  deps: Pick<Deps, 'db' | 'errors' | 'log'>,
  result: HealthResult,
  config: { checklists: ScheduledChecklist[] },
  context: RequestContext,
): Promise<void> {
  if (!result.details.checklists?.missed.length) return;
  await afterResponse(
    context,
    () => raiseMissedRuns(deps, config, new Date(), 'health'),
    (err) => deps.log('warn', `missed-run alert not raised: ${redactSecrets(messageOf(err))}`),
  );
}
