import type { Deps } from '../deps.js';
import type { MetricTrend, ReportItem, ReportModel, TrendPoint } from '../report/index.js';

const DAY_MS = 86_400_000;

/**
 * Pushed heartbeat metrics (`heartbeat.<name>.<metric>`, whose details name the metric, or any
 * `heartbeat.` id under another heartbeat's) and SQL metrics (`sql.<id>`) in this run.
 */
export function metricItems(items: ReportItem[]): ReportItem[] {
  const heartbeats = new Set(items.filter((i) => i.id.startsWith('heartbeat.')).map((i) => i.id));
  return items.filter((i) => {
    if (i.kind !== 'check') return false;
    if (i.id.startsWith('sql.')) return true;
    if (!i.id.startsWith('heartbeat.')) return false;
    const d = i.details?.[0] as Record<string, unknown> | undefined;
    return typeof d?.metric === 'string' || [...heartbeats].some((h) => h !== i.id && i.id.startsWith(`${h}.`));
  });
}

/**
 * The values checklist runs stored for these items (run_results data.value), the latest run of each
 * UTC day, in one statement for all of them. Runs before `now` only: this run's value is its own item's.
 */
const METRIC_HISTORY_SQL = `SELECT DISTINCT ON (r.item_key, day) r.item_key, day, (r.data->>'value')::float8 AS value
  FROM (SELECT r.*, to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, j.started_at
          FROM opsbook.run_results r JOIN opsbook.job_runs j ON j.id = r.run_id
         WHERE r.item_key = ANY($1::text[]) AND j.started_at >= $2::timestamptz AND j.started_at < $3::timestamptz
           AND jsonb_typeof(r.data->'value') = 'number') r
  ORDER BY r.item_key, day, r.started_at DESC
  LIMIT 10000`;

/** Metric trends, oldest first, today's point being this run's value. One read, whatever the number of metrics. */
export async function loadMetricTrends(deps: Deps, items: ReportItem[], now: Date): Promise<MetricTrend[]> {
  const metrics = metricItems(items);
  if (metrics.length === 0) return [];
  const since = new Date(now.getTime() - 29 * DAY_MS);
  since.setUTCHours(0, 0, 0, 0);
  const { rows } = await deps.db.query<{ item_key: string; day: string; value: number }>(METRIC_HISTORY_SQL, [metrics.map((i) => i.key), since.toISOString(), now.toISOString()]);
  const byKey = new Map<string, TrendPoint[]>();
  for (const r of rows) {
    const v = Number(r.value);
    if (!Number.isFinite(v)) continue;
    const points = byKey.get(r.item_key) ?? [];
    points.push({ date: r.day, value: v });
    byKey.set(r.item_key, points);
  }
  const today = now.toISOString().slice(0, 10);
  const out: MetricTrend[] = [];
  for (const i of metrics) {
    const points = (byKey.get(i.key) ?? []).filter((p) => p.date !== today || typeof i.value !== 'number');
    if (typeof i.value === 'number' && Number.isFinite(i.value)) points.push({ date: today, value: i.value });
    if (points.length === 0) continue;
    out.push({ id: i.id, title: i.title, ...(i.unit ? { unit: i.unit } : {}), points: points.sort((a, b) => a.date.localeCompare(b.date)).slice(-30) });
  }
  return out;
}

/**
 * Trends for the report, from the snapshots diagnostics store: one read for the last 30 days of
 * database size and queue failures (the latest snapshot of each day), one for the metrics' stored
 * values (loadMetricTrends), plus what this run's items say.
 */
export async function loadTrends(deps: Deps, items: ReportItem[], now: Date): Promise<ReportModel['trends']> {
  // The two reads run side by side; a metric read that fails leaves the other trends standing.
  const metricsRead = loadMetricTrends(deps, items, now).catch((): MetricTrend[] => []);
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
  const pushed = new Set(metricItems(items));
  const heartbeats = items
    .filter((i) => i.id.startsWith('heartbeat.') && !pushed.has(i))
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
  const metrics = await metricsRead;
  return {
    ...(databaseSize.length ? { databaseSize } : {}),
    ...(queueFailures.length ? { queueFailures } : {}),
    ...(newSlow !== undefined ? { newSlowQueries: newSlow } : {}),
    ...(heartbeats.length ? { heartbeats } : {}),
    ...(metrics.length ? { metrics } : {}),
  };
}
