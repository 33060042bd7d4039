// Sentry.init installs a process-global client: every test that enables the reporter (gives it a DSN)
// lives in this one file and shares one reporter, and the SDK is closed in afterAll.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createErrorReporter, type ErrorReporter, type MonitorConfig } from '../../lib/sentry.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';

const ADMIN_TOKEN = 'admin-token-SECRET-1234567';
const CRON_SECRET = 'cron-secret-SECRET-7654321';

const hourly: MonitorConfig = { schedule: { type: 'crontab', value: '0 * * * *' }, checkinMargin: 5, maxRuntime: 10, timezone: 'UTC' };

describe('without SENTRY_DSN', () => {
  const reporter = createErrorReporter({ SENTRY_DSN: undefined, SENTRY_ENVIRONMENT: undefined, VERCEL_ENV: undefined });

  it('is disabled', () => {
    expect(reporter.enabled).toBe(false);
  });

  it('withMonitor runs fn and returns its result', async () => {
    let runs = 0;
    await expect(reporter.withMonitor('job', async () => ++runs)).resolves.toBe(1);
    expect(runs).toBe(1);
  });

  it('withMonitor passes a rejection through unchanged', async () => {
    const boom = new Error('job failed');
    await expect(reporter.withMonitor('job', async () => Promise.reject(boom))).rejects.toBe(boom);
  });

  it('captureException, captureMessage and flush resolve without doing anything', async () => {
    await expect(reporter.captureException(new Error('x'))).resolves.toBeUndefined();
    await expect(reporter.captureMessage('y')).resolves.toBeUndefined();
    await expect(reporter.flush()).resolves.toBeUndefined();
  });
});

describe('with the sink as SENTRY_DSN', () => {
  let sink: SentrySink;
  let reporter: ErrorReporter;
  const saved = { OPSBOOK_ADMIN_TOKEN: process.env.OPSBOOK_ADMIN_TOKEN, CRON_SECRET: process.env.CRON_SECRET };

  const statuses = (slug: string) => sink.checkIns().filter((c) => c.monitor_slug === slug).map((c) => c.status as string);

  beforeAll(async () => {
    // beforeSend redacts with the process environment, as in production.
    process.env.OPSBOOK_ADMIN_TOKEN = ADMIN_TOKEN;
    process.env.CRON_SECRET = CRON_SECRET;
    sink = await startSentrySink();
    reporter = createErrorReporter({ SENTRY_DSN: sink.dsn, SENTRY_ENVIRONMENT: 'opsbook-test', VERCEL_ENV: undefined });
  });

  afterAll(async () => {
    await (await import('@sentry/node')).close(2000);
    await sink.close();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  beforeEach(() => {
    sink.clear();
    sink.setFault(null);
  });

  it('is enabled', () => {
    expect(reporter.enabled).toBe(true);
  });

  it('captureException + flush → one event at the sink with the exception, tags and environment', async () => {
    await reporter.captureException(new TypeError('widget exploded'), { tags: { job: 'daily' }, extra: { attempt: 2 } });
    await reporter.flush();
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    const events = sink.events();
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      environment: 'opsbook-test',
      tags: { job: 'daily' },
      extra: { attempt: 2 },
      exception: { values: [{ type: 'TypeError', value: 'widget exploded' }] },
    });
  });

  it('a configured secret in an error message → redacted in the event received', async () => {
    await reporter.captureException(new Error(`login failed for token ${ADMIN_TOKEN} (cron ${CRON_SECRET})`));
    await reporter.flush();
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    const [event] = sink.events();
    expect(event.exception.values[0].value).toBe('login failed for token [OPSBOOK_ADMIN_TOKEN] (cron [CRON_SECRET])');
    const raw = JSON.stringify(sink.items);
    expect(raw).not.toContain(ADMIN_TOKEN);
    expect(raw).not.toContain(CRON_SECRET);
  });

  it('credentials in a URL inside an error message → stripped in the event received', async () => {
    await reporter.captureException(new Error('connect ECONNREFUSED postgres://app:pg-PASSWORD-99@db.internal:5432/app'));
    await reporter.flush();
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    const [event] = sink.events();
    expect(event.exception.values[0].value).toBe('connect ECONNREFUSED postgres://[redacted]@db.internal:5432/app');
    expect(JSON.stringify(sink.items)).not.toContain('pg-PASSWORD-99');
  });

  it('captureMessage with a secret → an event with the level and the message redacted', async () => {
    await reporter.captureMessage(`cron secret ${CRON_SECRET} rejected`, { level: 'warning', tags: { route: 'cron' } });
    await reporter.flush();
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    const [event] = sink.events();
    expect(event).toMatchObject({ level: 'warning', message: 'cron secret [CRON_SECRET] rejected', tags: { route: 'cron' } });
    expect(JSON.stringify(sink.items)).not.toContain(CRON_SECRET);
  });

  it('withMonitor with a resolving fn → returns its result; in_progress then ok check-ins carrying the schedule', async () => {
    const result = await reporter.withMonitor('opsbook-ok', async () => 'done', hourly);
    await reporter.flush();
    await sink.waitFor(() => statuses('opsbook-ok').length >= 2);
    expect(result).toBe('done');
    expect(statuses('opsbook-ok')).toEqual(['in_progress', 'ok']);
    const [started, finished] = sink.checkIns().filter((c) => c.monitor_slug === 'opsbook-ok');
    expect(started.monitor_config).toMatchObject({ schedule: { type: 'crontab', value: '0 * * * *' }, checkin_margin: 5, max_runtime: 10, timezone: 'UTC' });
    expect(finished.check_in_id).toBe(started.check_in_id);
    expect(finished.duration).toEqual(expect.any(Number));
    expect(started.environment).toBe('opsbook-test');
  });

  it('withMonitor without a monitor config → check-ins without monitor_config', async () => {
    await reporter.withMonitor('opsbook-noconfig', async () => 1);
    await reporter.flush();
    await sink.waitFor(() => statuses('opsbook-noconfig').length >= 2);
    expect(statuses('opsbook-noconfig')).toEqual(['in_progress', 'ok']);
    for (const c of sink.checkIns()) expect(c.monitor_config).toBeUndefined();
  });

  it('withMonitor with a rejecting fn → rethrows the same error; in_progress then error check-ins', async () => {
    const boom = new Error('job failed');
    await expect(reporter.withMonitor('opsbook-fail', async () => Promise.reject(boom), hourly)).rejects.toBe(boom);
    await reporter.flush();
    await sink.waitFor(() => statuses('opsbook-fail').length >= 2);
    expect(statuses('opsbook-fail')).toEqual(['in_progress', 'error']);
  });

  it('withMonitor with a fn that throws before its first await → still an error check-in and a rejection', async () => {
    const boom = new Error('thrown synchronously');
    const fn = (() => {
      throw boom;
    }) as unknown as () => Promise<never>;
    await expect(reporter.withMonitor('opsbook-sync-throw', fn)).rejects.toBe(boom);
    await reporter.flush();
    await sink.waitFor(() => statuses('opsbook-sync-throw').length >= 2);
    expect(statuses('opsbook-sync-throw')).toEqual(['in_progress', 'error']);
  });

  it('the sink failing (500) → captureException and flush still resolve; nothing is stored', async () => {
    sink.setFault(500);
    await reporter.captureException(new Error('lost'));
    await expect(reporter.flush()).resolves.toBeUndefined();
    expect(sink.requests).toBe(1);
    expect(sink.events()).toHaveLength(0);
  });
});
