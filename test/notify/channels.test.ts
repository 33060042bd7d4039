// Slack, signed-webhook and PagerDuty notifications (issue 14 item 1), driven through the real run engine
// on real Postgres, against protocol-faithful local sinks (test/peers/*-sink.ts) reached over HTTP by
// Opsbook's own clients. Every test runs once per channel type.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { raiseMissedRuns } from '../../lib/alerts/missed.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { handleCron } from '../../lib/cron.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import type { DbDriver } from '../../lib/db/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { deliverPendingNotifications, notifyTransitions } from '../../lib/notify/deliver.js';
import { verifyWebhook, webhookSignature } from '../../lib/notify/webhook.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { startPagerDutySink, type PagerDutySink } from '../peers/pagerduty-sink.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { startSlackSink, type SlackSink } from '../peers/slack-sink.js';
import { startWebhookSink, type WebhookSink } from '../peers/webhook-sink.js';
import type { Fault } from '../peers/http-sink.js';
import { recordingReporter } from '../support/checklists.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const RESEND_KEY = 're_test_notify_key_0123456789';
const DAY = 86_400_000;
/** Monday 2 March 2026, 06:30 UTC. */
const MON = new Date('2026-03-02T06:30:00Z');
const day = (n: number) => new Date(MON.getTime() + n * DAY);
const tag = randomBytes(4).toString('hex').toUpperCase();
const FLAG = `OPSBOOK_T_NOTIFY_FLAG_${tag}`;
const VARS = { slackUrl: `OPSBOOK_T_SLACK_URL_${tag}`, hookUrl: `OPSBOOK_T_HOOK_URL_${tag}`, hookSecret: `OPSBOOK_T_HOOK_SECRET_${tag}`, pdKey: `OPSBOOK_T_PD_KEY_${tag}` };

type Kind = 'open' | 'resolved' | 'missed';
type Name = 'slack' | 'hook' | 'pd';

let slack: SlackSink;
let hook: WebhookSink;
let pd: PagerDutySink;
let resend: ResendSink;
/** The injected clock of the invocation in progress: the webhook receiver's clock too. */
let clock = MON;

/** What each channel's sink received, as (kind, dedup subject), and how to break it for good. */
interface ChannelCase {
  name: Name;
  received(): Array<{ kind: Kind; key?: string }>;
  requests(): number;
  setFault(f: Fault | null, count?: number): void;
  /** A refusal the real service gives for good: Slack 400, a receiver whose secret differs (401), a routing key PagerDuty does not know (400). */
  breakForGood(): void;
  secrets(): string[];
}

const CASES: ChannelCase[] = [
  {
    name: 'slack',
    received: () => slack.messages.map((m) => ({ kind: /^Resolved/.test(m.text ?? '') ? 'resolved' : /missed its run/.test(m.text ?? '') ? 'missed' : 'open' })),
    requests: () => slack.requests,
    setFault: (f, n) => slack.setFault(f, n),
    breakForGood: () => slack.setFault({ status: 400 }),
    secrets: () => [slack.token, slack.webhookUrl],
  },
  {
    name: 'hook',
    received: () => hook.messages.map((m) => ({ kind: m.body.event as Kind, key: m.body.subject as string })),
    requests: () => hook.requests,
    setFault: (f, n) => hook.setFault(f, n),
    breakForGood: () => void (process.env[VARS.hookSecret] = 'a-secret-the-receiver-does-not-share-0123'),
    secrets: () => [hook.secret, hook.pathSecret, hook.url, 'a-secret-the-receiver-does-not-share-0123'],
  },
  {
    name: 'pd',
    received: () => pd.events.map((e) => ({ kind: e.event_action === 'resolve' ? 'resolved' : e.payload?.class === 'missed-run' ? 'missed' : 'open', key: e.dedup_key })),
    requests: () => pd.requests,
    setFault: (f, n) => pd.setFault(f, n),
    breakForGood: () => void (process.env[VARS.pdKey] = 'f'.repeat(32)),
    secrets: () => [pd.routingKey, 'f'.repeat(32)],
  },
];

