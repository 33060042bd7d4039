import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Deps } from '../../lib/deps.js';
import type { Statement } from '../../lib/db/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { pruneHistoryTask } from '../../lib/tasks/prune-history.js';
import { depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { daysBefore, NOW, taskContext } from './context.js';

const at = (days: number) => daysBefore(days).toISOString();

/**
 * Opsbook's history as months of runs leave it: checklist runs (with results and reports), snapshots,
 * heartbeat pings and audit rows, old and recent, plus the rows that must survive whatever their age.
 */
function seed(): Statement[] {
  const run = (id: number, job: string, status: string, days: number, delivery?: string): Statement[] => [
    {
      text: `INSERT INTO opsbook.job_runs (id, job, period, status, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6)`,
      params: [id, job, `p${id}`, status, at(days), status === 'running' ? null : at(days)],
    },
    { text: `INSERT INTO opsbook.run_results (run_id, item_key, kind, status, summary) VALUES ($1, 'check:x', 'check', 'ok', 'fine')`, params: [id] },
    ...(delivery
      ? [
          {
            text: `INSERT INTO opsbook.reports (run_id, checklist, period, subject, html, text, idempotency_key, created_at, delivery)
                   VALUES ($1, $2, $3, 's', '<p>r</p>', 'r', $4, $5, $6)`,
            params: [id, job, `p${id}`, `${job}:p${id}`, at(days), delivery],
          },
        ]
      : []),
  ];
  return [
    { text: 'TRUNCATE opsbook.job_runs, opsbook.run_results, opsbook.reports, opsbook.snapshots, opsbook.heartbeat_pings, opsbook.audit_log, opsbook.incidents, opsbook.notifications' },
    // Checklist "daily": an old sent run and an old failed one (pruned); an old run still running and an
    // old one whose report is still pending (kept); a recent run (kept, and the latest ok).
    ...run(1, 'daily', 'ok', 200, 'sent'),
    ...run(2, 'daily', 'failed', 150),
    ...run(3, 'daily', 'running', 120),
    ...run(4, 'daily', 'ok', 110, 'pending'),
    ...run(5, 'daily', 'ok', 5, 'sent'),
    // Checklist "yearly": only old runs; the latest successful one stays for transitions and missed runs.
    ...run(6, 'yearly', 'ok', 500, 'not-needed'),
    ...run(7, 'yearly', 'ok', 200, 'sent'),
    // Reports without a run: an old sent one goes, an old pending one stays.
    {
      text: `INSERT INTO opsbook.reports (run_id, checklist, period, subject, html, text, idempotency_key, created_at, delivery) VALUES
             (NULL, 'adhoc', 'a', 's', 'h', 't', 'adhoc:a', $1, 'sent'), (NULL, 'adhoc', 'b', 's', 'h', 't', 'adhoc:b', $1, 'pending')`,
      params: [at(100)],
    },
    // Snapshots: database_size has a recent one (both old ones go); table_sizes only old ones (the newest stays).
    {
      text: `INSERT INTO opsbook.snapshots (kind, taken_at, data) VALUES
             ('database_size', $1, '{"bytes":1}'), ('database_size', $2, '{"bytes":2}'), ('database_size', $3, '{"bytes":3}'),
             ('table_sizes', $1, '[]'), ('table_sizes', $4, '[]')`,
      params: [at(200), at(100), at(1), at(150)],
    },
    // 2,500 old pings (three batches) and a recent one.
    {
      text: `INSERT INTO opsbook.heartbeat_pings (name, kind, received_at) SELECT 'backup', 'success', $1::timestamptz - g * interval '1 minute' FROM generate_series(1, 2500) g`,
      params: [at(91)],
    },
    { text: `INSERT INTO opsbook.heartbeat_pings (name, kind, received_at) VALUES ('backup', 'success', $1)`, params: [at(1)] },
    // Incidents: one resolved long ago (pruned, with its sent notification; its pending one stays), one
    // resolved recently, and one opened long ago and still open (both kept, with their notifications).
    {
      text: `INSERT INTO opsbook.incidents (alert_key, seq, checklist, check_id, title, severity, opened_at, resolved_at) VALUES
             ('daily/check:old', 1, 'daily', 'old', 'Old', 'P2', $1, $2), ('daily/check:recent', 1, 'daily', 'recent', 'Recent', 'P2', $3, $4),
             ('daily/check:open', 1, 'daily', 'open', 'Open', 'P1', $5, NULL)`,
      params: [at(201), at(200), at(11), at(10), at(300)],
    },
    {
      text: `INSERT INTO opsbook.notifications (subject, event, channel, status, payload, created_at) VALUES
             ('daily/check:old#1', 'open', 'slack', 'sent', '{}', $1), ('daily/check:old#1', 'resolved', 'slack', 'pending', '{}', $2),
             ('daily/check:recent#1', 'open', 'slack', 'sent', '{}', $3), ('daily/check:open#1', 'open', 'slack', 'sent', '{}', $4),
             ('daily@p1', 'missed', 'slack', 'sent', '{}', $1)`,
      params: [at(201), at(200), at(11), at(300)],
    },
    // Audit rows: two old, one recent.
    {
      text: `INSERT INTO opsbook.audit_log (at, actor, role, action, target, result) VALUES
             ($1, 'alice', 'admin', 'user.lock', 'user:1', 'ok'), ($2, 'bob', 'admin', 'user.unlock', 'user:1', 'ok'), ($3, 'carol', 'admin', 'user.lock', 'user:2', 'ok')`,
      params: [at(200), at(95), at(10)],
    },
  ];
}

describe.each(DB_DRIVERS)('prune-history over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    await ensureSchema(h.db);
  });
  beforeEach(async () => {
    await h.db.batch(seed(), { readOnly: false });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function left(): Promise<Record<string, unknown>> {
    const [runs, results, reports, snapshots, pings, audit, incidents, notifications] = await h.db.batch([
      { text: 'SELECT coalesce(array_agg(id::int ORDER BY id), ARRAY[]::int[]) AS v FROM opsbook.job_runs' },
      { text: 'SELECT coalesce(array_agg(run_id::int ORDER BY run_id), ARRAY[]::int[]) AS v FROM opsbook.run_results' },
      { text: "SELECT coalesce(array_agg(coalesce(run_id::text, period) ORDER BY run_id, period), ARRAY[]::text[]) AS v FROM opsbook.reports" },
      { text: `SELECT coalesce(array_agg(kind || ':' || (taken_at = $1 OR taken_at = $2 OR taken_at = $3)::text ORDER BY kind, taken_at), ARRAY[]::text[]) AS v FROM opsbook.snapshots`, params: [at(1), at(100), at(150)] },
      { text: 'SELECT count(*)::int AS v FROM opsbook.heartbeat_pings' },
      { text: "SELECT coalesce(array_agg(actor ORDER BY id), ARRAY[]::text[]) AS v FROM opsbook.audit_log WHERE action <> 'prune-history'" },
      { text: 'SELECT coalesce(array_agg(check_id ORDER BY check_id), ARRAY[]::text[]) AS v FROM opsbook.incidents' },
      { text: "SELECT coalesce(array_agg(subject || ' ' || event ORDER BY subject, event), ARRAY[]::text[]) AS v FROM opsbook.notifications" },
    ]);
    const v = (r: { rows: Array<Record<string, unknown>> } | undefined) => {
      const x = r!.rows[0]!.v;
      // Neon's HTTP driver and the others decode arrays and counts alike; normalise numbers.
      return Array.isArray(x) ? x.map((e) => (typeof e === 'string' && /^\d+$/.test(e) ? Number(e) : e)) : Number(x);
    };
    return { runs: v(runs), results: v(results), reports: v(reports), snapshots: v(snapshots), pings: v(pings), audit: v(audit), incidents: v(incidents), notifications: v(notifications) };
  }

  const SEEDED = {
    runs: [1, 2, 3, 4, 5, 6, 7],
    results: [1, 2, 3, 4, 5, 6, 7],
    reports: [1, 4, 5, 6, 7, 'a', 'b'],
    snapshots: ['database_size:false', 'database_size:true', 'database_size:true', 'table_sizes:false', 'table_sizes:true'],
    pings: 2501,
    audit: ['alice', 'bob', 'carol'],
    incidents: ['old', 'open', 'recent'],
    notifications: ['daily/check:old#1 open', 'daily/check:old#1 resolved', 'daily/check:open#1 open', 'daily/check:recent#1 open', 'daily@p1 missed'],
  };

  it('older than the default 90 days → old runs, reports, snapshots, pings and audit rows go; the protected ones stay', async () => {
    const { ctx, lines } = taskContext(deps);
    const outcome = await pruneHistoryTask.run(ctx, { task: 'prune-history' }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toMatch(
      /^deleted history older than 90 d \(before 2025-03-17T12:00:00\.000Z\): 3 runs, 1 reports without a run, 3 snapshots, 2500 heartbeat pings, 1 notifications of resolved incidents, 1 resolved incidents, 2 audit rows in /,
    );
    expect(outcome.value).toBe(3 + 1 + 3 + 2500 + 1 + 1 + 2);
    expect(await left()).toEqual({
      // 1 (sent), 2 (failed) and 6 (an older ok run of "yearly") go; 3 running, 4 pending, 5 recent, 7 latest ok of "yearly" stay.
      runs: [3, 4, 5, 7],
      results: [3, 4, 5, 7],
      reports: [4, 5, 7, 'b'],
      // database_size keeps its recent snapshot only (the 100-day one is old and not the latest); table_sizes keeps its newest.
      snapshots: ['database_size:true', 'table_sizes:true'],
      pings: 1,
      audit: ['carol'],
      // The incident resolved 200 days ago goes with its sent notification; its pending one, the recent
      // incident, the incident still open (300 days old) and a missed run's notification stay.
      incidents: ['open', 'recent'],
      notifications: ['daily/check:old#1 resolved', 'daily/check:open#1 open', 'daily/check:recent#1 open', 'daily@p1 missed'],
    });
    expect(lines.filter((l) => l.startsWith('prune-history opsbook.heartbeat_pings'))).toEqual([
      'prune-history opsbook.heartbeat_pings: batch 1 deleted 1000 (1000 so far)',
      'prune-history opsbook.heartbeat_pings: batch 2 deleted 1000 (2000 so far)',
      'prune-history opsbook.heartbeat_pings: batch 3 deleted 500 (2500 so far)',
    ]);
  });

  it('every batch leaves its own audit row, written with the delete', async () => {
    await pruneHistoryTask.run(taskContext(deps).ctx, { task: 'prune-history' }, NOW);
    const { rows } = await h.db.query<{ target: string; deleted: number; params: unknown; actor: string }>(
      `SELECT target, (after->>'deleted')::int AS deleted, params, actor FROM opsbook.audit_log WHERE action = 'prune-history' ORDER BY id`,
    );
    expect(rows.map((r) => [r.target, Number(r.deleted)])).toEqual([
      ['opsbook.job_runs', 3],
      ['opsbook.reports', 1],
      ['opsbook.snapshots', 3],
      ['opsbook.heartbeat_pings', 1000],
      ['opsbook.heartbeat_pings', 1000],
      ['opsbook.heartbeat_pings', 500],
      ['opsbook.notifications', 1],
      ['opsbook.incidents', 1],
      ['opsbook.audit_log', 2],
    ]);
    const params = typeof rows[0]!.params === 'string' ? JSON.parse(rows[0]!.params) : rows[0]!.params;
    expect(params).toEqual({ days: 90, cutoff: '2025-03-17T12:00:00.000Z' });
    expect(rows.every((r) => r.actor === 'checklist')).toBe(true);
  });

  it('days from the config (retentionDays) and from the item: the item wins', async () => {
    const keepLonger = await pruneHistoryTask.run(taskContext(deps, { config: { retentionDays: 1000 } }).ctx, { task: 'prune-history' }, NOW);
    expect(keepLonger).toMatchObject({ status: 'ok', value: 0 });
    expect(await left()).toEqual(SEEDED);

    const item = await pruneHistoryTask.run(taskContext(deps, { config: { retentionDays: 1000 } }).ctx, { task: 'prune-history', days: 180 }, NOW);
    expect(item.summary).toMatch(/^deleted history older than 180 d .*: 2 runs, 0 reports without a run, 2 snapshots, 0 heartbeat pings, 1 notifications of resolved incidents, 1 resolved incidents, 1 audit rows/);
    expect(await left()).toMatchObject({ runs: [2, 3, 4, 5, 7], audit: ['bob', 'carol'], pings: 2501, incidents: ['open', 'recent'] });
  });

  it('dry run → counts per table, deletes nothing, writes no audit row', async () => {
    const { ctx, lines } = taskContext(deps, { dryRun: true });
    const outcome = await pruneHistoryTask.run(ctx, { task: 'prune-history' }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toMatch(/^dry run: would delete history older than 90 d .*: 3 runs, 1 reports without a run, 3 snapshots, 2500 heartbeat pings, 1 notifications of resolved incidents, 1 resolved incidents, 2 audit rows/);
    expect(outcome.details).toEqual([
      { table: 'opsbook.job_runs', wouldDelete: '3' },
      { table: 'opsbook.reports', wouldDelete: '1' },
      { table: 'opsbook.snapshots', wouldDelete: '3' },
      { table: 'opsbook.heartbeat_pings', wouldDelete: '2500' },
      { table: 'opsbook.notifications', wouldDelete: '1' },
      { table: 'opsbook.incidents', wouldDelete: '1' },
      { table: 'opsbook.audit_log', wouldDelete: '2' },
    ]);
    expect(lines).toEqual([]);
    expect(await left()).toEqual(SEEDED);
    const { rows } = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.audit_log WHERE action = 'prune-history'`);
    expect(rows[0]!.n).toBe(0);
  });

  it('no time left in the task limit → nothing deleted, a warning counts what remains per table', async () => {
    const { ctx } = taskContext(deps, { timeoutMs: 0 });
    const outcome = await pruneHistoryTask.run(ctx, { task: 'prune-history' }, NOW);
    expect(outcome.status).toBe('warn');
    expect(outcome.summary).toMatch(
      /stopped before the time limit, more remain: opsbook\.job_runs 3, opsbook\.reports 1, opsbook\.snapshots 3, opsbook\.heartbeat_pings 2500, opsbook\.notifications 1, opsbook\.incidents 1, opsbook\.audit_log 2$/,
    );
    expect(outcome.hint?.text).toMatch(/next run continues/);
    expect(await left()).toEqual(SEEDED);
  });

  it('outside the task, old audit rows still cannot be deleted: the pruning switch is per transaction', async () => {
    await pruneHistoryTask.run(taskContext(deps).ctx, { task: 'prune-history', days: 5 }, NOW);
    await expect(h.db.query('DELETE FROM opsbook.audit_log')).rejects.toThrow(/append-only/);
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM opsbook.audit_log');
    expect(rows[0]!.n).toBeGreaterThan(0);
  });
});
