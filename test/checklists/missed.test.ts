// Missed checklist runs (lib/checklists/missed.ts) as health (lib/health.ts) and diagnostics
// (`checklists.missed`) see them: Vercel does not retry a failed cron, so a run that did not happen must
// show up somewhere. Over every database driver; the clock is always injected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecklist } from '../../lib/checklists/run.js';
import { missedRunsStatement } from '../../lib/checklists/missed.js';
import { parseConfig } from '../../lib/config/index.js';
import { createPgDb } from '../../lib/db/pg.js';
import type { DbDriver } from '../../lib/db/types.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { runDiagnostics } from '../../lib/diagnostics/run.js';
import { parseEnv } from '../../lib/env.js';
import { runHealth, type HealthOptions } from '../../lib/health.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import type { ErrorReporter } from '../../lib/sentry.js';
import { DEFAULT_LIMITS, openDb, type DbHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';

const MIN = 60_000;
const DAY = 86_400_000;
/** Day 1: Monday 2 March 2026; the daily checklist runs at 09:00 UTC with 60 minutes of grace. */
const DAY1_RUN = new Date('2026-03-02T09:00:00Z');
const DAY2_RUN = new Date(DAY1_RUN.getTime() + DAY);
const GRACE_MIN = 60;
const after = (base: Date, minutes: number) => new Date(base.getTime() + minutes * MIN);

const OPTS: HealthOptions = { budgetMs: 5000, critical: ['database'], production: false };
const silent: ErrorReporter = { enabled: false, captureException: async () => {}, captureMessage: async () => {}, deliverMessage: async () => true, withMonitor: (_s, fn) => fn(), flush: async () => {} };
const outbox = { kind: 'outbox' as const, send: async () => ({ id: 'x', location: 'nowhere' }) };

const config = parseConfig({
  service: 'MissedTest',
  checklists: [
    { id: 'daily', title: 'Morning', schedule: { type: 'daily', at: '09:00' }, graceMinutes: GRACE_MIN, items: [{ manual: 'Look at the dashboards' }] },
    // Never run: a fresh install of a checklist is not an outage.
    { id: 'fresh', title: 'Never run', schedule: { type: 'daily', at: '08:00' }, items: [{ manual: 'Something new' }] },
  ],
});

describe.each<DbDriver>(['pg', 'neon', 'pglite'])('missed checklist runs on %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;

  beforeAll(async () => {
    h = await openDb(driver);
    // Start the engine first (PGlite boots on its first query), so health's budget covers only its queries.
    await h.db.query('SELECT 1');
    deps = await createDeps(parseEnv({}), { db: h.db, redis: createMemoryRedis(), email: outbox, errors: silent, log: () => undefined });
  });
  afterAll(() => h.close());

  it('schema missing (a fresh database, nothing ever ran) → health healthy with checklists healthy', async () => {
    const health = await runHealth(deps, OPTS, after(DAY2_RUN, 3 * 60), config);
    expect(health).toMatchObject({ status: 'healthy', httpStatus: 200, checks: { database: 'healthy', checklists: 'healthy' }, details: { checklists: { missed: [] } } });
  });

  it('a daily checklist that ran on day 1 and not on day 2', async () => {
    const day1 = await runChecklist(deps, config, 'daily', DAY1_RUN);
    expect(day1.status).toBe('completed');

    // Within grace on day 2 → healthy; past day 1 + one period + grace → degraded, naming the checklist.
    const within = await runHealth(deps, OPTS, after(DAY2_RUN, GRACE_MIN - 1), config);
    expect(within).toMatchObject({ status: 'healthy', httpStatus: 200, checks: { checklists: 'healthy' }, details: { checklists: { missed: [] } } });

    const late = await runHealth(deps, OPTS, after(DAY2_RUN, GRACE_MIN + 1), config);
    expect(late).toMatchObject({ status: 'degraded', httpStatus: 200, checks: { database: 'healthy', redis: 'healthy', checklists: 'degraded' } });
    expect(late.details.checklists).toEqual({
      missed: [{ checklist: 'daily', expectedAt: DAY2_RUN.toISOString(), period: '2026-03-03', lastRunAt: DAY1_RUN.toISOString() }],
    });

    const diagnostics = await runDiagnostics(deps, config, { only: ['checklists.missed'] }, after(DAY2_RUN, GRACE_MIN + 1));
    expect(diagnostics.checks).toHaveLength(1);
    expect(diagnostics.checks[0]).toMatchObject({
      id: 'checklists.missed',
      status: 'fail',
      summary: '1 checklist run(s) missed: daily (2026-03-03)',
      details: [{ checklist: 'daily', schedule: 'daily at 09:00 UTC', expectedAt: DAY2_RUN.toISOString(), lastRunAt: DAY1_RUN.toISOString() }],
    });

    // The late run happens (say, by hand through the cron route): healthy again.
    expect((await runChecklist(deps, config, 'daily', after(DAY2_RUN, GRACE_MIN + 5))).status).toBe('completed');
    const caughtUp = await runHealth(deps, OPTS, after(DAY2_RUN, GRACE_MIN + 10), config);
    expect(caughtUp).toMatchObject({ status: 'healthy', checks: { checklists: 'healthy' } });
    const ok = await runDiagnostics(deps, config, { only: ['checklists.missed'] }, after(DAY2_RUN, GRACE_MIN + 10));
    expect(ok.checks[0]).toMatchObject({ status: 'ok' });
  });

  it('a run that started but failed does not count as done', async () => {
    // Day 3's run claimed the period and failed: health still says it was missed.
    const day3 = new Date(DAY2_RUN.getTime() + DAY);
    await h.db.query(`INSERT INTO opsbook.job_runs (job, period, status, started_at, error) VALUES ('daily', '2026-03-04', 'failed', $1, 'boom')`, [day3.toISOString()]);
    const health = await runHealth(deps, OPTS, after(day3, GRACE_MIN + 1), config);
    expect(health.checks.checklists).toBe('degraded');
    expect(health.details.checklists?.missed.map((m) => m.period)).toEqual(['2026-03-04']);
  });

  it('a manual run does not take the place of the scheduled one', async () => {
    const day4 = new Date(DAY2_RUN.getTime() + 2 * DAY);
    expect((await runChecklist(deps, config, 'daily', after(day4, 30), { mode: 'manual' })).status).toBe('completed');
    const health = await runHealth(deps, OPTS, after(day4, GRACE_MIN + 1), config);
    expect(health.details.checklists?.missed).toEqual([
      { checklist: 'daily', expectedAt: day4.toISOString(), period: '2026-03-05', lastRunAt: after(day4, 30).toISOString() },
    ]);
  });
});