function configFor(routes: Array<{ channels: Name[]; severity?: Array<'P1' | 'P2' | 'P3' | 'P4'> }>, extra: { budgetMs?: number; timeoutMs?: number; maxAttempts?: number } = {}): OpsbookConfig {
  return parseConfig({
    service: 'NotifyTest',
    recipients: ['oncall@example.com'],
    alerts: { alertAfter: 1, recoverAfter: 1 },
    checks: { requiredEnv: [FLAG] },
    checklists: [
      { id: 'morning', title: 'Morning', schedule: { type: 'daily', at: '06:30' }, items: [{ check: 'env' }] },
      { id: 'nightly', title: 'Nightly', schedule: { type: 'cron', cron: '15 2 * * *' }, items: [{ manual: 'Read the backup log' }] },
    ],
    notifications: {
      channels: {
        slack: { type: 'slack', urlEnv: VARS.slackUrl },
        hook: { type: 'webhook', urlEnv: VARS.hookUrl, secretEnv: VARS.hookSecret },
        pd: { type: 'pagerduty', routingKeyEnv: VARS.pdKey, eventsUrl: pd.eventsUrl },
      },
      routes,
      timeoutMs: extra.timeoutMs ?? 400,
      budgetMs: extra.budgetMs ?? 3000,
      ...(extra.maxAttempts ? { maxAttempts: extra.maxAttempts } : {}),
    },
  });
}

const logs: string[] = [];

async function harness(driver: DbDriver): Promise<{ h: DbHarness; deps: Deps; errors: ReturnType<typeof recordingReporter> }> {
  const h = await openDb(driver);
  const errors = recordingReporter();
  const deps = await createDeps(parseEnv({ RESEND_API_KEY: RESEND_KEY }), {
    db: h.db,
    redis: createMemoryRedis(),
    email: createResendSender(RESEND_KEY, { baseUrl: resend.baseUrl, timeoutMs: 5000 }),
    errors,
    log: (level, msg) => void logs.push(`${level} ${msg}`),
  });
  await ensureSchema(h.db);
  return { h, deps, errors };
}

function resetEnv(): void {
  process.env[VARS.slackUrl] = slack.webhookUrl;
  process.env[VARS.hookUrl] = hook.url;
  process.env[VARS.hookSecret] = hook.secret;
  process.env[VARS.pdKey] = pd.routingKey;
}

function clearSinks(): void {
  for (const s of [slack, hook, pd]) {
    s.setFault(null);
    s.clear();
  }
  // Each test starts from an empty database, so report idempotency keys repeat across tests.
  resend.clear();
}

beforeAll(async () => {
  [slack, hook, pd, resend] = await Promise.all([startSlackSink(), startWebhookSink({ now: () => clock }), startPagerDutySink(), startResendSink()]);
});
afterAll(async () => {
  for (const v of [...Object.values(VARS), FLAG]) delete process.env[v];
  await Promise.allSettled([slack.close(), hook.close(), pd.close(), resend.close()]);
});

/** One scheduled run of the morning checklist on day n, the env check passing or failing. */
async function run(deps: Deps, config: OpsbookConfig, n: number, passing: boolean) {
  if (passing) process.env[FLAG] = '1';
  else delete process.env[FLAG];
  clock = day(n);
  return runChecklist(deps, config, 'morning', day(n), { mode: 'scheduled' });
}

