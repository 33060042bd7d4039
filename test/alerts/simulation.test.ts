import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { handleCron } from '../../lib/cron.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { createErrorReporter } from '../../lib/sentry.js';
import { closeDiagnosedDbs } from '../../lib/checks/target.js';
import { startPagerDutySink, type PagerDutySink } from '../peers/pagerduty-sink.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';
import { startSlackSink, type SlackSink } from '../peers/slack-sink.js';
import { startWebhookSink, type WebhookSink } from '../peers/webhook-sink.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { startProxy, type FaultProxy } from '../support/faults.js';

/**
 * Thirty simulated days of a daily checklist (09:00 UTC, on-change email), against real Postgres and
 * Redis, a real HTTP target, the real Sentry SDK and Resend SDK at their local sinks, Slack, signed-webhook
 * and PagerDuty channels at theirs (test/peers/*-sink.ts), with the clock injected. The script of what goes wrong, day by day, is the ground truth; the alerts Opsbook sends are
 * scored against it.
 */

const DAY_MS = 86_400_000;
const START = Date.parse('2026-11-01T09:00:00Z'); // a Sunday
const dayAt = (d: number) => new Date(START + d * DAY_MS);
const CRON_SECRET = 'sim-cron-secret-0123456789abcdef';
const RESEND_KEY = 're_sim_0123456789abcdef';
const TAG = randomBytes(3).toString('hex').toUpperCase();
const APP_DB_ENV = `OPSBOOK_T_SIM_APP_DB_${TAG}`;
/** Where the channels' secrets live (the config names variables only). */
const CHANNEL_ENV = { slackUrl: `OPSBOOK_T_SIM_SLACK_URL_${TAG}`, hookUrl: `OPSBOOK_T_SIM_HOOK_URL_${TAG}`, hookSecret: `OPSBOOK_T_SIM_HOOK_SECRET_${TAG}`, pdKey: `OPSBOOK_T_SIM_PD_KEY_${TAG}` };
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

/** The script. Outages are inclusive day ranges. */
const SCRIPT = {
  apiOutage: range(3, 6), // real outage 1: /api answers 500
  paymentsOutage: range(10, 13), // real outage 2: the payments port is closed
  postgresOutage: range(16, 18), // the diagnosed Postgres refuses connections: ten checks depend on it
  missedDay: 22, // the cron does not fire
  mutedApiOutage: range(26, 27), // /api down again, inside the maintenance window
  flakyFails: (d: number) => d % 2 === 0, // alternates: never two failing runs in a row
};

/**
 * What should alert: one Sentry event each, an email when it opens and when it resolves, and a message to
 * each channel its severity is routed to (http.api is configured P1, tcp P3 by default, postgres.reachable
 * is P1, a missed run P2 by default).
 */
const INCIDENTS = [
  { id: 'http.api', key: 'daily/check:http.api', from: 3, to: 6, severity: 'P1' },
  { id: 'tcp.payments', key: 'daily/check:tcp.payments', from: 10, to: 13, severity: 'P3' },
  { id: 'postgres.reachable', key: 'daily/check:postgres.reachable', from: 16, to: 18, severity: 'P1' },
  { id: 'missed-run', key: 'missed-run', from: 22, to: 22, severity: 'P2' },
];
const THRESHOLDS = { alertAfter: 2, recoverAfter: 2 };

/**
 * The channels and their routes: every incident reaches Slack and the webhook, only P1 pages PagerDuty,
 * so a tcp.payments (P3) or missed-run (P2) page would cost PagerDuty precision.
 */
type ChannelName = 'slack' | 'hook' | 'pagerduty';
const CHANNEL_NAMES: ChannelName[] = ['slack', 'hook', 'pagerduty'];
const ROUTES: Array<{ severity: Array<'P1' | 'P2' | 'P3' | 'P4'>; channels: ChannelName[] }> = [
  { severity: ['P1'], channels: ['pagerduty', 'slack', 'hook'] },
  { severity: ['P2', 'P3'], channels: ['slack', 'hook'] },
];
/** What the script says each channel hears, written out rather than computed from ROUTES. */
const ROUTED: Record<ChannelName, string[]> = {
  slack: ['http.api', 'tcp.payments', 'postgres.reachable', 'missed-run'],
  hook: ['http.api', 'tcp.payments', 'postgres.reachable', 'missed-run'],
  pagerduty: ['http.api', 'postgres.reachable'],
};