describe('health when the database cannot say', () => {
  it('database refusing connections → checklists unknown with the error, database unhealthy, 503', async () => {
    const db = createPgDb(`postgres://postgres@127.0.0.1:${await closedPort()}/nowhere`, { ...DEFAULT_LIMITS, callTimeoutMs: 2000 });
    try {
      const health = await runHealth({ db, redis: createMemoryRedis() }, OPTS, after(DAY2_RUN, GRACE_MIN + 1), config);
      expect(health).toMatchObject({ status: 'unhealthy', httpStatus: 503, checks: { database: 'unhealthy', checklists: 'unknown' } });
      expect(health.details.checklists).toEqual({ missed: [], error: expect.stringMatching(/ECONNREFUSED|connect/) });
    } finally {
      await db.close();
    }
  });
});

describe('missedRunsStatement', () => {
  it('within grace the previous run is the one asked about; past grace, today’s', () => {
    const monthly = parseConfig({ checklists: [{ id: 'm', title: 'M', schedule: { type: 'monthly', day: 1, at: '09:00' }, items: [{ manual: 'x' }] }] });
    // [ids, periods asked about, periods running now (for dead runs), now, max takeover attempts, expected run times]
    expect(missedRunsStatement(monthly, new Date('2026-03-01T09:30:00Z')).statement.params).toEqual([['m'], ['2026-02-01'], ['2026-03-01'], '2026-03-01T09:30:00.000Z', 3, ['2026-02-01T09:00:00.000Z']]);
    expect(missedRunsStatement(monthly, new Date('2026-03-01T10:01:00Z')).statement.params).toEqual([['m'], ['2026-03-01'], ['2026-03-01'], '2026-03-01T10:01:00.000Z', 3, ['2026-03-01T09:00:00.000Z']]);
  });

  it('rows for runs done, never run, or missed → only the missed one is reported', () => {
    const { evaluate } = missedRunsStatement(config, after(DAY2_RUN, GRACE_MIN + 1));
    expect(
      evaluate([
        { job: 'daily', last_ok: DAY1_RUN.toISOString(), done: false, ran_before: true },
        { job: 'fresh', last_ok: null, done: false, ran_before: false },
      ]),
    ).toEqual([{ checklist: 'daily', expectedAt: DAY2_RUN.toISOString(), period: '2026-03-03', lastRunAt: DAY1_RUN.toISOString() }]);
    expect(evaluate([{ job: 'daily', last_ok: DAY1_RUN.toISOString(), done: true, ran_before: true }])).toEqual([]);
  });

  it('a first run ever, completed after the run asked about was due → that earlier period is not a miss', () => {
    const { evaluate } = missedRunsStatement(config, after(DAY2_RUN, 10));
    // Within grace on day 2 the run asked about is day 1's; the checklist first ran on day 2.
    expect(evaluate([{ job: 'daily', last_ok: after(DAY2_RUN, 2).toISOString(), done: false, ran_before: false }])).toEqual([]);
  });

  it('a run of the current period left running with its lease lapsed → reported as dead (to be taken over), not as a miss', () => {
    const { evaluate } = missedRunsStatement(config, after(DAY2_RUN, 10));
    expect(evaluate([{ job: 'daily', last_ok: DAY1_RUN.toISOString(), done: true, ran_before: true, dead: true }])).toEqual([
      { checklist: 'daily', expectedAt: DAY2_RUN.toISOString(), period: '2026-03-03', lastRunAt: DAY1_RUN.toISOString(), dead: true },
    ]);
  });
});