describe.each(CASES)('notifications through $name (node-postgres)', (c) => {
  let h: DbHarness;
  let deps: Deps;
  let errors: ReturnType<typeof recordingReporter>;
  const rows = async () =>
    (await h.db.query<{ event: string; channel: string; status: string; attempts: number; last_error: string | null; payload: string }>(
      `SELECT event, channel, status, attempts, last_error, payload::text AS payload FROM opsbook.notifications ORDER BY id`,
    )).rows;

  beforeAll(async () => ({ h, deps, errors } = await harness('pg')));
  afterAll(async () => h.close());
  beforeEach(async () => {
    await h.db.query('TRUNCATE opsbook.job_runs, opsbook.alert_state, opsbook.notifications, opsbook.missed_alerts, opsbook.reports CASCADE');
    clearSinks();
    resetEnv();
    errors.calls.length = 0;
    logs.length = 0;
  });

  it('ok → failing → still failing → recovered: one open, nothing while it keeps failing, one resolve for the same incident', async () => {
    const config = configFor([{ channels: [c.name] }]);
    const perDay: number[] = [];
    for (const [n, passing] of [[0, true], [1, false], [2, false], [3, true], [4, true]] as const) {
      expect(await run(deps, config, n, passing)).toMatchObject({ status: 'completed' });
      perDay.push(c.received().length);
    }
    expect(perDay).toEqual([0, 1, 1, 2, 2]);
    expect(c.received().map((m) => m.kind)).toEqual(['open', 'resolved']);
    if (c.name !== 'slack') {
      const [open, resolved] = c.received();
      expect(open!.key).toBe('morning/check:env.required#1');
      expect(resolved!.key).toBe(open!.key);
    }
    if (c.name === 'pd') expect([...pd.alerts]).toEqual([['morning/check:env.required#1', { status: 'resolved', triggers: 1 }]]);
    expect((await rows()).map((r) => `${r.event}:${r.status}`)).toEqual(['open:sent', 'resolved:sent']);
  });

  it('a missed run → one message, however many invocations find it (two at once included)', async () => {
    const config = configFor([{ channels: [c.name] }]);
    // It ran on Monday (a checklist that never ran is not missed), then not on Tuesday.
    expect(await runChecklist(deps, config, 'nightly', new Date('2026-03-02T02:15:00Z'))).toMatchObject({ status: 'completed' });
    clock = day(1);
    const found = await Promise.all([raiseMissedRuns(deps, config, day(1), 'test-a'), raiseMissedRuns(deps, config, day(1), 'test-b')]);
    await raiseMissedRuns(deps, config, day(1), 'test-c');
    const nightly = found.flat().filter((m) => m.checklist === 'nightly');
    expect(nightly.map((m) => m.raised).sort()).toEqual([false, true]);
    expect(c.received()).toEqual([expect.objectContaining({ kind: 'missed' })]);
    if (c.name !== 'slack') expect(c.received()[0]!.key).toBe(`nightly@${nightly[0]!.period}`);
  });

  it('two concurrent runs of the same period → one message', async () => {
    const config = configFor([{ channels: [c.name] }]);
    await run(deps, config, 0, true);
    delete process.env[FLAG];
    clock = day(1);
    const results = await Promise.all([runChecklist(deps, config, 'morning', day(1)), runChecklist(deps, config, 'morning', day(1))]);
    expect(results.map((r) => r.status).sort()).toEqual(['already-ran', 'completed']);
    expect(c.received().map((m) => m.kind)).toEqual(['open']);
  });

  it('429 with Retry-After → waited out within the budget and delivered in the same invocation', async () => {
    const config = configFor([{ channels: [c.name] }]);
    c.setFault({ status: 429, retryAfterSeconds: 1 }, 1);
    await run(deps, config, 1, false);
    expect(c.received().map((m) => m.kind)).toEqual(['open']);
    expect(c.requests()).toBe(2);
    expect((await rows()).map((r) => [r.status, r.attempts])).toEqual([['sent', 1]]);
  });

  it('500 → retried with backoff, left pending, delivered by the next invocation once the channel is up', async () => {
    const config = configFor([{ channels: [c.name] }]);
    c.setFault({ status: 500 });
    await run(deps, config, 1, false);
    expect(c.received()).toEqual([]);
    expect(c.requests()).toBe(3);
    const [pending] = await rows();
    expect(pending).toMatchObject({ status: 'pending', attempts: 1 });
    expect(pending!.last_error).toMatch(/answered 500/);
    c.setFault(null);
    await run(deps, config, 2, false);
    expect(c.received().map((m) => m.kind)).toEqual(['open']);
    expect((await rows()).map((r) => r.status)).toEqual(['sent']);
  });

  it('refused for good → failed at once (not hammered), named in the next report and sent to Sentry once', async () => {
    const config = configFor([{ channels: [c.name] }]);
    c.breakForGood();
    await run(deps, config, 1, false);
    expect(c.received()).toEqual([]);
    expect(c.requests()).toBe(1);
    expect((await rows()).map((r) => r.status)).toEqual(['failed']);
    const sentry = () => errors.calls.filter((e) => e.tags?.stage === 'notification');
    expect(sentry()).toHaveLength(1);
    expect(sentry()[0]!.tags).toMatchObject({ channel: c.name });
    // The next report says so; the recovery's resolve fails too, and Sentry is not told again.
    const next = await run(deps, config, 2, true);
    expect(next.status === 'completed' && next.text).toMatch(new RegExp(`channel "${c.name}" failed for good on 1 message`));
    expect((await rows()).map((r) => `${r.event}:${r.status}`)).toEqual(['open:failed', 'resolved:failed']);
    expect(sentry()).toHaveLength(1);
    const after = await run(deps, config, 3, true);
    expect(after.status === 'completed' && after.text).toMatch(/failed for good on 1 message/);
    const later = await run(deps, config, 4, true);
    expect(later.status === 'completed' && later.text).not.toMatch(/failed for good/);
  });

  it('a hanging channel → the run still completes, the other channels deliver, and it is retried later', async () => {
    const config = configFor([{ channels: ['slack', 'hook', 'pd'] }], { timeoutMs: 300, budgetMs: 1500 });
    c.setFault('hang');
    const result = await run(deps, config, 1, false);
    expect(result).toMatchObject({ status: 'completed', report: { delivery: 'sent' } });
    for (const other of CASES.filter((o) => o.name !== c.name)) expect(other.received().map((m) => m.kind), other.name).toEqual(['open']);
    expect(c.received()).toEqual([]);
    const hung = (await rows()).find((r) => r.channel === c.name)!;
    expect(hung).toMatchObject({ status: 'pending' });
    expect(hung.last_error).toMatch(/timed out/);
    c.setFault(null);
    await run(deps, config, 2, false);
    expect(c.received().map((m) => m.kind)).toEqual(['open']);
  });

  it('no secret (webhook URL and path, signing secret, routing key) in any log, report, Sentry event or stored payload or error', async () => {
    const config = configFor([{ channels: [c.name] }]);
    c.setFault({ status: 500 }, 3);
    await run(deps, config, 1, false);
    await run(deps, config, 2, false);
    c.breakForGood();
    await run(deps, config, 3, true);
    await run(deps, config, 4, true);
    const stored = await h.db.query<{ t: string }>(
      `SELECT concat_ws(' ', subject, event, channel, payload::text, last_error) AS t FROM opsbook.notifications
       UNION ALL SELECT concat_ws(' ', subject, html, text, last_error) FROM opsbook.reports
       UNION ALL SELECT concat_ws(' ', summary::text, error) FROM opsbook.job_runs`,
    );
    const everything = [...logs, ...errors.calls.map((e) => `${e.text} ${JSON.stringify(e.tags)}`), ...stored.rows.map((r) => r.t)].join('\n');
    expect(everything).toMatch(/answered 500/);
    expect(errors.calls.some((e) => e.tags?.stage === 'notification')).toBe(true);
    for (const secret of c.secrets()) expect(everything.includes(secret), `a secret of ${c.name} leaked`).toBe(false);
  });
});