function config(targetPort: number, paymentsPort: number, pdEventsUrl: string): OpsbookConfig {
  return parseConfig({
    service: 'Sim',
    recipients: ['oncall@example.com'],
    alerts: THRESHOLDS,
    maintenanceWindows: [{ id: 'month-end', title: 'Month-end migration', dayOfMonth: [27], start: '08:00', durationMinutes: 2 * 24 * 60, checks: ['http.api'] }],
    checks: {
      postgres: { databaseUrlEnv: APP_DB_ENV },
      http: [
        { id: 'api', url: `http://127.0.0.1:${targetPort}/api`, retries: 0, timeoutMs: 2000, severity: 'P1' },
        { id: 'flaky', url: `http://127.0.0.1:${targetPort}/flaky`, retries: 0, timeoutMs: 2000 },
      ],
      tcp: [{ id: 'payments', host: '127.0.0.1', port: paymentsPort, timeoutMs: 2000 }],
      // Ten checks that need the diagnosed Postgres.
      sqlMetrics: range(1, 10).map((n) => ({ id: `m${n}`, title: `Metric ${n}`, sql: `SELECT ${n}`, warn: 100 })),
    },
    checklists: [
      {
        id: 'daily',
        title: 'Daily',
        schedule: { type: 'daily', at: '09:00' },
        notify: 'on-change',
        items: [{ check: 'http' }, { check: 'tcp' }, { check: 'sql' }, { check: 'redis.ping' }],
        itemTimeoutMs: 3000,
      },
    ],
    notifications: {
      channels: {
        slack: { type: 'slack', urlEnv: CHANNEL_ENV.slackUrl },
        hook: { type: 'webhook', urlEnv: CHANNEL_ENV.hookUrl, secretEnv: CHANNEL_ENV.hookSecret },
        pagerduty: { type: 'pagerduty', routingKeyEnv: CHANNEL_ENV.pdKey, eventsUrl: pdEventsUrl },
      },
      routes: ROUTES,
    },
  });
}

/** One channel message, as the script names it: which incident, which transition, on which simulated day. */
type Kind = 'open' | 'resolved' | 'missed';
interface ChannelMessage {
  incident: string;
  kind: Kind;
  day: number;
  /** The subject the channel saw (webhook subject, PagerDuty dedup_key); Slack has none. */
  subject?: string;
}

interface DayLog {
  day: number;
  status: string;
  newFailures: string[];
  recovered: string[];
  suppressed: number;
  text: string;
}

