// Sentry.init installs a process-global client: every test here that enables the reporter (gives it a
// DSN) shares one reporter, and the SDK is closed in afterAll. The real @sentry/node talks to the local
// Sentry sink; handleCron (lib/cron.ts) must flush before it returns, so the sink is read right after.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET as cronRoute } from '../../api/cron/[job].js';
import { GET as latestReportRoute } from '../../api/reports/latest.js';
import { raiseMissedAfterHealth } from '../../lib/alerts/missed.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { setConfig } from '../../lib/config/index.js';
import { handleCron } from '../../lib/cron.js';
import { runHealth } from '../../lib/health.js';
import { parseConfig } from '../../lib/config/index.js';
import { createPgDb } from '../../lib/db/pg.js';
import { createDeps, setDeps, type Deps } from '../../lib/deps.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { createErrorReporter, type ErrorReporter } from '../../lib/sentry.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';
import { DEFAULT_LIMITS, openDb, type DbHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';

const CRON_SECRET = 'cron-secret-for-sentry-tests-0123456789';
const ADMIN = 'admin-token-for-sentry-tests-0123456789';
const RESEND_KEY = 're_test_sentry_key_0123456789';
const DAY = 86_400_000;
/** Monday 2 March 2026, 06:30 UTC. */
const MON = new Date('2026-03-02T06:30:00Z');
const day = (n: number) => new Date(MON.getTime() + n * DAY);
const FLAG = `OPSBOOK_T_FLAG_SENTRY_${randomBytes(4).toString('hex').toUpperCase()}`;

const config = parseConfig({
  service: 'SentryTest',
  recipients: ['oncall@example.com'],
  // Immediate transitions: N-of-M thresholds have their own tests (test/alerts).
  alerts: { alertAfter: 1, recoverAfter: 1 },
  checks: { requiredEnv: [FLAG] },
  checklists: [
    {
      id: 'morning',
      title: 'Morning',
      schedule: { type: 'weekly', days: ['mon', 'tue', 'wed', 'thu', 'fri'], at: '06:30' },
      sentry: { checkinMargin: 7, maxRuntime: 3 },
      items: [{ check: 'env' }, { manual: 'Look at the dashboards' }],
    },
    { id: 'nightly', title: 'Nightly', schedule: { type: 'cron', cron: '15 2 * * *' }, items: [{ manual: 'Read the backup log' }] },
  ],
});
const cronRequest = (job: string) => new Request(`http://localhost/api/cron/${job}`, { headers: { authorization: `Bearer ${CRON_SECRET}` } });

describe('handleCron with Sentry on', () => {
  let h: DbHarness;
  let sentry: SentrySink;
  let resend: ResendSink;
  let reporter: ErrorReporter;
  let deps: Deps;
  const env = () => parseEnv({ CRON_SECRET, RESEND_API_KEY: RESEND_KEY, SENTRY_DSN: sentry.dsn, SENTRY_ENVIRONMENT: 'opsbook-test' });

  beforeAll(async () => {
    [h, sentry, resend] = await Promise.all([openDb('pg'), startSentrySink(), startResendSink()]);
    reporter = createErrorReporter({ SENTRY_DSN: sentry.dsn, SENTRY_ENVIRONMENT: 'opsbook-test', VERCEL_ENV: undefined });
    deps = await createDeps(env(), {
      db: h.db,
      redis: createMemoryRedis(),
      email: createResendSender(RESEND_KEY, { baseUrl: resend.baseUrl, timeoutMs: 5000 }),
      errors: reporter,
      log: () => undefined,
    });
  });
  afterAll(async () => {
    delete process.env[FLAG];
    setDeps(undefined);
    setConfig(undefined);
    await (await import('@sentry/node')).close(2000);
    await Promise.allSettled([h.close(), sentry.close(), resend.close()]);
  });
  beforeEach(() => {
    sentry.clear();
    sentry.setFault(null);
  });

  const checkIns = (slug: string) => sentry.checkIns().filter((c) => c.monitor_slug === slug);

  it.each([
    ['morning', '30 6 * * 1,2,3,4,5', 7, 3, day(0)],
    ['nightly', '15 2 * * *', 60, 10, new Date('2026-03-02T02:15:00Z')],
  ])('%s → in_progress then ok check-ins carrying its vercel cron, margin, max runtime and UTC, all arrived when handleCron returns', async (job, schedule, margin, maxRuntime, now) => {
    process.env[FLAG] = '1';
    const result = await handleCron(cronRequest(job), deps, config, job, now);
    expect(result).toMatchObject({ checklist: job, status: 'completed' });
    // No waitFor: flush is awaited inside handleCron, so everything is at the sink already.
    const [started, finished] = checkIns(`opsbook-${job}`);
    expect(checkIns(`opsbook-${job}`).map((c) => c.status)).toEqual(['in_progress', 'ok']);
    expect(started.monitor_config).toEqual({ schedule: { type: 'crontab', value: schedule }, checkin_margin: margin, max_runtime: maxRuntime, timezone: 'UTC' });
    expect(finished.check_in_id).toBe(started.check_in_id);
    expect(started.environment).toBe('opsbook-test');
    // Nothing but a missed run of the other checklist (each test runs on its own day) may be raised.
    expect(sentry.events().filter((e) => (e as { tags?: Record<string, string> }).tags?.alert !== 'missed-run')).toEqual([]);
  });

  it('a checklist not due today → still an ok check-in (the cron ran and answered)', async () => {
    // Saturday: the weekday checklist's cron does not fire, but a manual call of the route still answers.
    const result = await handleCron(cronRequest('morning'), deps, config, 'morning', day(5));
    expect(result).toMatchObject({ status: 'not-due' });
    expect(checkIns('opsbook-morning').map((c) => c.status)).toEqual(['in_progress', 'ok']);
  });

  it('a job that fails (the database refuses connections) → an error check-in and one event for the exception, sent before handleCron rejects', async () => {
    const port = await closedPort();
    const broken = { ...deps, db: createPgDb(`postgres://postgres@127.0.0.1:${port}/nowhere`, { ...DEFAULT_LIMITS, callTimeoutMs: 2000 }) };
    try {
      await expect(handleCron(cronRequest('nightly'), broken, config, 'nightly', new Date('2026-03-03T02:15:00Z'))).rejects.toThrow(/ECONNREFUSED|connect/);
    } finally {
      await broken.db.close();
    }
    expect(checkIns('opsbook-nightly').map((c) => c.status)).toEqual(['in_progress', 'error']);
    const events = sentry.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ tags: { job: 'nightly' }, exception: { values: [expect.objectContaining({ value: expect.stringMatching(/ECONNREFUSED|connect/) })] } });
  });

  it('an unauthenticated call → no check-in and no event: the secret is checked before anything runs', async () => {
    await expect(handleCron(new Request('http://localhost/api/cron/morning'), deps, config, 'morning', day(0))).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
    expect(sentry.items).toEqual([]);
  });

  it('ok → failing → still failing → recovered: exactly one event, on the day it starts failing', async () => {
    const job = 'morning';
    const days: Array<[number, boolean]> = [
      [7, true], // Monday: ok
      [8, false], // Tuesday: failing — one event
      [9, false], // Wednesday: still failing — none
      [10, true], // Thursday: recovered — none
    ];
    const eventsPerDay: unknown[][] = [];
    for (const [n, set] of days) {
      if (set) process.env[FLAG] = '1';
      else delete process.env[FLAG];
      sentry.clear();
      const result = await handleCron(cronRequest(job), deps, config, job, day(n));
      expect(result).toMatchObject({ status: 'completed' });
      expect(checkIns(`opsbook-${job}`).map((c) => c.status)).toEqual(['in_progress', 'ok']);
      const events = sentry.events() as Array<{ tags?: Record<string, string> }>;
      // The nightly checklist does not run in this test: each day, the next invocation raises its miss once.
      expect(events.filter((e) => e.tags?.alert === 'missed-run').map((e) => e.tags?.checklist)).toEqual(['nightly']);
      eventsPerDay.push(events.filter((e) => e.tags?.alert !== 'missed-run'));
    }
    expect(eventsPerDay.map((e) => e.length)).toEqual([0, 1, 0, 0]);
    expect(eventsPerDay[1]![0]).toMatchObject({
      level: 'error',
      message: expect.stringContaining(`SentryTest · morning: env.required is failing — 1 of 1 required variables missing: ${FLAG}`),
      tags: { checklist: 'morning', item: 'env.required', severity: 'P2', incident: '1' },
      fingerprint: ['opsbook', 'morning/check:env.required'],
      environment: 'opsbook-test',
    });
  });
  it('a missed run raised after health’s answer (waitUntil) with the Sentry sink down → the claim is released; the next poll, with the sink up, raises it once', async () => {
    const checklists = config.checklists;
    const opts = { budgetMs: 5000, critical: ['database' as const], production: false };
    // nightly ran on Sunday 22 March and not on the 23rd: past its grace, health sees the miss.
    expect((await runChecklist(deps, config, 'nightly', new Date('2026-03-22T02:15:00Z'))).status).toBe('completed');
    const now = new Date('2026-03-23T03:30:00Z');
    const claims = async () => (await h.db.query(`SELECT raised_by FROM opsbook.missed_alerts WHERE checklist = 'nightly' AND period = '2026-03-23'`)).rows;
    const raised = () => sentry.events().filter((e) => e.tags?.alert === 'missed-run' && e.tags?.checklist === 'nightly' && e.tags?.period === '2026-03-23');
    const poll = async () => {
      const result = await runHealth(deps, opts, now, { checklists });
      expect(result.details.checklists?.missed.map((m) => `${m.checklist}:${m.period}`)).toContain('nightly:2026-03-23');
      const deferred: Promise<unknown>[] = [];
      await raiseMissedAfterHealth(deps, result, { checklists }, { waitUntil: (p) => void deferred.push(p) }, () => now);
      expect(deferred).toHaveLength(1);
      await Promise.all(deferred);
    };

    sentry.setFault(503);
    await poll();
    expect(sentry.requests).toBeGreaterThan(0);
    expect(raised()).toEqual([]);
    expect(await claims()).toEqual([]);

    sentry.setFault(null);
    await poll();
    // No waitFor: the waitUntil work settles only once Sentry has answered.
    expect(raised()).toHaveLength(1);
    expect(raised()[0]).toMatchObject({ level: 'error', message: expect.stringContaining('nightly missed its run for 2026-03-23') });
    expect(await claims()).toEqual([{ raised_by: 'health' }]);

    await poll();
    expect(raised()).toHaveLength(1);
  });

  it('an unexpected error in the cron route (the install row is gone: a corrupted state row) → 500 INTERNAL in the error shape, no stack; one Sentry event with the cause chain', async () => {
    // Due all day, every day: the route uses the real clock.
    const always = parseConfig({ service: 'SentryTest', checklists: [{ id: 'always', title: 'Always', schedule: { type: 'daily', at: '00:00' }, items: [{ manual: 'Look' }] }] });
    setDeps(deps);
    setConfig(always);
    const install = (await h.db.query<{ install_id: string }>('SELECT install_id FROM opsbook.install')).rows[0]!.install_id;
    await h.db.query('DELETE FROM opsbook.install');
    try {
      const res = await cronRoute(cronRequest('always'));
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: { code: 'INTERNAL', message: 'Internal error. The request id identifies it in the logs.' }, requestId: res.headers.get('x-request-id') });
      expect(text).not.toMatch(/\bat .*\.(ts|js):\d+|idempotency_key|null value/);
    } finally {
      await h.db.query('INSERT INTO opsbook.install (install_id) VALUES ($1)', [install]);
    }
    const events = sentry.events().filter((e) => e.exception);
    expect(events).toHaveLength(1);
    const values = events[0].exception.values as Array<{ type: string; value: string }>;
    // linkedErrors: the database's error (the cause) first, then the run's error that wraps it.
    expect(values.map((v) => v.value)).toEqual([
      expect.stringMatching(/null value in column "idempotency_key"/),
      expect.stringMatching(/^checklist always: run \d+ for \d{4}-\d\d-\d\d failed: null value in column "idempotency_key"/),
    ]);
    expect(events[0].tags).toMatchObject({ job: 'always' });
  });

  it('an unexpected error in any other route (a stored report with an impossible timestamp) → 500 INTERNAL, no stack; one Sentry event from the route wrapper, sent before the answer', async () => {
    setDeps(await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, SENTRY_DSN: sentry.dsn }), { db: h.db, redis: createMemoryRedis(), errors: reporter, log: () => undefined }));
    await h.db.query(
      `INSERT INTO opsbook.reports (checklist, period, subject, html, text, idempotency_key, created_at, delivery) VALUES ('corrupt', '2026-03-02', 's', 'h', 't', 'k', 'infinity', 'sent')`,
    );
    const res = await latestReportRoute(new Request('http://localhost/api/reports/latest?checklist=corrupt', { headers: { authorization: `Bearer ${ADMIN}` } }));
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error. The request id identifies it in the logs.' }, requestId: res.headers.get('x-request-id') });
    const events = sentry.events().filter((e) => e.exception);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      tags: { stage: 'route', path: '/api/reports/latest', requestId: res.headers.get('x-request-id') },
      exception: { values: [expect.objectContaining({ type: 'RangeError', value: 'Invalid time value' })] },
    });
  });

  it('a known outcome (404 NOT_FOUND) or a dependency outage (503) in a route → no Sentry event', async () => {
    setDeps(await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, SENTRY_DSN: sentry.dsn }), { db: h.db, redis: createMemoryRedis(), errors: reporter, log: () => undefined }));
    const res = await latestReportRoute(new Request('http://localhost/api/reports/latest?checklist=nothing-here', { headers: { authorization: `Bearer ${ADMIN}` } }));
    expect(res.status).toBe(404);
    const port = await closedPort();
    const down = createPgDb(`postgres://postgres@127.0.0.1:${port}/nowhere`, { ...DEFAULT_LIMITS, callTimeoutMs: 1000 });
    try {
      setDeps(await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, SENTRY_DSN: sentry.dsn }), { db: down, redis: createMemoryRedis(), errors: reporter, log: () => undefined }));
      const outage = await latestReportRoute(new Request('http://localhost/api/reports/latest?checklist=daily', { headers: { authorization: `Bearer ${ADMIN}` } }));
      expect(outage.status).toBe(503);
    } finally {
      await down.close();
    }
    await reporter.flush(2000);
    expect(sentry.events()).toEqual([]);
  });
});
