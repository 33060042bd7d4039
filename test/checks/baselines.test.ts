import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { judgeBaseline } from '../../lib/checks/baseline.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const DAY = 86_400_000;
const NOW = new Date('2026-12-02T09:00:00Z');

describe('judging a value against its history', () => {
  const rule = (r: Record<string, unknown>) => parseConfig({ baselines: { x: r } }).baselines.x!;
  it.each([
    ['60 % below a 7-day median of 100, warn at 50 → warn', 40, [100, 100, 100], { warnPct: 50, failPct: 80, direction: 'below' }, 'warn', /^60 % below its 7-day median \(100, 3 runs\): warn at 50 %$/],
    ['90 % below → fail', 10, [100, 100, 100], { warnPct: 50, failPct: 80, direction: 'below' }, 'fail', /fail at 80 %/],
    ['a rise when only drops are bad → ok', 300, [100, 100, 100], { warnPct: 50, direction: 'below' }, 'ok', /^200 % above its 7-day median/],
    ['twice the previous p99, warn at 100 % above → warn', 2.4, [1.2, 9, 9], { vs: 'previous', warnPct: 100, direction: 'above' }, 'warn', /^100 % above the previous run \(1\.2\): warn at 100 %$/],
    ['two stored runs, the median needs three → unknown', 40, [100, 100], { warnPct: 50 }, 'unknown', /not enough history yet \(2 of 3 stored runs\)/],
    ['a baseline of 0 → unknown, no percentage', 5, [0, 0, 0], { warnPct: 50 }, 'unknown', /is 0/],
  ])('%s', (_name, value, history, r, status, note) => {
    const v = judgeBaseline(value, history, rule(r));
    expect(v.status).toBe(status);
    expect(v.note).toMatch(note);
  });

  it('a rule without warnPct or failPct is refused where it is written', () => {
    expect(() => parseConfig({ baselines: { 'sql.x': { vs: 'previous' } } })).toThrow(/set warnPct, failPct or both/);
  });
});

describe.each(['pg', 'neon'] as const)('baselines from stored checklist results, over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  const config = (value: number, extra: Partial<OpsbookConfigInput> = {}): OpsbookConfigInput => ({
    checks: {
      redis: { enabled: false },
      queues: { enabled: false },
      sqlMetrics: [{ id: 'tx', title: 'Transactions per hour', sql: 'SELECT $1::int', params: [value] }],
    },
    baselines: { 'sql.tx': { vs: 'median-7d', warnPct: 50, failPct: 80, direction: 'below' } },
    recipients: ['ops@example.com'],
    checklists: [{ id: 'hourly', title: 'Hourly', schedule: { type: 'manual' }, items: [{ check: 'sql.tx' }] }],
    ...extra,
  });

  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    await ensureSchema(h.db);
    // Six stored runs over the last six days, each with sql.tx at 100 (and one 40 days ago at 1, outside every window).
    for (const [i, daysAgo, value] of [[1, 1, 100], [2, 2, 100], [3, 3, 100], [4, 4, 100], [5, 5, 100], [6, 6, 100], [7, 40, 1]] as const) {
      const at = new Date(NOW.getTime() - daysAgo * DAY).toISOString();
      await h.db.batch(
        [
          { text: `INSERT INTO opsbook.job_runs (id, job, period, status, started_at, finished_at) VALUES ($1, 'seeded', $2, 'ok', $3, $3)`, params: [1000 + i, `seed-${i}`, at] },
          { text: `INSERT INTO opsbook.run_results (run_id, item_key, kind, status, summary, data) VALUES ($1, 'check:sql.tx', 'check', 'ok', 'tx', $2::jsonb)`, params: [1000 + i, JSON.stringify({ value })] },
        ],
        { readOnly: false },
      );
    }
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each([
    [95, 'ok', /; 5 % below its 7-day median \(100, 6 runs\)$/],
    [40, 'warn', /; 60 % below its 7-day median \(100, 6 runs\): warn at 50 %$/],
    [10, 'fail', /: fail at 80 %$/],
  ])('sql.tx at %d against a 7-day median of 100 → %s, the comparison in the summary', async (value, status, summary) => {
    const r = (await diagnose(deps, config(value), { only: ['sql.tx'] }, NOW)).byId('sql.tx');
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
  });

  it('a 28-day median reaches further back, and a checklist run stores the value the next run compares with', async () => {
    const cfg = config(50, { baselines: { 'sql.tx': { vs: 'median-28d', warnPct: 40, direction: 'below' } } });
    expect((await diagnose(deps, cfg, { only: ['sql.tx'] }, NOW)).byId('sql.tx').summary).toMatch(/50 % below its 28-day median \(100, 6 runs\): warn at 40 %/);
    const result = await runChecklist(deps, parseConfig(cfg), 'hourly', NOW, { mode: 'manual' });
    expect(result.status).toBe('completed');
    const { rows } = await h.db.query<{ value: number }>(`SELECT (data->>'value')::float8 AS value FROM opsbook.run_results r JOIN opsbook.job_runs j ON j.id = r.run_id WHERE j.job = 'hourly' AND r.item_key = 'check:sql.tx'`);
    expect(rows.map((r) => r.value)).toEqual([50]);
  });
});
