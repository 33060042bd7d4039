import type { Deps } from '../lib/deps.js';
import { ensureSchema } from '../lib/db/schema.js';
import { messageOf } from '../lib/errors.js';
import { redactSecrets } from '../lib/env.js';

export type DailyResult =
  | { job: 'daily'; status: 'ok'; period: string; runId: number; startedAt: string; finishedAt: string }
  | { job: 'daily'; status: 'already-ran'; period: string; runId: number };

/** The UTC day a run belongs to: a run at 23:59 and one at 00:01 belong to different days. */
export function dailyPeriod(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/**
 * The daily job: claims its UTC day exactly once (a second delivery of the same event finds the row
 * and stops), then records that it ran. Checklists build on this claim.
 */
export async function runDaily(deps: Pick<Deps, 'db'>, now: Date): Promise<DailyResult> {
  const { db } = deps;
  await ensureSchema(db);
  const period = dailyPeriod(now);
  const claimed = await db.query<{ id: string }>(
    `INSERT INTO opsbook.job_runs (job, period, status, started_at) VALUES ('daily', $1, 'running', $2)
     ON CONFLICT (job, period) DO NOTHING RETURNING id`,
    [period, now.toISOString()],
  );
  const row = claimed.rows[0];
  if (!row) {
    const existing = await db.query<{ id: string }>(`SELECT id FROM opsbook.job_runs WHERE job = 'daily' AND period = $1`, [period]);
    return { job: 'daily', status: 'already-ran', period, runId: Number(existing.rows[0]?.id ?? 0) };
  }
  const runId = Number(row.id);
  try {
    const finishedAt = new Date();
    await db.query(`UPDATE opsbook.job_runs SET status = 'ok', finished_at = $2, summary = $3 WHERE id = $1`, [
      runId,
      finishedAt.toISOString(),
      JSON.stringify({ items: 0 }),
    ]);
    return { job: 'daily', status: 'ok', period, runId, startedAt: now.toISOString(), finishedAt: finishedAt.toISOString() };
  } catch (err) {
    await db
      .query(`UPDATE opsbook.job_runs SET status = 'failed', finished_at = now(), error = $2 WHERE id = $1`, [runId, redactSecrets(messageOf(err))])
      .catch(() => undefined);
    throw err;
  }
}
