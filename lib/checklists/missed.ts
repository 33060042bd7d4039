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
}

/**
 * A checklist has missed a run when its most recent scheduled run (at least `graceMinutes` ago) has no
 * completed run row, although the checklist has run before. Vercel does not retry a failed cron, so
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
    return { id: c.id, at, period: at ? periodOf(at) : undefined };
  });
  const due = expected.filter((e) => e.at);
  const statement: Statement = {
    text: `SELECT e.job,
             (SELECT max(r.started_at) FROM opsbook.job_runs r WHERE r.job = e.job AND r.status = 'ok') AS last_ok,
             EXISTS (SELECT 1 FROM opsbook.job_runs r WHERE r.job = e.job AND r.period = e.period AND r.status = 'ok') AS done
           FROM unnest($1::text[], $2::text[]) AS e(job, period)`,
    params: [due.map((e) => e.id), due.map((e) => e.period!)],
  };
  return {
    statement,
    evaluate(rows) {
      const missed: MissedRun[] = [];
      for (const r of rows) {
        if (!r.last_ok || r.done === true) continue;
        const e = due.find((d) => d.id === r.job)!;
        missed.push({ checklist: e.id, expectedAt: e.at!.toISOString(), period: e.period!, lastRunAt: new Date(r.last_ok as string).toISOString() });
      }
      return missed;
    },
  };
}
