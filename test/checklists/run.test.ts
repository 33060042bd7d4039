// The checklist run engine (lib/checklists/run.ts) over every database driver: due or not, the claim
// of a period exactly once, stored results, transitions between runs, notify policies, manual and dry
// runs, and items that throw, hang or name nothing. Emails go through the real Resend SDK to the sink.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { runChecklist, type ChecklistRunResult } from '../../lib/checklists/run.js';
import { parseConfig, type OpsbookConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { DbDriver } from '../../lib/db/types.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import type { ErrorReporter } from '../../lib/sentry.js';
import { TASK_PARAMS } from '../../lib/tasks/params.js';
import { TASKS } from '../../lib/tasks/registry.js';
import type { TaskDefinition } from '../../lib/tasks/types.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { openChecklistHarness, recordingReporter, type ChecklistHarness } from '../support/checklists.js';

const RESEND_KEY = 're_test_run_key_0123456789';
const DAY = 86_400_000;
/** Monday 2 March 2026, 09:00 UTC: the first Monday of March. */
const MON = new Date('2026-03-02T09:00:00Z');
const at = (base: Date, days: number, minutes = 0) => new Date(base.getTime() + days * DAY + minutes * 60_000);

// Process-wide names a run reads: environment variables for the env check, task names in the registry.
const suffix = randomBytes(4).toString('hex');
const flags: string[] = [];
function newFlag(): string {
  const name = `OPSBOOK_T_FLAG_${suffix.toUpperCase()}_${flags.length}`;
  flags.push(name);
  return name;
}
const setFlag = (name: string, on: boolean) => (on ? (process.env[name] = '1') : delete process.env[name]);

// Tasks are registered by name in lib/tasks/registry.ts, their params in lib/tasks/params.ts; these two
// exist only while this file runs.
const THROWING_TASK = `t-throw-${suffix}`;
const HANGING_TASK = `t-hang-${suffix}`;
const testTasks: TaskDefinition[] = [
  {
    name: THROWING_TASK,
    schema: z.object({ task: z.literal(THROWING_TASK) }),
    title: () => 'A task that throws',
    run: async () => {
      throw new Error('the task exploded');
    },
  },
  {
    name: HANGING_TASK,
    schema: z.object({ task: z.literal(HANGING_TASK) }),
    title: () => 'A task that never answers',
    run: () => new Promise<never>(() => undefined),
  },
];

beforeAll(() => {
  TASKS.push(...testTasks);
  for (const t of testTasks) TASK_PARAMS[t.name] = t.schema;
});
afterAll(() => {
  for (const t of testTasks) TASKS.splice(TASKS.indexOf(t), 1);
  for (const t of testTasks) delete TASK_PARAMS[t.name];
  for (const f of flags) delete process.env[f];
});

type Completed = Extract<ChecklistRunResult, { status: 'completed' }>;
function completed(r: ChecklistRunResult): Completed {
  if (r.status !== 'completed') throw new Error(`expected a completed run, got ${JSON.stringify(r)}`);
  return r;
}


/**
 * One checklist over a flag (env.required) and, optionally, more items and checks. Thresholds of 1: every
 * run's transition is immediate here; N-of-M thresholds have their own tests (test/alerts).
 */
type ChecklistInput = NonNullable<OpsbookConfigInput['checklists']>[number];
function configWith(list: Partial<ChecklistInput> & { id: string }, checks: OpsbookConfigInput['checks'] = {}): OpsbookConfig {
  return parseConfig({
    service: 'RunTest',
    recipients: ['oncall@example.com'],
    checks,
    alerts: { alertAfter: 1, recoverAfter: 1 },
    checklists: [{ title: `Checklist ${list.id}`, schedule: { type: 'daily', at: '09:00' }, items: [{ manual: 'Look at the dashboards' }], ...list }],
  });
}

describe.each<DbDriver>(['pg', 'neon', 'pglite'])('runChecklist on %s', (driver) => {
  let h: DbHarness;
  let sink: ResendSink;
  let deps: Deps;
  let errors: ReturnType<typeof recordingReporter>;

  let harness: ChecklistHarness;

  beforeAll(async () => {
    harness = await openChecklistHarness(driver, RESEND_KEY);
    ({ h, sink, deps, errors } = harness);
    await h.db.query('CREATE TABLE IF NOT EXISTS widgets (id serial PRIMARY KEY)');
  });
  afterAll(async () => {
    await harness.close();
  });

  const emailsOf = (checklist: string) => sink.emails.filter((e) => e.headers?.['X-Opsbook-Checklist'] === checklist);
  const count = async (sql: string, params: unknown[] = []) => Number((await h.db.query<{ n: string | number }>(sql, params)).rows[0]!.n);

  it.each([
    ['a first-Monday checklist on a Tuesday', at(MON, 1), /not scheduled on 2026-03-03 \(first Monday of the month at 09:00 UTC\)/, '2026-04-06T09:00:00.000Z'],
    ['a first-Monday checklist at 08:00 on its Monday', at(MON, 0, -60), /scheduled for 2026-03-02T09:00:00.000Z, it is not time yet/, '2026-03-02T09:00:00.000Z'],
  ])('%s → not-due with the reason and the next run; nothing is claimed', async (_name, now, reason, next) => {
    const id = `first-monday-${driver}`;
    const config = configWith({ id, schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '09:00' } });
    const r = await runChecklist(deps, config, id, now);
    expect(r).toEqual({ checklist: id, status: 'not-due', reason: expect.stringMatching(reason), next, resent: 0 });
    expect(await count('SELECT count(*) AS n FROM opsbook.job_runs WHERE job = $1', [id])).toBe(0);
    expect(emailsOf(id)).toHaveLength(0);
  });

  it('due → completed with counts and one email; a second invocation the same period → already-ran with the delivery', async () => {
    const id = `due-${driver}`;
    const flag = newFlag();
    setFlag(flag, true);
    const config = configWith({ id, items: [{ check: 'env' }, { manual: 'Review Sentry' }, { manual: 'Read the support inbox' }] }, { requiredEnv: [flag] });

    const first = completed(await runChecklist(deps, config, id, at(MON, 0, 5)));
    expect(first).toMatchObject({
      period: '2026-03-02',
      counts: { ok: 1, warn: 0, fail: 0, skipped: 0, error: 0, manual: 2 },
      report: { delivery: 'sent', location: 'resend' },
    });
    expect(first.transitions).toEqual({ newFailures: [], recovered: [], stillFailing: [] });
    expect(first.runId).toBeGreaterThan(0);
    expect(first.text).toContain('Review Sentry');
    expect(emailsOf(id)).toHaveLength(1);
    expect(emailsOf(id)[0]).toMatchObject({ to: ['oncall@example.com'], subject: first.report.subject, idempotencyKey: expect.stringMatching(new RegExp(`^opsbook:runtest:local:[0-9a-f]{16}:${id}:2026-03-02$`)) });

    const second = await runChecklist(deps, config, id, at(MON, 0, 60));
    expect(second).toEqual({ checklist: id, status: 'already-ran', period: '2026-03-02', runId: first.runId, delivery: 'sent', resent: 0 });
    expect(await count('SELECT count(*) AS n FROM opsbook.job_runs WHERE job = $1', [id])).toBe(1);
    expect(emailsOf(id)).toHaveLength(1);
  });

  it('10 concurrent invocations of a due checklist → exactly one run row, one completed, nine already-ran, one email', async () => {
    const id = `concurrent-${driver}`;
    const config = configWith({ id });
    const requestsBefore = sink.requests;
    const results = await Promise.all(Array.from({ length: 10 }, () => runChecklist(deps, config, id, at(MON, 0, 1))));
    expect(results.filter((r) => r.status === 'completed')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already-ran')).toHaveLength(9);
    const runId = completed(results.find((r) => r.status === 'completed')!).runId;
    for (const r of results) expect(r).toMatchObject({ period: '2026-03-02', runId });
    expect(await count('SELECT count(*) AS n FROM opsbook.job_runs WHERE job = $1', [id])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM opsbook.reports WHERE checklist = $1 AND delivery = 'sent'`, [id])).toBe(1);
    expect(emailsOf(id)).toHaveLength(1);
    expect(sink.requests - requestsBefore).toBe(1);
  });

  it('every automated item’s result is stored in opsbook.run_results with its status, summary and data', async () => {
    const id = `stored-${driver}`;
    const flag = newFlag();
    setFlag(flag, false);
    await h.db.query('INSERT INTO widgets DEFAULT VALUES');
    const config = configWith(
      { id, items: [{ check: 'env.required' }, { check: `sql.rows-${driver}` }, { manual: 'Look at the dashboards' }] },
      { requiredEnv: [flag], sqlMetrics: [{ id: `rows-${driver}`, title: 'Widgets', sql: 'SELECT count(*) FROM widgets', warn: 100, fail: 1000 }] },
    );
    const r = completed(await runChecklist(deps, config, id, at(MON, 0)));
    const { rows } = await h.db.query<{ item_key: string; kind: string; status: string; summary: string; failing_since: unknown; data: unknown }>(
      'SELECT item_key, kind, status, summary, failing_since, data FROM opsbook.run_results WHERE run_id = $1 ORDER BY item_key',
      [r.runId],
    );
    const data = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v) as Record<string, unknown>;
    expect(rows.map((row) => ({ ...row, data: data(row.data), failing_since: row.failing_since ? new Date(row.failing_since as string).toISOString() : null }))).toEqual([
      {
        item_key: 'check:env.required',
        kind: 'check',
        status: 'fail',
        summary: `1 of 1 required variables missing: ${flag}`,
        failing_since: MON.toISOString(),
        data: expect.objectContaining({ id: 'env.required', area: 'Configuration', severity: 'P2' }),
      },
      {
        item_key: `check:sql.rows-${driver}`,
        kind: 'check',
        status: 'ok',
        summary: expect.stringMatching(/^\d+ \(warn above 100, fail above 1000\)$/),
        failing_since: null,
        data: expect.objectContaining({ id: `sql.rows-${driver}`, title: 'Widgets', area: 'Metrics' }),
      },
    ]);
    expect(r.counts).toMatchObject({ ok: 1, fail: 1, manual: 1 });
    const summary = (await h.db.query<{ status: string; summary: unknown }>('SELECT status, summary FROM opsbook.job_runs WHERE id = $1', [r.runId])).rows[0]!;
    expect(summary.status).toBe('ok');
    expect(data(summary.summary)).toEqual({ ok: 1, fail: 1 });
  });

  it('four daily runs: ok → failing (new failure) → still failing with failingDays 1 → ok (recovered)', async () => {
    const id = `transitions-${driver}`;
    const flag = newFlag();
    const config = configWith({ id, items: [{ check: 'env' }] }, { requiredEnv: [flag] });
    const day = async (n: number, set: boolean) => {
      setFlag(flag, set);
      return completed(await runChecklist(deps, config, id, at(MON, n)));
    };

    expect((await day(0, true)).transitions).toEqual({ newFailures: [], recovered: [], stillFailing: [] });
    const d2 = await day(1, false);
    expect(d2.transitions).toEqual({ newFailures: ['check:env.required'], recovered: [], stillFailing: [] });
    expect(d2.counts.fail).toBe(1);
    const d3 = await day(2, false);
    expect(d3.transitions).toEqual({ newFailures: [], recovered: [], stillFailing: ['check:env.required'] });
    // failingDays counts from the first failing run (day 2): 1 on day 3, as the report says.
    expect(d3.text).toContain('failing for 1 day');
    const stored = await h.db.query<{ failing_since: string | Date }>(`SELECT failing_since FROM opsbook.run_results WHERE run_id = $1`, [d3.runId]);
    expect(new Date(stored.rows[0]!.failing_since).toISOString()).toBe(at(MON, 1).toISOString());
    expect((await day(3, true)).transitions).toEqual({ newFailures: [], recovered: ['check:env.required'], stillFailing: [] });

    // One alert for the transition to failing; none while it keeps failing, none for the recovery.
    expect(errors.calls.filter((c) => c.tags?.checklist === id)).toEqual([
      { kind: 'message', text: expect.stringContaining(`${id}: env.required is failing`), tags: { checklist: id, item: 'env.required', severity: 'P2', incident: '1' } },
    ]);
  });

  // Day 1 ok, day 2 failing, day 3 failing, day 4 ok: which runs send the report.
  it.each([
    ['always', ['sent', 'sent', 'sent', 'sent']],
    ['on-failure', ['not-needed', 'sent', 'sent', 'not-needed']],
    ['on-change', ['not-needed', 'sent', 'not-needed', 'sent']],
  ] as const)('notify %s → report delivery per day %j, and exactly those emails at the sink', async (notify, expected) => {
    const id = `notify-${notify}-${driver}`;
    const flag = newFlag();
    const config = configWith({ id, notify, items: [{ check: 'env' }] }, { requiredEnv: [flag] });
    const deliveries: string[] = [];
    for (const [n, set] of [true, false, false, true].entries()) {
      setFlag(flag, set);
      const r = completed(await runChecklist(deps, config, id, at(MON, n)));
      deliveries.push(r.report.delivery);
    }
    expect(deliveries).toEqual(expected);
    const { rows } = await h.db.query<{ period: string; delivery: string }>('SELECT period, delivery FROM opsbook.reports WHERE checklist = $1 ORDER BY period', [id]);
    expect(rows.map((r) => r.delivery)).toEqual(expected);
    const sentPeriods = rows.filter((r) => r.delivery === 'sent').map((r) => r.period);
    expect(emailsOf(id).map((e) => e.idempotencyKey?.replace(/^opsbook:runtest:local:[0-9a-f]{16}:/, ''))).toEqual(sentPeriods.map((p) => `${id}:${p}`));
  });

  it('a manual run gets its own period and never takes the scheduled slot; it emails only with send', async () => {
    const id = `manual-${driver}`;
    const config = configWith({ id });
    const manual = completed(await runChecklist(deps, config, id, at(MON, 0, -30), { mode: 'manual' }));
    expect(manual.period).toBe('2026-03-02@08:30:00');
    expect(manual.report.delivery).toBe('not-needed');
    const sent = completed(await runChecklist(deps, config, id, at(MON, 0, 2), { mode: 'manual', send: true }));
    expect(sent.period).toBe('2026-03-02@09:02:00');
    expect(sent.report.delivery).toBe('sent');

    const scheduled = completed(await runChecklist(deps, config, id, at(MON, 0, 3)));
    expect(scheduled.period).toBe('2026-03-02');
    expect(await count('SELECT count(*) AS n FROM opsbook.job_runs WHERE job = $1', [id])).toBe(3);
    expect(emailsOf(id).map((e) => e.idempotencyKey?.replace(/^opsbook:runtest:local:[0-9a-f]{16}:/, ''))).toEqual([`${id}:2026-03-02@09:02:00`, `${id}:2026-03-02`]);
    // A manual run ignores the schedule: it runs on a day the checklist is not due.
    const sunday = completed(await runChecklist(deps, configWith({ id, schedule: { type: 'weekly', days: ['mon'], at: '09:00' } }), id, at(MON, -1), { mode: 'manual' }));
    expect(sunday.period).toBe('2026-03-01@09:00:00');
  });

  it('a dry run stores nothing (no run row, no report, no snapshot, no email) and still returns the text', async () => {
    const id = `dry-${driver}`;
    const flag = newFlag();
    setFlag(flag, false);
    const config = configWith(
      { id, items: [{ check: 'env' }, { check: `sql.dry-${driver}` }, { manual: 'Check the backups' }] },
      { requiredEnv: [flag], sqlMetrics: [{ id: `dry-${driver}`, title: 'Widgets', sql: 'SELECT count(*) FROM widgets', fail: 1_000_000 }] },
    );
    const tables = ['job_runs', 'run_results', 'reports', 'snapshots'];
    const before = await Promise.all(tables.map((t) => count(`SELECT count(*) AS n FROM opsbook.${t}`)));
    const requests = sink.requests;
    const lines: string[] = [];
    for (const mode of ['manual', 'scheduled'] as const) {
      const r = completed(await runChecklist(deps, config, id, at(MON, 0), { mode, dryRun: true, send: true, progress: (l) => lines.push(l) }));
      expect(r.runId).toBe(0);
      expect(r.report).toEqual({ subject: expect.any(String), delivery: 'dry-run' });
      expect(r.counts).toMatchObject({ fail: 1, ok: 1, manual: 1 });
      expect(r.text).toContain(flag);
      expect(r.text).toContain('Check the backups');
    }
    expect(lines.some((l) => /dry run/.test(l))).toBe(true);
    expect(lines.some((l) => l.includes('FAIL') && l.includes('env.required'))).toBe(true);
    expect(await Promise.all(tables.map((t) => count(`SELECT count(*) AS n FROM opsbook.${t}`)))).toEqual(before);
    expect(sink.requests).toBe(requests);
    expect(errors.calls.filter((c) => c.tags?.checklist === id)).toEqual([]);
  });

  it('a task that throws, a task that hangs, a failing metric and an unknown check id → error items; the rest runs and the run completes', async () => {
    const id = `errors-${driver}`;
    const flag = newFlag();
    setFlag(flag, true);
    const config = configWith(
      {
        id,
        itemTimeoutMs: 300,
        items: [
          { check: 'env' },
          { check: 'nosuch.check' },
          { check: `sql.div-${driver}` },
          { task: THROWING_TASK },
          { task: HANGING_TASK },
          { manual: 'Still listed' },
        ],
      },
      { requiredEnv: [flag], sqlMetrics: [{ id: `div-${driver}`, title: 'Division', sql: 'SELECT 1/0' }] },
    );
    const r = completed(await runChecklist(deps, config, id, at(MON, 0)));
    const { rows } = await h.db.query<{ item_key: string; kind: string; status: string; summary: string }>(
      'SELECT item_key, kind, status, summary FROM opsbook.run_results WHERE run_id = $1 ORDER BY item_key',
      [r.runId],
    );
    expect(rows).toEqual([
      { item_key: 'check:env.required', kind: 'check', status: 'ok', summary: 'all 1 required variables are set' },
      { item_key: 'check:nosuch.check', kind: 'check', status: 'error', summary: 'no check matches "nosuch.check"' },
      { item_key: `check:sql.div-${driver}`, kind: 'check', status: 'error', summary: expect.stringMatching(/division by zero/) },
      { item_key: `task:0:${THROWING_TASK}`, kind: 'task', status: 'error', summary: 'the task exploded' },
      { item_key: `task:1:${HANGING_TASK}`, kind: 'task', status: 'error', summary: 'did not finish within 300 ms' },
    ]);
    expect(r.counts).toEqual({ ok: 1, warn: 0, fail: 0, skipped: 0, error: 4, manual: 1 });
    expect(r.report.delivery).toBe('sent');
    expect(r.text).toContain('Still listed');
    const run = (await h.db.query<{ status: string }>('SELECT status FROM opsbook.job_runs WHERE id = $1', [r.runId])).rows[0]!;
    expect(run.status).toBe('ok');
  });

  it('an unknown checklist id → NOT_FOUND naming the known ones; nothing claimed', async () => {
    const config = configWith({ id: `known-${driver}` });
    await expect(runChecklist(deps, config, 'nope', at(MON, 0))).rejects.toMatchObject({ code: 'NOT_FOUND', details: { known: [`known-${driver}`] } });
    expect(await count(`SELECT count(*) AS n FROM opsbook.job_runs WHERE job = 'nope'`)).toBe(0);
  });
});

// pg_sleep blocks PGlite's single in-process backend; the server drivers cancel it with statement_timeout.
describe.each<DbDriver>(['pg', 'neon'])('a check that hangs on %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await createDeps(parseEnv({}), { db: h.db, redis: createMemoryRedis(), email: { kind: 'outbox', send: async () => ({ id: 'x', location: 'nowhere' }) }, errors: recordingReporter(), log: () => undefined });
  });
  afterAll(() => h.close());

  it('a metric running pg_sleep(5) with itemTimeoutMs 300 → an error item; the other items and the run complete', async () => {
    const id = `hang-${driver}`;
    const flag = newFlag();
    setFlag(flag, true);
    const config = configWith(
      { id, itemTimeoutMs: 300, items: [{ check: 'env' }, { check: 'sql.sleepy' }, { manual: 'Look' }] },
      { requiredEnv: [flag], sqlMetrics: [{ id: 'sleepy', title: 'Sleeps', sql: 'SELECT pg_sleep(5)' }] },
    );
    const r = completed(await runChecklist(deps, config, id, at(MON, 0)));
    const { rows } = await h.db.query<{ item_key: string; status: string; summary: string }>('SELECT item_key, status, summary FROM opsbook.run_results WHERE run_id = $1 ORDER BY item_key', [r.runId]);
    expect(rows).toEqual([
      { item_key: 'check:env.required', status: 'ok', summary: 'all 1 required variables are set' },
      { item_key: 'check:sql.sleepy', status: 'error', summary: expect.stringMatching(/did not finish within 300 ms|statement timeout/) },
    ]);
    expect(r.counts).toMatchObject({ ok: 1, error: 1, manual: 1 });
    expect((await h.db.query<{ status: string }>('SELECT status FROM opsbook.job_runs WHERE id = $1', [r.runId])).rows[0]!.status).toBe('ok');
  });
});
