import type { Deps } from '../deps.js';
import type { ReportItem, ReportModel, TrendPoint } from '../report/index.js';

const DAY_MS = 86_400_000;

/**
 * Trends for the report, from the snapshots diagnostics store: one read for the last 30 days of
 * database size and queue failures (the latest snapshot of each day), plus what this run's items say.
 */
export async function loadTrends(deps: Deps, items: ReportItem[], now: Date): Promise<ReportModel['trends']> {
  const since = new Date(now.getTime() - 30 * DAY_MS).toISOString();
  const { rows } = await deps.db.query<{ kind: string; day: string; data: unknown }>(
    `SELECT DISTINCT ON (kind, day) kind, day, data FROM (
       SELECT kind, to_char(taken_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, taken_at, data
       FROM opsbook.snapshots WHERE kind IN ('database_size', 'queue_counts') AND taken_at >= $1 AND taken_at <= $2
     ) s ORDER BY kind, day, taken_at DESC`,
    [since, now.toISOString()],
  );
  const databaseSize: TrendPoint[] = [];
  const queueFailures: TrendPoint[] = [];
  for (const r of rows) {
    const data = (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown>;
    if (r.kind === 'database_size' && typeof data?.bytes === 'number') databaseSize.push({ date: r.day, value: data.bytes });
    if (r.kind === 'queue_counts' && data && typeof data === 'object') {
      let failed = 0;
      for (const counts of Object.values(data)) failed += Number((counts as Record<string, unknown>)?.failed ?? 0) || 0;
      queueFailures.push({ date: r.day, value: failed });
    }
  }
  const slow = items.find((i) => i.id === 'postgres.slow-queries');
  const heartbeats = items
    .filter((i) => i.id.startsWith('heartbeat.'))
    .map((i) => {
      const d = (i.details?.[0] ?? {}) as Record<string, unknown>;
      const last = typeof d.lastSuccess === 'string' ? Date.parse(d.lastSuccess) : NaN;
      return {
        name: i.id.slice('heartbeat.'.length),
        state: typeof d.state === 'string' ? d.state : i.status,
        lastSuccessAgeSeconds: Number.isFinite(last) ? Math.round((now.getTime() - last) / 1000) : undefined,
      };
    });
  const newSlow = slow?.details?.filter((d) => (d as Record<string, unknown>).new === true).length;
  return {
    ...(databaseSize.length ? { databaseSize } : {}),
    ...(queueFailures.length ? { queueFailures } : {}),
    ...(newSlow !== undefined ? { newSlowQueries: newSlow } : {}),
    ...(heartbeats.length ? { heartbeats } : {}),
  };
}
