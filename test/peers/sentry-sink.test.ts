// Sentry.init installs a process-global client, so every test that drives the SDK lives in this one file
// and shares one client, closed in afterAll.
import { gzipSync } from 'node:zlib';
import * as Sentry from '@sentry/node';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startSentrySink, type SentrySink } from './sentry-sink.js';

let sink: SentrySink;

const hourly = { schedule: { type: 'crontab' as const, value: '0 * * * *' }, checkinMargin: 5, maxRuntime: 10, timezone: 'UTC' };

beforeAll(async () => {
  sink = await startSentrySink();
  Sentry.init({
    dsn: sink.dsn,
    environment: 'test',
    release: 'opsbook@test',
    // No default integrations: nothing hooks process events or patches http, and no session or
    // client-report items interleave with the ones under test.
    defaultIntegrations: false,
    sendClientReports: false,
  });
});

afterAll(async () => {
  await Sentry.close(2000);
  await sink.close();
});

beforeEach(() => {
  sink.clear();
  sink.setFault(null);
});

const statuses = (slug: string) =>
  sink.checkIns().filter((c) => c.monitor_slug === slug).map((c) => c.status as string);

describe('sentry sink with the real SDK', () => {
  it('captureException → one event carrying the exception type and value', async () => {
    const eventId = Sentry.captureException(new Error('database unreachable'));
    expect(await Sentry.flush(2000)).toBe(true);

    const events = sink.events();
    expect(events).toHaveLength(1);
    expect(events[0].event_id).toBe(eventId);
    expect(events[0].environment).toBe('test');
    expect(events[0].release).toBe('opsbook@test');
    expect(events[0].exception.values[0]).toMatchObject({ type: 'Error', value: 'database unreachable' });
    expect(sink.items[0]?.envelope.event_id).toBe(eventId);
  });

  it('captureMessage → an event with the message and level', async () => {
    Sentry.captureMessage('disk nearly full', 'warning');
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    expect(sink.events()[0]).toMatchObject({ message: 'disk nearly full', level: 'warning' });
  });

  it('an event above the SDK\'s 32 KiB gzip threshold (sent content-encoding: gzip) is decoded intact', async () => {
    const blob = 'x'.repeat(40_000);
    Sentry.captureException(new Error('big'), { extra: { blob } });
    await Sentry.flush(2000);
    expect(sink.events()[0].extra.blob).toBe(blob);
  });

  it('captureCheckIn in_progress then ok → two check-ins sharing the id, with monitor_config', async () => {
    const checkInId = Sentry.captureCheckIn({ monitorSlug: 'manual-job', status: 'in_progress' }, hourly);
    Sentry.captureCheckIn({ monitorSlug: 'manual-job', status: 'ok', checkInId, duration: 1.5 });
    await Sentry.flush(2000);

    const [started, finished] = sink.checkIns();
    expect(started).toMatchObject({
      check_in_id: checkInId,
      monitor_slug: 'manual-job',
      status: 'in_progress',
      environment: 'test',
      release: 'opsbook@test',
      monitor_config: { schedule: { type: 'crontab', value: '0 * * * *' }, checkin_margin: 5, max_runtime: 10, timezone: 'UTC' },
    });
    expect(finished).toMatchObject({ check_in_id: checkInId, status: 'ok', duration: 1.5 });
    // Only the check-in that was given a config carries it.
    expect(finished.monitor_config).toBeUndefined();
  });

  it('withMonitor(async fn resolving) → in_progress then ok, with duration', async () => {
    const result = await Sentry.withMonitor('nightly-ok', async () => 'done', hourly);
    expect(result).toBe('done');
    await Sentry.flush(2000);

    expect(statuses('nightly-ok')).toEqual(['in_progress', 'ok']);
    const [started, finished] = sink.checkIns();
    expect(started.monitor_config.schedule).toEqual({ type: 'crontab', value: '0 * * * *' });
    expect(finished.check_in_id).toBe(started.check_in_id);
    expect(typeof finished.duration).toBe('number');
  });

  it('withMonitor(async fn rejecting) → in_progress then error, and the promise rejects', async () => {
    await expect(
      Sentry.withMonitor('nightly-fail', async () => {
        throw new Error('job failed');
      }, hourly),
    ).rejects.toThrow('job failed');
    await Sentry.flush(2000);
    expect(statuses('nightly-fail')).toEqual(['in_progress', 'error']);
  });

  it('withMonitor(sync fn throwing) → throws synchronously, so a chained .catch never runs; the error check-in is still sent', async () => {
    // The trap: withMonitor only turns the callback's outcome into a promise when the callback returns
    // one. A plain function that throws makes withMonitor itself throw, before any promise exists, so
    // `withMonitor(...).catch(handler)` does not handle it. App code should pass an async function.
    // Typed as promise-returning, as job functions usually are, but not `async`: it throws before returning.
    const job = (): Promise<void> => {
      throw new Error('sync boom');
    };
    let chained: Promise<unknown> | undefined;
    let handled = false;
    expect(() => {
      chained = Sentry.withMonitor('sync-throw', job, hourly).catch(() => {
        handled = true;
      });
    }).toThrow('sync boom');
    expect(chained).toBeUndefined();
    expect(handled).toBe(false);

    await Sentry.flush(2000);
    expect(statuses('sync-throw')).toEqual(['in_progress', 'error']);
  });

  it('waitFor rejects when the condition is not met in time', async () => {
    await expect(sink.waitFor((items) => items.length > 0, 50)).rejects.toThrow(/not met within 50 ms/);
  });

  it('fault 500 → the SDK drops the event without throwing; after setFault(null) events arrive again', async () => {
    sink.setFault(500);
    Sentry.captureException(new Error('lost'));
    expect(await Sentry.flush(2000)).toBe(true);
    expect(sink.requests).toBe(1);
    expect(sink.items).toHaveLength(0);

    sink.setFault(null);
    Sentry.captureException(new Error('delivered'));
    await Sentry.flush(2000);
    expect(sink.events().map((e) => e.exception.values[0].value)).toEqual(['delivered']);
  });

  it('a hand-made envelope with a length-prefixed attachment and gzip encoding is parsed item by item', async () => {
    const attachment = 'line one\nline two\n';
    const body = [
      JSON.stringify({ event_id: 'abc' }),
      JSON.stringify({ type: 'event' }),
      JSON.stringify({ event_id: 'abc', message: 'with attachment' }),
      JSON.stringify({ type: 'attachment', length: Buffer.byteLength(attachment), filename: 'log.txt', content_type: 'text/plain' }),
      attachment,
    ].join('\n');
    const url = new URL(sink.dsn);
    const res = await fetch(`http://${url.host}/api/1/envelope/?sentry_key=public&sentry_version=7`, {
      method: 'POST',
      headers: { 'content-encoding': 'gzip', 'content-type': 'application/x-sentry-envelope' },
      body: gzipSync(body),
    });
    expect(res.status).toBe(200);
    expect(sink.items.map((i) => i.type)).toEqual(['event', 'attachment']);
    expect(sink.items[1]?.header.filename).toBe('log.txt');
    expect(Buffer.isBuffer(sink.items[1]?.payload)).toBe(true);
    expect(String(sink.items[1]?.payload)).toBe(attachment);
  });

  it('a request with the wrong sentry_key → 403 and nothing stored', async () => {
    const url = new URL(sink.dsn);
    const res = await fetch(`http://${url.host}/api/1/envelope/?sentry_key=intruder`, {
      method: 'POST',
      body: '{}\n{"type":"event"}\n{}',
    });
    expect(res.status).toBe(403);
    expect(sink.items).toHaveLength(0);
  });

  // Last on purpose: after a 429 the client refuses to send anything until retry-after has passed.
  it('fault 429 → the SDK drops the event and then backs off client-side for retry-after', async () => {
    sink.setFault(429, { retryAfterSeconds: 600 });
    Sentry.captureException(new Error('rate limited'));
    await Sentry.flush(2000);
    expect(sink.requests).toBe(1);

    sink.setFault(null);
    Sentry.captureException(new Error('suppressed by backoff'));
    await Sentry.flush(2000);
    expect(sink.requests).toBe(1);
    expect(sink.items).toHaveLength(0);
  });
});