describe('30 simulated days: alerts match the real incidents exactly', () => {
  let store: DbHarness;
  let redis: RedisHarness;
  let sentry: SentrySink;
  let resend: ResendSink;
  let slack: SlackSink;
  let hook: WebhookSink;
  let pd: PagerDutySink;
  /** The simulated day each message arrived on, per channel, in arrival order. */
  const arrivals: Record<ChannelName, number[]> = { slack: [], hook: [], pagerduty: [] };
  let appDb: FaultProxy;
  let payments: FaultProxy;
  let target: Server;
  let deps: Deps;
  let cfg: OpsbookConfig;
  let today = 0;
  const days: DayLog[] = [];

  beforeAll(async () => {
    [store, redis, sentry, resend, slack, hook, pd] = await Promise.all([
      openDb('pg'),
      openRedis('tcp'),
      startSentrySink(),
      startResendSink(),
      startSlackSink(),
      // The receiver's clock is the simulated one, so the replay window is checked against the day.
      startWebhookSink({ now: () => dayAt(today) }),
      startPagerDutySink(),
    ]);
    process.env[CHANNEL_ENV.slackUrl] = slack.webhookUrl;
    process.env[CHANNEL_ENV.hookUrl] = hook.url;
    process.env[CHANNEL_ENV.hookSecret] = hook.secret;
    process.env[CHANNEL_ENV.pdKey] = pd.routingKey;
    target = createServer((req, res) => {
      const down = req.url === '/api' ? SCRIPT.apiOutage.includes(today) || SCRIPT.mutedApiOutage.includes(today) : req.url === '/flaky' ? SCRIPT.flakyFails(today) : false;
      res.writeHead(down ? 500 : 200, { 'content-type': 'application/json' }).end(down ? '{"ok":false}' : '{"ok":true}');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    const targetPort = (target.address() as AddressInfo).port;
    // The diagnosed ("app") database is the same Postgres database, reached through a proxy we can cut.
    // Wherever that Postgres is: the system one, or the throwaway cluster the suite starts on a fresh machine.
    const pgTarget = new URL(store.database!.url);
    [appDb, payments] = await Promise.all([startProxy(Number(pgTarget.port || 5432), pgTarget.hostname), startProxy(targetPort)]);
    const appUrl = new URL(pgTarget);
    appUrl.hostname = '127.0.0.1';
    appUrl.port = String(appDb.port);
    process.env[APP_DB_ENV] = appUrl.toString();
    cfg = config(targetPort, payments.port, pd.eventsUrl);
    const env = parseEnv({ CRON_SECRET, RESEND_API_KEY: RESEND_KEY, SENTRY_DSN: sentry.dsn, SENTRY_ENVIRONMENT: 'sim', OPSBOOK_DEPENDENCY_TIMEOUT_MS: '2000' });
    deps = await createDeps(env, {
      db: store.db,
      redis: redis.redis,
      email: createResendSender(RESEND_KEY, { baseUrl: resend.baseUrl, timeoutMs: 5000 }),
      errors: createErrorReporter(env),
      log: () => undefined,
    });
    await ensureSchema(store.db);

    for (let d = 0; d < 30; d++) {
      today = d;
      await appDb.setMode(SCRIPT.postgresOutage.includes(d) ? 'refuse' : 'pass');
      await payments.setMode(SCRIPT.paymentsOutage.includes(d) ? 'refuse' : 'pass');
      if (d === SCRIPT.missedDay) continue;
      const request = new Request('http://localhost/api/cron/daily', { headers: { authorization: `Bearer ${CRON_SECRET}` } });
      const r = (await handleCron(request, deps, cfg, 'daily', dayAt(d))) as {
        status: string;
        transitions?: { newFailures: string[]; recovered: string[] };
        text?: string;
      };
      days.push({
        day: d,
        status: r.status,
        newFailures: r.transitions?.newFailures ?? [],
        recovered: r.transitions?.recovered ?? [],
        suppressed: (r.text?.match(/suppressed: postgres unreachable/g) ?? []).length,
        text: r.text ?? '',
      });
      // Whatever reached a channel during this invocation (the missed run included) is this day's.
      const received: Record<ChannelName, number> = { slack: slack.messages.length, hook: hook.messages.length, pagerduty: pd.events.length };
      for (const c of CHANNEL_NAMES) while (arrivals[c].length < received[c]) arrivals[c].push(d);
    }
  }, 240_000);

  afterAll(async () => {
    delete process.env[APP_DB_ENV];
    for (const v of Object.values(CHANNEL_ENV)) delete process.env[v];
    await closeDiagnosedDbs();
    await Promise.allSettled([
      appDb?.close(),
      payments?.close(),
      new Promise<void>((r) => target?.close(() => r())),
      sentry?.close(),
      resend?.close(),
      redis?.close(),
      slack?.close(),
      hook?.close(),
      pd?.close(),
    ]);
    await store?.close();
  });

  /** Each alert event, placed on the simulated day it was raised. */
  const alertEvents = () =>
    (sentry.events() as Array<{ message?: string; tags?: Record<string, string>; fingerprint?: string[] }>).map((e) => {
      const missed = e.tags?.alert === 'missed-run';
      return { key: missed ? 'missed-run' : (e.fingerprint?.[1] ?? '?'), message: e.message ?? '', period: e.tags?.period };
    });
  /** The day of a report email, from the period in its text. */
  const emailDays = () =>
    resend.emails.map((m) => {
      const period = /\b(2026-\d\d-\d\d)\b/.exec(m.text ?? '')?.[1];
      return period ? Math.round((Date.parse(`${period}T09:00:00Z`) - START) / DAY_MS) : -1;
    });

  function score(name: string, observed: string[], expected: string[]): { precision: number; recall: number } {
    const remaining = [...expected];
    let tp = 0;
    for (const o of observed) {
      const i = remaining.indexOf(o);
      if (i >= 0) {
        tp++;
        remaining.splice(i, 1);
      }
    }
    const precision = observed.length ? tp / observed.length : 1;
    const recall = expected.length ? tp / expected.length : 1;
    console.log(`[simulation] ${name}: ${observed.length} sent, ${expected.length} expected, ${tp} matched → precision ${precision.toFixed(2)}, recall ${recall.toFixed(2)}`);
    return { precision, recall };
  }

  it('every scheduled day ran (29 of 30: the missed one is the script’s)', () => {
    expect(days.map((d) => d.status)).toEqual(Array(29).fill('completed'));
  });

  it('Sentry: exactly one event per real incident — precision 1.0, recall 1.0', () => {
    const events = alertEvents();
    const { precision, recall } = score(
      'Sentry events',
      events.map((e) => e.key),
      INCIDENTS.map((i) => i.key),
    );
    expect({ precision, recall }).toEqual({ precision: 1, recall: 1 });
    // …each on the day the threshold was reached (alertAfter 2: the second failing run).
    for (const i of INCIDENTS.filter((x) => x.id !== 'missed-run')) {
      expect(days.find((d) => d.day === i.from + THRESHOLDS.alertAfter - 1)!.newFailures).toEqual([`check:${i.id}`]);
    }
  });

  it('email (on-change): one when each incident opens and one when it resolves — precision 1.0, recall 1.0', () => {
    const expected = [
      ...INCIDENTS.filter((i) => i.id !== 'missed-run').flatMap((i) => [i.from + THRESHOLDS.alertAfter - 1, i.to + THRESHOLDS.recoverAfter]),
      SCRIPT.missedDay + 1, // the next run reports the missed one
    ].sort((a, b) => a - b);
    const { precision, recall } = score(
      'emails',
      emailDays().map(String),
      expected.map(String),
    );
    expect({ precision, recall }).toEqual({ precision: 1, recall: 1 });
    for (const i of INCIDENTS.filter((x) => x.id !== 'missed-run')) {
      expect(days.find((d) => d.day === i.to + THRESHOLDS.recoverAfter)!.recovered).toEqual([`check:${i.id}`]);
    }
  });

  /** The incident a message names: the alert key of a check, or 'missed-run'. */
  const incidentOf = (check: string) => (check === 'missed-run' ? 'missed-run' : `daily/check:${check}`);
  const subjectIncident = (subject: string) => (/^daily@/.test(subject) ? 'missed-run' : subject.replace(/#\d+$/, ''));
  /** What each sink received, read back from what the service itself would see. */
  const channelMessages = (): Record<ChannelName, ChannelMessage[]> => ({
    // Slack carries no subject: its one-line text names the check and the transition.
    slack: slack.messages.map((m, i) => {
      const text = m.text ?? '';
      const opened = /^P\d · Sim · daily: (\S+) is failing$/.exec(text);
      const resolved = /^Resolved · Sim · daily: (\S+) recovered$/.exec(text);
      const missed = /^P\d · Sim · daily missed its run for (\d{4}-\d\d-\d\d)$/.exec(text);
      const kind: Kind | '?' = opened ? 'open' : resolved ? 'resolved' : missed ? 'missed' : '?';
      return { incident: missed ? 'missed-run' : incidentOf((opened ?? resolved)?.[1] ?? `?${text}`), kind: kind as Kind, day: arrivals.slack[i]! };
    }),
    hook: hook.messages.map((m, i) => ({ incident: subjectIncident(String(m.body.subject)), kind: m.body.event as Kind, day: arrivals.hook[i]!, subject: String(m.body.subject) })),
    pagerduty: pd.events.map((e, i) => ({
      incident: subjectIncident(e.dedup_key),
      kind: e.event_action === 'resolve' ? 'resolved' : e.payload?.class === 'missed-run' ? 'missed' : 'open',
      day: arrivals.pagerduty[i]!,
      subject: e.dedup_key,
    })),
  });
  /** What the script says a channel should have received: an open and a resolve per incident, one message per missed run. */
  const expectedMessages = (channel: ChannelName): ChannelMessage[] =>
    INCIDENTS.filter((i) => ROUTED[channel].includes(i.id)).flatMap((i): ChannelMessage[] =>
      i.id === 'missed-run'
        ? [{ incident: i.key, kind: 'missed', day: SCRIPT.missedDay + 1 }] // raised by the next invocation
        : [
            { incident: i.key, kind: 'open', day: i.from + THRESHOLDS.alertAfter - 1 },
            { incident: i.key, kind: 'resolved', day: i.to + THRESHOLDS.recoverAfter },
          ],
    );
  const asText = (m: ChannelMessage) => `${m.incident} ${m.kind} day ${m.day}`;

  it.each(CHANNEL_NAMES)('%s: one message per routed incident transition (open, resolve, missed run), on its day — precision 1.0, recall 1.0', (channel) => {
    const observed = channelMessages()[channel];
    const { precision, recall } = score(`${channel} messages`, observed.map(asText), expectedMessages(channel).map(asText));
    if (precision < 1 || recall < 1) console.log(`[simulation] ${channel} received:\n  ${observed.map(asText).join('\n  ')}`);
    expect({ precision, recall }).toEqual({ precision: 1, recall: 1 });
    // Nothing was delivered twice or refused on the way (the webhook receiver drops a repeated id, so count requests).
    const sink = { slack, hook, pagerduty: pd }[channel];
    expect(sink.requests, `${channel}: one request per message`).toBe(observed.length);
    if (channel === 'hook') expect(hook.rejected).toEqual([]);
    // The subject the channel keys on is the incident's first (and only alerted) sequence, or the missed period.
    const missedPeriod = dayAt(SCRIPT.missedDay).toISOString().slice(0, 10);
    for (const m of observed.filter((x) => x.subject !== undefined)) expect(m.subject).toBe(m.kind === 'missed' ? `daily@${missedPeriod}` : `${m.incident}#1`);
  });

  it('PagerDuty: every trigger is resolved by one resolve with its dedup_key, after it, and no alert is left open', () => {
    const triggers = pd.events.filter((e) => e.event_action === 'trigger');
    const resolves = pd.events.filter((e) => e.event_action === 'resolve');
    expect(triggers.length).toBeGreaterThan(0);
    expect(resolves.map((e) => e.dedup_key).sort()).toEqual(triggers.map((e) => e.dedup_key).sort());
    expect(new Set(triggers.map((e) => e.dedup_key)).size, 'one trigger per incident').toBe(triggers.length);
    for (const t of triggers) {
      const opened = pd.events.indexOf(t);
      const closing = pd.events.findIndex((e) => e.event_action === 'resolve' && e.dedup_key === t.dedup_key);
      expect(closing, `${t.dedup_key} resolved after its trigger`).toBeGreaterThan(opened);
    }
    expect([...pd.alerts].sort()).toEqual(
      INCIDENTS.filter((i) => ROUTED.pagerduty.includes(i.id)).map((i) => [`${i.key}#1`, { status: 'resolved', triggers: 1 }]).sort(),
    );
    console.log(`[simulation] PagerDuty: ${triggers.length} triggers, ${resolves.length} resolves, paired by dedup_key`);
  });

  it('every notification row was sent on its first attempt: none pending, none failed', async () => {
    const { rows } = await store.db.query<{ channel: string; event: string; status: string; attempts: number }>(
      `SELECT channel, event, status, attempts FROM opsbook.notifications ORDER BY id`,
    );
    expect(rows.length).toBe(CHANNEL_NAMES.reduce((n, c) => n + expectedMessages(c).length, 0));
    expect(rows.filter((r) => r.status !== 'sent' || Number(r.attempts) !== 1)).toEqual([]);
  });

  it('the flapping endpoint alternates ok and fail for 30 days and never alerts', () => {
    const flakyDays = days.filter((d) => /http\.flaky/.test(d.text));
    const failing = days.filter((d) => SCRIPT.flakyFails(d.day));
    // The text part wraps long lines: compare with whitespace collapsed.
    const degraded = failing.filter((d) => /Degraded, not alerted yet: .*http\.flaky \(1 of 2 failing runs\)/.test(d.text.replace(/\s+/g, ' ')));
    if (degraded.length !== failing.length) console.log(failing.find((d) => !degraded.includes(d))!.text);
    expect(degraded.length).toBe(failing.length);
    expect(flakyDays.length).toBeGreaterThan(0);
    expect(alertEvents().filter((e) => e.key.includes('flaky'))).toEqual([]);
  });

  it('the Postgres outage is one root cause: ten dependent checks suppressed, one event, no alert of their own', async () => {
    for (const d of SCRIPT.postgresOutage) {
      const log = days.find((x) => x.day === d)!;
      expect(log.text).toMatch(/Root cause: postgres\.reachable — postgres unreachable: .*10 dependent check\(s\) suppressed/s);
      expect(log.suppressed).toBe(10);
    }
    expect(alertEvents().filter((e) => e.key.startsWith('daily/check:sql.'))).toEqual([]);
    console.log(`[simulation] Postgres outage: 1 root cause, 10 dependents suppressed on each of ${SCRIPT.postgresOutage.length} days, ${alertEvents().filter((e) => e.key.includes('postgres')).length} event`);
    // Recorded as what they were: suppressed (skipped), not failing.
    const { rows } = await store.db.query<{ status: string; n: string }>(
      `SELECT rr.status, count(*) AS n FROM opsbook.run_results rr JOIN opsbook.job_runs r ON r.id = rr.run_id
       WHERE r.job = 'daily' AND r.period = ANY($1::text[]) AND rr.item_key LIKE 'check:sql.%' GROUP BY rr.status`,
      [SCRIPT.postgresOutage.map((d) => dayAt(d).toISOString().slice(0, 10))],
    );
    expect(rows.map((r) => [r.status, Number(r.n)])).toEqual([['skipped', 30]]);
  });

  it('the outage inside the maintenance window is recorded, marked in the report, and not alerted', async () => {
    const periods = SCRIPT.mutedApiOutage.map((d) => dayAt(d).toISOString().slice(0, 10));
    const { rows } = await store.db.query<{ period: string; status: string }>(
      `SELECT r.period, rr.status FROM opsbook.run_results rr JOIN opsbook.job_runs r ON r.id = rr.run_id
       WHERE r.job = 'daily' AND r.period = ANY($1::text[]) AND rr.item_key = 'check:http.api' ORDER BY r.period`,
      [periods],
    );
    expect(rows).toEqual(periods.map((period) => ({ period, status: 'fail' })));
    for (const d of SCRIPT.mutedApiOutage) expect(days.find((x) => x.day === d)!.text).toContain('Maintenance window "Month-end migration"');
    expect(days.find((x) => x.day === SCRIPT.mutedApiOutage[1])!.text).toContain('Failing during maintenance, not alerted: http.api');
    const mutedDays = [...SCRIPT.mutedApiOutage, SCRIPT.mutedApiOutage[1]! + 1, SCRIPT.mutedApiOutage[1]! + 2];
    expect(emailDays().filter((d) => mutedDays.includes(d))).toEqual([]);
    expect(alertEvents().filter((e) => e.key === 'daily/check:http.api')).toHaveLength(1); // outage 1's only
  });

  it('the missed day is raised within one period plus grace, once, and named in the next report', async () => {
    const { rows } = await store.db.query<{ period: string; expected_at: Date; raised_at: Date; raised_by: string }>(
      `SELECT period, expected_at, raised_at, raised_by FROM opsbook.missed_alerts WHERE checklist = 'daily'`,
    );
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.period).toBe(dayAt(SCRIPT.missedDay).toISOString().slice(0, 10));
    const lateByMs = new Date(row.raised_at).getTime() - new Date(row.expected_at).getTime();
    const graceMs = cfg.checklists[0]!.graceMinutes * 60_000;
    console.log(`[simulation] missed run ${row.period}: raised ${lateByMs / 3_600_000} h after it was due (limit ${(DAY_MS + graceMs) / 3_600_000} h), by ${row.raised_by}`);
    expect(lateByMs).toBeLessThanOrEqual(DAY_MS + graceMs);
    expect(alertEvents().filter((e) => e.key === 'missed-run').map((e) => e.period)).toEqual([row.period]);
    expect(days.find((d) => d.day === SCRIPT.missedDay + 1)!.text).toContain(`Missed run: the ${row.period} run did not happen; alerted at`);
  });

  it('alert state survives in Postgres: every incident is closed at the end, numbered once', async () => {
    const { rows } = await store.db.query<{ key: string; state: string; seq: number; notified_seq: number }>(
      `SELECT key, state, seq, notified_seq FROM opsbook.alert_state WHERE seq > 0 ORDER BY key`,
    );
    expect(rows).toEqual([
      { key: 'daily/check:http.api', state: 'ok', seq: 2, notified_seq: 1 }, // the second incident was muted
      { key: 'daily/check:postgres.reachable', state: 'ok', seq: 1, notified_seq: 1 },
      { key: 'daily/check:tcp.payments', state: 'ok', seq: 1, notified_seq: 1 },
    ]);
  });
});