describe('one invocation, one notification budget', () => {
  let h: DbHarness;
  let deps: Deps;
  const CRON_SECRET = `cron-secret-${tag}`;
  beforeAll(async () => {
    h = await openDb('pg');
    deps = await createDeps(parseEnv({ RESEND_API_KEY: RESEND_KEY, CRON_SECRET }), {
      db: h.db,
      redis: createMemoryRedis(),
      email: createResendSender(RESEND_KEY, { baseUrl: resend.baseUrl, timeoutMs: 5000 }),
      errors: recordingReporter(),
      log: (level, msg) => void logs.push(`${level} ${msg}`),
    });
    await ensureSchema(h.db);
  });
  afterAll(async () => h.close());

  it('a hanging channel costs a cron invocation its budget once: missed runs, the pending sweep and the run share notifications.budgetMs', async () => {
    // The request timeout is the whole budget, so the first hanging request spends it: with one shared
    // deadline nothing else starts; with a budget per delivery call, the missed runs and the sweep of what
    // the day before left pending would each start another hanging request.
    const config = configFor([{ channels: ['hook'] }], { timeoutMs: 800, budgetMs: 800 });
    clearSinks();
    resetEnv();
    expect(await runChecklist(deps, config, 'nightly', new Date('2026-03-02T02:15:00Z'))).toMatchObject({ status: 'completed' });
    await run(deps, config, 0, true);
    hook.setFault('hang');
    await run(deps, config, 1, false);
    const before = hook.requests;
    const pending = await h.db.query(`SELECT event FROM opsbook.notifications WHERE status = 'pending' ORDER BY id`);
    expect(pending.rows.map((r) => r.event)).toEqual(['open']);

    clock = day(2);
    delete process.env[FLAG];
    const request = new Request('http://localhost/api/cron/morning', { headers: { authorization: `Bearer ${CRON_SECRET}` } });
    const result = (await handleCron(request, deps, config, 'morning', day(2))) as { status: string; missedRuns?: unknown[] };
    expect(result.status).toBe('completed');
    expect(result.missedRuns?.length).toBeGreaterThan(0);
    expect(hook.requests - before).toBe(1);
    const rows = await h.db.query(`SELECT event, status FROM opsbook.notifications ORDER BY id`);
    // Nothing lost: what the budget did not reach stays pending for the next invocation.
    expect(rows.rows.map((r) => `${r.event}:${r.status}`).sort()).toEqual(['missed:pending', 'open:pending']);
  });
});

