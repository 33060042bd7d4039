import type { Schedule } from './schedule.js';
import type { Statement } from '../db/index.js';
import { periodOf, previousRun } from './schedule.js';

export interface MissedRun {
  checklist: string;
  /** The run that should have happened. */
  expectedAt: string;
  period: string;
  /** The last completed run, if any. */
  lastRunAt?: string;
  /**
   * The run started but its process died: it is `running` with its lease lapsed. Not alerted: the next
   * invocation (any checklist's cron, or health after its answer) takes it over within its period.
   */
  dead?: true;
}

/** A run whose process died this often is not taken over again: something kills it every time. */
export const MAX_TAKEOVER_ATTEMPTS = 3;

/**
 * A checklist has missed a run when its most recent scheduled run (at least `graceMinutes` ago) has no
 * completed run row, although the checklist had run before that run was due. Vercel does not retry a failed cron, so
 * this is how a missed morning report becomes visible. A checklist that has never run is not "missed":
 * a fresh install is not an outage.
 */
/** What missed-run detection needs of a checklist (the health route reads only this much of the config). */
export interface ScheduledChecklist {
  id: string;
  schedule: Schedule;
  graceMinutes: number;
}

export function missedRunsStatement(config: { checklists: ScheduledChecklist[] }, now: Date): { statement: Statement; evaluate(rows: Array<Record<string, unknown>>): MissedRun[] } {
  const expected = config.checklists.map((c) => {
    const graceMs = c.graceMinutes * 60_000;
    const at = previousRun(c.schedule, new Date(now.getTime() - graceMs));
    // The period running now, where a dead run is looked for (within grace, `at` is the previous one).
    const currentAt = previousRun(c.schedule, now);
    return { id: c.id, at, period: at ? periodOf(at) : undefined, currentAt, current: currentAt ? periodOf(currentAt) : undefined };
  });
  const due = expected.filter((e) => e.at || e.currentAt);
  const statement: Statement = {
    // lease_until is read through to_jsonb: health never migrates, and on a database an older Opsbook
    // migrated (no lease column yet) this still answers, with no dead runs, instead of failing.
    text: `SELECT e.job,
             (SELECT max(r.started_at) FROM opsbook.job_runs r WHERE r.job = e.job AND r.status = 'ok') AS last_ok,
             EXISTS (SELECT 1 FROM opsbook.job_runs r WHERE r.job = e.job AND r.period = e.period AND r.status = 'ok') AS done,
             EXISTS (SELECT 1 FROM opsbook.job_runs r WHERE r.job = e.job AND r.status = 'ok' AND r.started_at < e.at) AS ran_before,
             EXISTS (SELECT 1 FROM opsbook.job_runs r WHERE r.job = e.job AND r.period = e.current AND r.status = 'running'
                       AND (to_jsonb(r) ->> 'lease_until')::timestamptz < $4 AND r.attempts < $5) AS dead
           FROM unnest($1::text[], $2::text[], $3::text[], $6::timestamptz[]) AS e(job, period, current, at)`,
    params: [due.map((e) => e.id), due.map((e) => e.period ?? null), due.map((e) => e.current ?? null), now.toISOString(), MAX_TAKEOVER_ATTEMPTS, due.map((e) => e.at?.toISOString() ?? null)],
  };
  return {
    statement,
    evaluate(rows) {
      const missed: MissedRun[] = [];
      for (const r of rows) {
        const e = due.find((d) => d.id === r.job)!;
        const lastRunAt = r.last_ok ? new Date(r.last_ok as string).toISOString() : undefined;
        if (r.dead === true) {
          missed.push({ checklist: e.id, expectedAt: e.currentAt!.toISOString(), period: e.current!, ...(lastRunAt ? { lastRunAt } : {}), dead: true });
          if (e.current === e.period) continue;
        }
        // Missed only if the checklist had run before that run was due: its first run ever (a fresh
        // install, or a run taken over) does not make the period before it a miss.
        if (!e.at || !lastRunAt || r.ran_before !== true || r.done === true) continue;
        missed.push({ checklist: e.id, expectedAt: e.at.toISOString(), period: e.period!, lastRunAt });
      }
      return missed;
    },
  };
}