describe('routing and config', () => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => ({ h, deps } = await harness('pg')));
  afterAll(async () => h.close());

  it('P1 → PagerDuty and Slack, P2 → Slack only: the env check (P2) reaches Slack alone', async () => {
    clearSinks();
    resetEnv();
    const config = configFor([
      { severity: ['P1'], channels: ['pd', 'slack'] },
      { severity: ['P2'], channels: ['slack'] },
    ]);
    await run(deps, config, 1, false);
    expect(slack.messages).toHaveLength(1);
    expect(slack.messages[0]!.text).toMatch(/^P2 · NotifyTest · morning: env\.required is failing/);
    expect(pd.events).toEqual([]);
    expect(hook.messages).toEqual([]);
  });

  it('a route naming an unknown channel → refused at load, naming the known channels', () => {
    expect(() =>
      parseConfig({ notifications: { channels: { slack: { type: 'slack', urlEnv: 'SLACK_URL' } }, routes: [{ channels: ['slak'] }] } }),
    ).toThrow(/notifications\.routes\.0\.channels\.0: no channel named "slak" \(known: slack\)/);
  });

  it('a channel secret given inline instead of by variable → refused (secrets come from the environment only)', () => {
    expect(() => parseConfig({ notifications: { channels: { slack: { type: 'slack', url: 'https://hooks.slack.com/services/T/B/x' } } } })).toThrow(/url/);
  });
});

describe('the webhook signature, as a receiver verifies it', () => {
  const secret = 'whsec-test-0123456789';
  const body = '{"id":"x:open"}';
  const ts = 1_772_433_000;
  it('a fresh, correctly signed body verifies; a changed body, a wrong secret or a stale timestamp does not', () => {
    const signature = webhookSignature(secret, ts, body);
    expect(signature).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(secret, { timestamp: String(ts), signature }, body, ts * 1000 + 10_000)).toEqual({ ok: true });
    expect(verifyWebhook(secret, { timestamp: String(ts), signature }, body.replace('open', 'resolved'), ts * 1000)).toMatchObject({ ok: false, reason: 'signature mismatch' });
    expect(verifyWebhook('another-secret', { timestamp: String(ts), signature }, body, ts * 1000)).toMatchObject({ ok: false });
    expect(verifyWebhook(secret, { timestamp: String(ts), signature }, body, (ts + 301) * 1000)).toMatchObject({ ok: false, reason: 'timestamp outside the replay window' });
  });
  it('the receiver refuses a replayed delivery (its timestamp past the window) and a tampered one', async () => {
    clock = new Date(ts * 1000 + 301_000);
    const post = (sig: string, b: string) => fetch(hook.url, { method: 'POST', headers: { 'x-opsbook-timestamp': String(ts), 'x-opsbook-signature': sig, 'content-type': 'application/json' }, body: b });
    hook.clear();
    expect((await post(webhookSignature(hook.secret, ts, body), body)).status).toBe(401);
    clock = new Date(ts * 1000);
    expect((await post(webhookSignature(hook.secret, ts, body), body.replace('open', 'missed'))).status).toBe(401);
    expect((await post(webhookSignature(hook.secret, ts, body), body)).status).toBe(200);
    expect(hook.rejected).toEqual(['stale timestamp', 'bad signature']);
  });
});

describe.each(['pg', 'neon', 'pglite'] as DbDriver[])('the exactly-once claim on %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => ({ h, deps } = await harness(driver)), 60_000);
  afterAll(async () => h.close());

  it('two instances deciding the same transition at once, then two sweeps of what one left pending → one message', async () => {
    clearSinks();
    resetEnv();
    clock = day(1);
    const config = configFor([{ channels: ['slack'] }]);
    const transition = [{ key: 'morning/check:env.required', prevVersion: 0, item: { key: 'check:env.required', kind: 'check', id: 'env.required', title: 'env', area: 'Platform', status: 'fail', severity: 'P2', summary: 'FLAG is not set' }, step: { next: {}, alert: { seq: 1, openedAt: day(1).toISOString(), muted: false } } }] as never;
    slack.setFault({ status: 503 });
    const first = await Promise.all([notifyTransitions(deps, config, 'morning', transition, day(1)), notifyTransitions(deps, config, 'morning', transition, day(1))]);
    expect(first.map((d) => d.pending).sort()).toEqual([0, 1]);
    slack.setFault(null);
    const sweeps = await Promise.all([deliverPendingNotifications(deps, config, day(2)), deliverPendingNotifications(deps, config, day(2))]);
    expect(sweeps.map((d) => d.sent).sort()).toEqual([0, 1]);
    await notifyTransitions(deps, config, 'morning', transition, day(2));
    expect(slack.messages).toHaveLength(1);
  });
});
