// The fault matrix (issue 6): every fault made real on the wire, against the four paths, each cell held
// to its specification: within budget, a status that reflects the fault, no stack trace and no secret,
// nothing lost, and recovery on the same deployment once the fault is removed. The README's reliability
// table is what this file produced: `npm run reliability:readme` writes it, every other run checks it.
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GET as healthGET } from '../../api/health.js';
import { GET as diagnosticsGET } from '../../api/diagnostics.js';
import { GET as cronGET } from '../../api/cron/[job].js';
import { POST as flagsPOST } from '../../api/admin/flags.js';
import { IN_FLIGHT_LEASE_MS } from '../../lib/admin/idempotency.js';
import { parseConfig, setConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { createDeps, setDeps, type Deps } from '../../lib/deps.js';
import { parseEnv, resetEnvCache } from '../../lib/env.js';
import { createLogger } from '../../lib/log.js';
import type { Fault as SinkFault } from '../peers/http-sink.js';
import { startNeonPeer, type NeonPeer } from '../peers/neon-http.js';
import { startPagerDutySink, type PagerDutySink } from '../peers/pagerduty-sink.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';
import { startSlackSink, type SlackSink } from '../peers/slack-sink.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { startWebhookSink, type WebhookSink } from '../peers/webhook-sink.js';
import { adminRequest } from '../support/admin.js';
import { startProxy, type FaultProxy } from '../support/faults.js';
import { createCertFactory, daysFromNow, type CertFactory, type Pem } from '../support/net/certs.js';
import { json as answerJson, startHttp, type TestHttpServer } from '../support/net/http.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { PG_ADMIN_URL, REDIS_URL } from '../support/services.js';

// ---------------------------------------------------------------------------------------------------
// Budgets. These are the specification's budgets with generous slack for a shared two-core machine:
// a cell fails only when it waits on a dead dependency instead of giving up, never for being slowish.
const HEALTH_BUDGET_MS = 1000;
const DEPENDENCY_TIMEOUT_MS = 1000;
const ITEM_TIMEOUT_MS = 1500;
const DIAGNOSTICS_BUDGET_MS = 3000;
const SLACK_MS = 2500;
/** A checklist run: its items (bounded by itemTimeoutMs) plus a few sequential dependency calls. */
const CHECKLIST_BUDGET_MS = ITEM_TIMEOUT_MS + 3 * DEPENDENCY_TIMEOUT_MS;
/** An admin action: one dependency call fails it (rate limit or statement), each bounded. */
const ADMIN_BUDGET_MS = DEPENDENCY_TIMEOUT_MS;
/** "Recovers by itself": the same path on the same deployment answers normally within this, no restart. */
const RECOVERY_WINDOW_MS = 6000;
/** notifications.timeoutMs and notifications.budgetMs: one request to a channel, and all of one delivery. */
const NOTIFY_TIMEOUT_MS = 500;
const NOTIFY_BUDGET_MS = 2000;
/** A checklist run that notifies: its delivery runs beside the report's and is bounded by its own budget. */
const NOTIFYING_CHECKLIST_BUDGET_MS = CHECKLIST_BUDGET_MS + NOTIFY_BUDGET_MS;
/** A channel's 429 asks for more than one delivery's budget: Opsbook must not wait for it in the run. */
const RETRY_AFTER_S = 30;
/** Past a message's next attempt (its backoff after one invocation, 1 min, or the channel's Retry-After). */
const NOTIFY_RETRY_DUE_MS = 3 * 60_000;

// Recognisable secrets: none of them may appear in an answer, a log line, a report, an audit row or an
// event. Every one carries MARK, so even part of one is caught.
const MARK = 'FAULTMATRIX';
const SECRETS = {
  pgPassword: `pgpw-${MARK}-s3cret-4821`,
  resendKey: `re_${MARK}_secret_93f1a7`,
  sentryKey: `sentrykey${MARK}77`,
  cronSecret: `cron-${MARK}-secret-5512aa`,
  adminToken: `admin-${MARK}-secret-0c9d31`,
  confirmSecret: `confirm-${MARK}-secret-77e2`,
  upstashToken: `upstash-${MARK}-secret-19b4`,
  webhookSecret: `whsec-${MARK}-secret-3e0b`,
};
/** The channels' other secrets (webhook URLs with their secret paths, the routing key): the sinks make them. */
const channelSecrets: string[] = [];

// ---------------------------------------------------------------------------------------------------
// Faults and paths.
type PathId = 'health' | 'diagnostics' | 'checklist' | 'admin';
const PATHS: Array<{ id: PathId; title: string }> = [
  { id: 'health', title: '/api/health' },
  { id: 'diagnostics', title: '/api/diagnostics' },
  { id: 'checklist', title: 'checklist run (cron)' },
  { id: 'admin', title: 'admin action' },
];

type Deployment = 'tcp' | 'upstash' | 'neon';
const DEPLOYMENTS: Deployment[] = ['tcp', 'upstash', 'neon'];

interface Fault {
  id: string;
  title: string;
  /**
   * Which deployment the fault is made against: node-postgres with Redis over TCP (ioredis) or with
   * Upstash REST, or Neon's HTTP driver (through the Neon peer, in front of the same Postgres) with Redis
   * over TCP.
   */
  deployment: Deployment;
  inject(): Promise<void>;
  remove(): Promise<void>;
  /** Health: the dependency that fails, or none. */
  health?: 'database' | 'redis';
  /** Diagnostics: the check families that must report the fault. */
  families: string[];
  /**
   * Checklist run: `refused` — 503 before anything is claimed, run on the next invocation;
   * `items` — the run completes with the affected items failing; `pending` — the report could not be
   * sent and goes out with the next invocation; `checkins` — Sentry misses the check-ins, nothing else;
   * `notify` — the run completes and its report is sent, its incident reaches the other channels, and the
   * faulted channel's message stays pending until a later invocation delivers it.
   */
  checklist: 'refused' | 'items' | 'pending' | 'checkins' | 'notify';
  /**
   * A notification channel fault (`checklist: 'notify'`): the run opens an incident that is routed to every
   * channel; this one fails (500, 429 or no answer) and the others must still deliver.
   */
  channel?: ChannelId;
  /** Admin action: refused with 503 (fail closed), or unaffected. */
  admin: 'refused' | 'unaffected';
  /** The fault strikes after the admin action claimed its Idempotency-Key: the claim outlives the request. */
  keyHeld?: boolean;
  /** Paths this fault cannot reach in any way other rows do not already cover, with the reason. */
  notApplicable?: Partial<Record<PathId, string>>;
}

/**
 * Cells that do not meet their specification because of a product gap someone else is fixing. They run
 * as `it.fails`: the day the product is fixed they pass, the test fails, and the entry must go.
 */
const PENDING_LEAD_FIX: Array<{ fault: string; path: PathId; reason: string }> = [];
/** The fault matrix checklists' max runtime: a run left `running` longer is taken over. */
const MAX_RUNTIME_MIN = 1;

// ---------------------------------------------------------------------------------------------------
// The deployment under test: real Postgres, Redis, Upstash peer, Resend sink, Sentry sink, an HTTP
// target and a TLS target, with a fault proxy in front of each dependency that can go down or hang.
let database: TestDatabase;
let pgProxy: FaultProxy;
let redisProxy: FaultProxy;
let upstash: UpstashPeer;
let resend: ResendSink;
let sentry: SentrySink;
let sentryProxy: FaultProxy;
let target: TestHttpServer;
let targetProxy: FaultProxy;
let certs: CertFactory;
let validLeaf: Pem;
let expiredLeaf: Pem;
let tlsServer: TlsServer;
let tlsPort: number;
let depsTcp: Deps;
let depsUpstash: Deps;
let depsNeon: Deps;
/** Neon's HTTP endpoint (the peer), whose compute is the Postgres behind `pgProxy`. */
let neon: NeonPeer;
/** In front of the Neon endpoint: the endpoint itself down. */
let neonProxy: FaultProxy;
let config: OpsbookConfig;
const logs: string[] = [];
/** Baseline check statuses per deployment, before any fault. */
const baseline: Record<Deployment, Map<string, string>> = { tcp: new Map(), upstash: new Map(), neon: new Map() };
const savedEnv: Record<string, string | undefined> = {};

/**
 * A Postgres fault, made on the wire between Postgres and whatever talks to it, runs over both server
 * drivers: node-postgres connects through the proxy itself; Neon's HTTP driver reaches it through the
 * Neon endpoint, whose compute connection goes through the proxy (so the endpoint answers as Neon does
 * when its compute is down, hangs or restarts: a 500, no answer, a broken connection).
 */
function overBothDrivers(faults: Fault[]): Fault[] {
  return faults.flatMap((f) => [
    { ...f, title: `${f.title} · node-postgres` },
    { ...f, id: `${f.id}-neon`, title: `${f.title} · Neon HTTP`, deployment: 'neon' as const },
  ]);
}

// ---------------------------------------------------------------------------------------------------
// Notification channels (issue 14): Slack, PagerDuty and the signed webhook, each at its local sink. A
// notify fault's checklist has one item more, `env.required`, which the cell makes fail for one run (its
// variable unset): an incident that opens at once (alertAfter 1) and is routed to all three channels.
type ChannelId = 'slack' | 'pd' | 'hook';
type NotifyKind = 'open' | 'resolved';
/** The variable whose absence is the notify cells' incident. */
const INCIDENT_FLAG = 'FM_NOTIFY_INCIDENT_FLAG';
const CHANNEL_ENV = { slackUrl: 'FM_SLACK_WEBHOOK_URL', hookUrl: 'FM_OPS_WEBHOOK_URL', hookSecret: 'FM_OPS_WEBHOOK_SECRET', pdKey: 'FM_PAGERDUTY_ROUTING_KEY' };
let slack: SlackSink;
let pd: PagerDutySink;
let hook: WebhookSink;
const CHANNELS: Array<{ id: ChannelId; title: string; sink: () => { setFault(f: SinkFault | null): void; readonly requests: number }; received: (checklist: string) => NotifyKind[] }> = [
  {
    id: 'slack',
    title: 'Slack',
    sink: () => slack,
    received: (job) =>
      slack.messages.flatMap((m): NotifyKind[] =>
        m.text === `P2 · FaultMatrix · ${job}: env.required is failing` ? ['open'] : m.text === `Resolved · FaultMatrix · ${job}: env.required recovered` ? ['resolved'] : [],
      ),
  },
  {
    id: 'pd',
    title: 'PagerDuty',
    sink: () => pd,
    received: (job) => pd.events.filter((e) => e.dedup_key === `${job}/check:env.required#1`).map((e) => (e.event_action === 'resolve' ? 'resolved' : 'open')),
  },
  {
    id: 'hook',
    title: 'webhook',
    sink: () => hook,
    received: (job) => hook.messages.filter((m) => m.body.subject === `${job}/check:env.required#1`).map((m) => m.body.event as NotifyKind),
  },
];
const channelOf = (id: ChannelId) => CHANNELS.find((c) => c.id === id)!;

function channelFaults(kind: 500 | 429 | 'hang'): Fault[] {
  const fault: SinkFault = kind === 'hang' ? 'hang' : kind === 429 ? { status: 429, retryAfterSeconds: RETRY_AFTER_S } : { status: 500 };
  return CHANNELS.map((c) => ({
    id: `${c.id}-${kind}`,
    title: `${c.title[0]!.toUpperCase()}${c.title.slice(1)} ${kind === 'hang' ? 'timing out (accepts, never answers)' : `answering ${kind}${kind === 429 ? ` (Retry-After ${RETRY_AFTER_S} s)` : ''}`}`,
    deployment: 'tcp',
    inject: async () => c.sink().setFault(fault),
    remove: async () => c.sink().setFault(null),
    families: [],
    checklist: 'notify',
    admin: 'unaffected',
    channel: c.id,
  }));
}

const FAULTS: Fault[] = [
  ...overBothDrivers([
    {
      id: 'pg-down',
      title: 'Postgres down (port closed)',
      deployment: 'tcp',
      inject: () => pgProxy.setMode('refuse'),
      remove: () => pgProxy.setMode('pass'),
      health: 'database',
      families: ['postgres'],
      checklist: 'refused',
      admin: 'refused',
    },
    {
      id: 'pg-hang',
      title: 'Postgres hanging (accepts, never answers)',
      deployment: 'tcp',
      inject: () => pgProxy.setMode('hang'),
      remove: () => pgProxy.setMode('pass'),
      health: 'database',
      families: ['postgres'],
      checklist: 'refused',
      admin: 'refused',
    },
    {
      // The hang starts after the checklist claimed its period (at the statement storing its results), or
      // after the admin action claimed its Idempotency-Key (at the change itself); it ends with a restart,
      // so what the hung connections carried never runs.
      id: 'pg-hang-midrun',
      title: 'Postgres hanging mid-run, then restarted',
      deployment: 'tcp',
      inject: async () => pgProxy.hangOn(/INSERT INTO opsbook\.(run_results|settings)\b/),
      remove: () => pgProxy.restart(),
      families: ['postgres'],
      checklist: 'refused',
      admin: 'refused',
      keyHeld: true,
      notApplicable: { health: 'one round trip: as "Postgres hanging"', diagnostics: 'one read-only batch: as "Postgres hanging"' },
    },
  ]),
  {
    // The endpoint itself cannot be reached: every call is `fetch failed` (ECONNREFUSED).
    id: 'neon-endpoint-down',
    title: 'Neon endpoint unreachable (fetch failed)',
    deployment: 'neon',
    inject: () => neonProxy.setMode('refuse'),
    remove: () => neonProxy.setMode('pass'),
    health: 'database',
    families: ['postgres'],
    checklist: 'refused',
    admin: 'refused',
  },
  {
    id: 'redis-down',
    title: 'Redis down (TCP, port closed)',
    deployment: 'tcp',
    inject: () => redisProxy.setMode('refuse'),
    remove: () => redisProxy.setMode('pass'),
    health: 'redis',
    families: ['redis', 'queues'],
    checklist: 'items',
    admin: 'refused',
  },
  {
    id: 'upstash-500',
    title: 'Upstash answering 500',
    deployment: 'upstash',
    inject: async () => upstash.setFault(500),
    remove: async () => upstash.setFault(null),
    health: 'redis',
    families: ['redis', 'queues'],
    checklist: 'items',
    admin: 'refused',
  },
  {
    id: 'resend-500',
    title: 'Resend answering 500',
    deployment: 'tcp',
    inject: async () => resend.setFault(500),
    remove: async () => resend.setFault(null),
    families: [],
    checklist: 'pending',
    admin: 'unaffected',
  },
  {
    id: 'resend-429',
    title: 'Resend answering 429',
    deployment: 'tcp',
    inject: async () => resend.setFault(429),
    remove: async () => resend.setFault(null),
    families: [],
    checklist: 'pending',
    admin: 'unaffected',
  },
  {
    id: 'sentry-down',
    title: 'Sentry sink down',
    deployment: 'tcp',
    inject: () => sentryProxy.setMode('refuse'),
    remove: () => sentryProxy.setMode('pass'),
    families: [],
    checklist: 'checkins',
    admin: 'unaffected',
  },
  {
    id: 'http-hang',
    title: 'HTTP target hanging',
    deployment: 'tcp',
    inject: () => targetProxy.setMode('hang'),
    remove: () => targetProxy.setMode('pass'),
    families: ['http'],
    checklist: 'items',
    admin: 'unaffected',
  },
  {
    id: 'tls-expired',
    title: 'TLS target with an expired certificate',
    deployment: 'tcp',
    inject: async () => tlsServer.setSecureContext({ key: expiredLeaf.key, cert: [expiredLeaf.cert, certs.ca.cert].join('\n') }),
    remove: async () => tlsServer.setSecureContext({ key: validLeaf.key, cert: [validLeaf.cert, certs.ca.cert].join('\n') }),
    families: ['tls'],
    checklist: 'items',
    admin: 'unaffected',
  },
  // The channel stores its message in the same database the run does: over both server drivers.
  ...overBothDrivers([...channelFaults(500), ...channelFaults(429), ...channelFaults('hang')]),
];
const notifyChecklists = () => FAULTS.filter((f) => f.checklist === 'notify').map((f) => checklistId(f));

/** The checklist every fault runs: one item per dependency a fault can touch. */
const checklistId = (f: Fault) => `fm-${f.id}`;
const CHECKLIST_ITEMS = ['postgres.connections', 'redis.ping', 'http.api', 'tls.api-cert'];
const flagName = (f: Fault) => `FM_${f.id.toUpperCase().replace(/-/g, '_')}`;

// ---------------------------------------------------------------------------------------------------
// What a cell may never contain.
const STACK_FRAME = /\n\s+at\s|\bat\s+[\w.<>]+\s+\(|file:\/\/|node_modules|\/work\/|\.(ts|js|mjs):\d+:\d+/;

function assertNoSecret(where: string, text: string): void {
  expect(text, `${where} holds a secret`).not.toContain(MARK);
  for (const s of [...Object.values(SECRETS), ...channelSecrets]) expect(text, `${where} holds a secret`).not.toContain(s);
}

function assertClean(where: string, text: string): void {
  assertNoSecret(where, text);
  expect(text, `${where} holds a stack trace or a file path`).not.toMatch(STACK_FRAME);
}

/** ok, warn and skipped are a check doing its job; fail and error are a finding (or a fault). */
const healthy = (status: string | undefined) => status === 'ok' || status === 'warn' || status === 'skipped';
/** A check that reports the fault: failing itself, or suppressed because the dependency it needs is down. */
const reportsFault = (c: Check) => c.status === 'error' || c.status === 'fail' || (c.status === 'skipped' && c.summary.startsWith('suppressed:'));

/** Captures lib/log's process-wide logger (the route wrapper's) during a cell. */
function captureStdout(): () => string[] {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: string | Uint8Array) => {
    lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stdout.write);
  return () => {
    spy.mockRestore();
    return lines;
  };
}

async function elapsed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await work();
  return { value, ms: performance.now() - start };
}

/** Retry `attempt` until it returns true or the recovery window closes; the last failure is thrown. */
async function recovers(what: string, attempt: () => Promise<boolean>): Promise<void> {
  const deadline = performance.now() + RECOVERY_WINDOW_MS;
  for (;;) {
    if (await attempt()) return;
    if (performance.now() > deadline) throw new Error(`${what} did not recover within ${RECOVERY_WINDOW_MS} ms of the fault being removed`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const sql = async <T = Record<string, unknown>>(text: string, params: unknown[] = []) => (await database.admin.query(text, params)).rows as T[];

async function counts(): Promise<{ runs: number; reports: number; audit: number }> {
  const [row] = await sql<{ runs: string; reports: string; audit: string }>(
    `SELECT (SELECT count(*) FROM opsbook.job_runs) AS runs, (SELECT count(*) FROM opsbook.reports) AS reports, (SELECT count(*) FROM opsbook.audit_log) AS audit`,
  );
  return { runs: Number(row!.runs), reports: Number(row!.reports), audit: Number(row!.audit) };
}

/** Everything Opsbook stored (runs, results, reports, audit rows), as text, for the secret check. */
async function storedText(): Promise<string> {
  const rows = await sql(
    `SELECT (SELECT coalesce(json_agg(r), '[]') FROM (SELECT job, period, status, error, summary FROM opsbook.job_runs) r) AS runs,
            (SELECT coalesce(json_agg(r), '[]') FROM (SELECT checklist, subject, text, html, recipients, delivery, last_error FROM opsbook.reports) r) AS reports,
            (SELECT coalesce(json_agg(r), '[]') FROM (SELECT item_key, status, summary, data FROM opsbook.run_results) r) AS results,
            (SELECT coalesce(json_agg(r), '[]') FROM (SELECT actor, action, target, params, before, after, result FROM opsbook.audit_log) r) AS audit,
            (SELECT coalesce(json_agg(r), '[]') FROM (SELECT subject, event, channel, payload, last_error FROM opsbook.notifications) r) AS notifications`,
  );
  return JSON.stringify(rows);
}

const depsOf = (d: Deployment) => ({ tcp: depsTcp, upstash: depsUpstash, neon: depsNeon })[d];
const depsFor = (f: Fault) => depsOf(f.deployment);
const bearer = { authorization: `Bearer ${SECRETS.adminToken}` };
const cron = (job: string) => cronGET(new Request(`http://localhost/api/cron/${job}?job=${job}`, { headers: { authorization: `Bearer ${SECRETS.cronSecret}` } }));
const health = (headers: Record<string, string> = {}) => healthGET(new Request('http://localhost/api/health', { headers }));
const diagnostics = () => diagnosticsGET(new Request('http://localhost/api/diagnostics', { headers: bearer }));
const setFlag = (f: Fault) =>
  flagsPOST(adminRequest('/api/admin/flags', { token: SECRETS.adminToken, body: { name: flagName(f), enabled: true }, headers: { 'idempotency-key': `fm-${f.id}` } }));

type Check = { id: string; family: string; status: string; summary: string };

// ---------------------------------------------------------------------------------------------------
// The four paths. Each asserts its cell's specification and returns the cell's text: short, and made
// only of things that do not vary between runs (no timings, no ports).

async function healthCell(f: Fault): Promise<string> {
  const before = await counts();
  await f.inject();
  const { value: [pub, auth], ms } = await elapsed(() => Promise.all([health(), health(bearer)]));
  const [pubText, authText] = await Promise.all([pub.text(), auth.text()]);
  expect(ms, 'answered within the health budget').toBeLessThan(HEALTH_BUDGET_MS + SLACK_MS);
  const body = JSON.parse(pubText);
  const details = JSON.parse(authText).details;
  const want = f.health === 'database' ? { http: 503, status: 'unhealthy' } : f.health === 'redis' ? { http: 200, status: 'degraded' } : { http: 200, status: 'healthy' };
  expect(pub.status).toBe(want.http);
  expect(auth.status).toBe(want.http);
  expect(body.status).toBe(want.status);
  for (const dep of ['database', 'redis'] as const) expect(body.checks[dep], dep).toBe(f.health === dep ? 'unhealthy' : 'healthy');
  // The public answer says which dependency, never why; the authenticated one says why.
  expect(pubText).not.toMatch(/error|ECONN|timed out|127\.0\.0\.1/i);
  if (f.health) expect(details[f.health].error).toEqual(expect.any(String));
  assertClean('the public answer', pubText);
  assertClean('the authenticated answer', authText);
  expect(await counts()).toEqual(before);

  await f.remove();
  await recovers('/api/health', async () => {
    const res = await health();
    return res.status === 200 && (await res.json()).status === 'healthy';
  });
  return f.health ? `${want.http} · ${want.status}, ${f.health} failing · recovers` : '200 · healthy, unaffected';
}

async function diagnosticsCell(f: Fault): Promise<string> {
  const base = baseline[f.deployment];
  const before = await counts();
  await f.inject();
  const { value: res, ms } = await elapsed(diagnostics);
  const text = await res.text();
  expect(ms, 'answered within diagnostics.budgetMs').toBeLessThan(DIAGNOSTICS_BUDGET_MS + SLACK_MS);
  expect(res.status).toBe(200);
  assertClean('the diagnostics answer', text);
  const checks = JSON.parse(text).checks as Check[];
  const affected = checks.filter((c) => f.families.includes(c.family));
  for (const fam of f.families) expect(affected.some((c) => c.family === fam), `${fam} checks ran`).toBe(true);
  for (const c of affected) expect(reportsFault(c), `${c.id}: ${c.status} ${c.summary}`).toBe(true);
  // One root cause is a finding, not only suppressed dependents.
  if (affected.length) expect(affected.some((c) => c.status === 'error' || c.status === 'fail')).toBe(true);
  // Checks of other dependencies answer as before the fault: one outage, one set of findings.
  for (const c of checks.filter((c) => !f.families.includes(c.family))) expect(c.status, `${c.id}: ${c.summary}`).not.toBe('error');
  expect(await counts()).toEqual(before);

  await f.remove();
  await recovers('/api/diagnostics', async () => {
    const after = (await (await diagnostics()).json()).checks as Check[];
    return after.every((c) => c.status !== 'error' && (!f.families.includes(c.family) || healthy(c.status) === healthy(base.get(c.id))));
  });
  if (affected.length === 0) return '200 · unaffected';
  const label = (c: Check) => (c.status === 'skipped' ? 'suppressed' : c.status);
  const byFamily = f.families.map((fam) => `${fam} ${[...new Set(affected.filter((c) => c.family === fam).map(label))].sort().join('/')}`);
  return `200 · ${byFamily.join(', ')} · recovers`;
}

/** One run with the notify cells' incident: its variable unset for the run, set again whatever happens. */
async function withIncident<T>(work: () => Promise<T>): Promise<T> {
  delete process.env[INCIDENT_FLAG];
  try {
    return await work();
  } finally {
    process.env[INCIDENT_FLAG] = '1';
  }
}

const notificationRows = (job: string) =>
  sql<{ channel: ChannelId; event: string; status: string; last_error: string | null }>(
    `SELECT channel, event, status, last_error FROM opsbook.notifications WHERE checklist = $1 ORDER BY id`,
    [job],
  );

async function checklistCell(f: Fault): Promise<string> {
  const job = checklistId(f);
  const before = await counts();
  const emailsBefore = resend.emails.length;
  const requestsBefore = f.channel ? channelOf(f.channel).sink().requests : 0;
  sentry.clear();
  await f.inject();
  const { value: res, ms } = await elapsed(() => (f.checklist === 'notify' ? withIncident(() => cron(job)) : cron(job)));
  const text = await res.text();
  expect(ms, 'answered within the run budget').toBeLessThan((f.checklist === 'notify' ? NOTIFYING_CHECKLIST_BUDGET_MS : CHECKLIST_BUDGET_MS) + SLACK_MS);
  assertClean('the cron answer', text);
  const body = JSON.parse(text);
  let cellText: string;
  if (f.checklist === 'refused') {
    // Nothing claimed, so nothing blocks the period: the next invocation runs it.
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    cellText = f.keyHeld
      ? `503 DEPENDENCY_UNAVAILABLE · run taken over after its max runtime`
      : `503 DEPENDENCY_UNAVAILABLE · run on next invocation`;
  } else {
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ checklist: job, status: 'completed' });
    const results = await sql<{ item_key: string; status: string }>(`SELECT item_key, status FROM opsbook.run_results WHERE run_id = $1`, [body.runId]);
    const status = (id: string) => results.find((r) => r.item_key === `check:${id}`)?.status;
    for (const id of CHECKLIST_ITEMS) {
      const hit = f.families.includes(id.split('.')[0]!);
      if (hit) expect(['error', 'fail'], id).toContain(status(id));
      else expect(healthy(status(id)), `${id}: ${status(id)}`).toBe(true);
    }
    if (f.checklist === 'pending') {
      expect(body.report.delivery).toBe('pending');
      const [row] = await sql<{ delivery: string; last_error: string }>(`SELECT delivery, last_error FROM opsbook.reports WHERE id = $1`, [body.report.id]);
      expect(row).toMatchObject({ delivery: 'pending', last_error: expect.stringMatching(/Resend did not accept the email \((500|429)/) });
      cellText = `200 · report pending (${body.report.error.match(/\((\d+)/)[1]}) · sent on next invocation`;
    } else if (f.checklist === 'notify') {
      // The incident opened; the report went out; every channel but the faulted one has its message.
      const faulted = channelOf(f.channel!);
      const others = CHANNELS.filter((c) => c !== faulted);
      expect(status('env.required')).toBe('fail');
      expect(body.report.delivery).toBe('sent');
      for (const c of others) expect(c.received(job), `${c.title} delivered`).toEqual(['open']);
      expect(faulted.received(job), `${faulted.title} received nothing`).toEqual([]);
      const rows = await notificationRows(job);
      expect(rows.map((r) => `${r.channel}:${r.event}:${r.status}`).sort()).toEqual(CHANNELS.map((c) => `${c.id}:open:${c === faulted ? 'pending' : 'sent'}`).sort());
      const pending = rows.find((r) => r.channel === faulted.id)!;
      const requests = faulted.sink().requests - requestsBefore;
      const why = /answered (\d{3})/.exec(pending.last_error ?? '')?.[1] ?? (/timed out/.test(pending.last_error ?? '') ? 'timed out' : pending.last_error);
      if (f.id.includes('hang')) {
        expect(why).toBe('timed out');
        expect(requests, 'each attempt abandoned at its timeout, at most three in the budget').toBeGreaterThanOrEqual(1);
        expect(requests).toBeLessThanOrEqual(3);
      } else if (f.id.includes('429')) {
        // Its Retry-After is longer than the budget: not waited for inside the run, and not hammered.
        expect(why).toBe('429');
        expect(requests).toBe(1);
      } else {
        expect(why).toBe('500');
        expect(requests, 'retried with backoff within the budget').toBe(3);
      }
      cellText = `200 · report sent, ${others.map((c) => c.title).join(' and ')} delivered, ${faulted.title} pending (${why}) · delivered by a later invocation`;
    } else {
      expect(body.report.delivery).toBe('sent');
      if (f.checklist === 'checkins') {
        expect(sentry.items, 'nothing reached the sink while it was down').toEqual([]);
        cellText = '200 · run ok, check-ins lost · recovers';
      } else {
        const hit = CHECKLIST_ITEMS.filter((id) => f.families.includes(id.split('.')[0]!));
        cellText = `200 · ${hit.map((id) => `${id} ${status(id)}`).join(', ')}, report sent · recovers`;
      }
    }
  }
  const afterFault = await counts();
  expect(afterFault.audit).toBe(before.audit);

  await f.remove();
  if (f.keyHeld) {
    // The claimed run died with the hung connections. Right away it still looks like a run in progress
    // (another instance may be running it), so the period is not run twice…
    const soon = await cron(job);
    expect(await soon.json()).toMatchObject({ status: 'already-ran' });
    // …and once it is older than the checklist's max runtime, the next invocation takes the period over.
    await recovers('the same checklist invocation, past the max runtime', async () => {
      const later = await atLater(MAX_RUNTIME_MIN * 60_000 + 30_000, () => cron(job));
      return later.status === 200 && (await later.json()).status === 'completed';
    });
  }
  // Same period: a run the fault prevented happens now; a report it kept back goes out now.
  else await recovers('the same checklist invocation', async () => (await cron(job)).status === 200);
  const runs = await sql<{ id: string; period: string; status: string }>(`SELECT id, period, status FROM opsbook.job_runs WHERE job = $1`, [job]);
  expect(runs.map((r) => r.status), 'exactly one run for the period, completed').toEqual(['ok']);
  const reports = await sql<{ delivery: string; idempotency_key: string }>(`SELECT delivery, idempotency_key FROM opsbook.reports WHERE checklist = $1`, [job]);
  expect(reports.map((r) => r.delivery)).toEqual(['sent']);
  expect(resend.emails.filter((e) => e.idempotencyKey === reports[0]!.idempotency_key)).toHaveLength(1);
  expect(await sql(`SELECT id FROM opsbook.reports WHERE delivery = 'pending'`), 'no report left behind').toEqual([]);
  expect(resend.emails.length).toBeGreaterThan(emailsBefore);
  if (f.checklist === 'notify') {
    // The message waits for its next attempt (backoff or the channel's Retry-After); the first invocation
    // after that, any checklist's, delivers it, once.
    const faulted = channelOf(f.channel!);
    await recovers(`the pending ${faulted.title} message, by a later invocation`, async () => {
      await atLater(NOTIFY_RETRY_DUE_MS, () => cron(job));
      return faulted.received(job).length > 0;
    });
    for (const c of CHANNELS) expect(c.received(job), `${c.title}: one message for the open`).toEqual(['open']);
    expect((await notificationRows(job)).map((r) => r.status)).toEqual(['sent', 'sent', 'sent']);
  }

  // Next period: the checklist is all green again, and Sentry hears from the monitor.
  sentry.clear();
  const next = await atNextDay(() => cron(job));
  expect(next.status).toBe(200);
  const nextBody = await next.json();
  expect(nextBody).toMatchObject({ status: 'completed', report: { delivery: 'sent' } });
  const nextResults = await sql<{ item_key: string; status: string }>(`SELECT item_key, status FROM opsbook.run_results WHERE run_id = $1`, [nextBody.runId]);
  for (const id of CHECKLIST_ITEMS) {
    const s = nextResults.find((r) => r.item_key === `check:${id}`)?.status;
    expect(healthy(s), `${id}: ${s}`).toBe(true);
  }
  expect(sentry.checkIns().filter((c) => c.monitor_slug === `opsbook-${job}`).map((c) => c.status)).toEqual(['in_progress', 'ok']);
  if (f.checklist === 'notify') {
    // The recovery resolves the incident on every channel told of it; PagerDuty's resolve closes its trigger.
    for (const c of CHANNELS) expect(c.received(job), c.title).toEqual(['open', 'resolved']);
    expect(pd.alerts.get(`${job}/check:env.required#1`)).toEqual({ status: 'resolved', triggers: 1 });
    expect(await sql(`SELECT id FROM opsbook.notifications WHERE status <> 'sent'`), 'no message left behind').toEqual([]);
  }

  const after = await counts();
  expect(after.runs - before.runs, 'runs: one per period, none lost').toBe(2);
  expect(after.reports - before.reports, 'reports: one per run, none lost').toBe(2);
  expect(after.audit).toBe(before.audit);
  return cellText;
}

async function adminCell(f: Fault): Promise<string> {
  const name = flagName(f);
  const target = `flag:${name}`;
  const before = await counts();
  await f.inject();
  const { value: res, ms } = await elapsed(() => setFlag(f));
  const text = await res.text();
  expect(ms, 'answered within the dependency timeout').toBeLessThan(ADMIN_BUDGET_MS + SLACK_MS);
  assertClean('the admin answer', text);
  const body = JSON.parse(text);
  const audit = () => sql(`SELECT id, result FROM opsbook.audit_log WHERE target = $1`, [target]);
  const flag = async () => (await sql<{ value: { enabled: boolean } }>(`SELECT value FROM opsbook.settings WHERE key = $1`, [target]))[0]?.value;
  let cellText: string;
  if (f.admin === 'refused') {
    expect(res.status).toBe(503);
    expect(body.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    // Fail closed and atomic: no change, no audit row, and (unless the claim was made before the
    // fault) the Idempotency-Key is free for the retry.
    expect(await flag()).toBeUndefined();
    expect(await audit()).toEqual([]);
    const keys = await sql<{ state: string }>(`SELECT state FROM opsbook.idempotency_keys WHERE key = $1`, [`fm-${f.id}`]);
    expect(keys.map((k) => k.state)).toEqual(f.keyHeld ? ['in-flight'] : []);
    expect(await counts()).toEqual(before);
    cellText = '503 DEPENDENCY_UNAVAILABLE · no change, no audit row · recovers';
  } else {
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ action: 'flags.set', status: 'ok' });
    expect(await flag()).toEqual({ enabled: true });
    expect(await audit()).toHaveLength(1);
    cellText = '200 · unaffected';
  }

  await f.remove();
  // The client retries the same request with the same key: it runs now, or replays what ran.
  if (f.keyHeld) {
    // A claim whose request died with the database is "still in progress" to a retry until its lease
    // ends; then the same request takes the key over.
    const retry = await setFlag(f);
    expect(retry.status).toBe(409);
    expect((await retry.json()).error.message).toMatch(/still in progress/);
    const later = await atLater(IN_FLIGHT_LEASE_MS + 60_000, () => setFlag(f));
    expect(later.status).toBe(200);
    cellText = `503 DEPENDENCY_UNAVAILABLE · no change, no audit row · retry 409 until the key's ${IN_FLIGHT_LEASE_MS / 60_000}-min lease ends, then recovers`;
  } else await recovers('the admin action', async () => (await setFlag(f)).status === 200);
  expect(await flag()).toEqual({ enabled: true });
  expect(await audit(), 'exactly one audited change').toHaveLength(1);
  const after = await counts();
  expect(after.audit - before.audit).toBe(1);
  expect([after.runs, after.reports]).toEqual([before.runs, before.reports]);
  return cellText;
}

/** Run `work` with the clock `ms` ahead; timers stay real. */
async function atLater<T>(ms: number, work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + ms, shouldAdvanceTime: true });
  try {
    return await work();
  } finally {
    vi.useRealTimers();
  }
}

/** The next period of a daily checklist. */
const atNextDay = <T>(work: () => Promise<T>) => atLater(86_400_000, work);

const RUNNERS: Record<PathId, (f: Fault) => Promise<string>> = {
  health: healthCell,
  diagnostics: diagnosticsCell,
  checklist: checklistCell,
  admin: adminCell,
};

// ---------------------------------------------------------------------------------------------------
// The matrix, rendered for the README.
type Outcome = { text: string; state: 'pass' | 'pending' | 'failed' };
const matrix = new Map<string, Outcome>();
const cellKey = (fault: string, path: PathId) => `${fault}/${path}`;

function renderMatrix(): string {
  const header = `| fault | ${PATHS.map((p) => p.title).join(' | ')} |`;
  const rule = `|---|${PATHS.map(() => '---').join('|')}|`;
  const rows = FAULTS.map((f) => {
    const cells = PATHS.map((p) => {
      const na = f.notApplicable?.[p.id];
      if (na) return `n/a (${na})`;
      const o = matrix.get(cellKey(f.id, p.id));
      if (!o) return 'not run';
      if (o.state === 'failed') return `**FAILED**: ${o.text}`;
      if (o.state === 'pending') return `pending fix: ${o.text}`;
      return o.text;
    });
    return `| ${f.title} | ${cells.join(' | ')} |`;
  });
  const all = [...matrix.values()];
  const passed = all.filter((o) => o.state === 'pass').length;
  const pending = all.filter((o) => o.state === 'pending').length;
  const applicable = FAULTS.reduce((n, f) => n + PATHS.filter((p) => !f.notApplicable?.[p.id]).length, 0);
  const summary = `${passed} of ${applicable} cells meet their specification${pending ? `; ${pending} pending a product fix` : ''}.`;
  return [header, rule, ...rows, '', summary].join('\n');
}

const README = new URL('../../README.md', import.meta.url);
const START = '<!-- fault-matrix:start -->';
const END = '<!-- fault-matrix:end -->';

// ---------------------------------------------------------------------------------------------------

describe('fault matrix: every fault × every path meets its specification', () => {
  beforeAll(async () => {
    const pgTarget = new URL(PG_ADMIN_URL);
    const redisTarget = new URL(REDIS_URL);
    certs = createCertFactory();
    const now = Date.now();
    validLeaf = certs.leaf({ cn: 'localhost', names: ['localhost', '127.0.0.1'], notBefore: daysFromNow(-30, now), notAfter: daysFromNow(90, now) });
    expiredLeaf = certs.leaf({ cn: 'localhost', names: ['localhost', '127.0.0.1'], notBefore: daysFromNow(-120, now), notAfter: daysFromNow(-2, now) });
    tlsServer = createTlsServer({ key: validLeaf.key, cert: [validLeaf.cert, certs.ca.cert].join('\n') }, (s) => s.end());
    tlsServer.on('tlsClientError', () => undefined);
    [slack, pd, hook] = await Promise.all([startSlackSink(), startPagerDutySink(), startWebhookSink({ secret: SECRETS.webhookSecret })]);
    channelSecrets.push(slack.webhookUrl, slack.token, pd.routingKey, hook.url, hook.pathSecret);
    [database, pgProxy, redisProxy, upstash, resend, sentry, target] = await Promise.all([
      createTestDatabase(),
      startProxy(Number(pgTarget.port || 5432), pgTarget.hostname),
      startProxy(Number(redisTarget.port || 6379), redisTarget.hostname),
      startUpstashPeer({ upstream: REDIS_URL, token: SECRETS.upstashToken }),
      startResendSink({ apiKeys: [SECRETS.resendKey] }),
      startSentrySink({ publicKey: SECRETS.sentryKey }),
      startHttp((_req, res) => answerJson(res, { status: 'ok' })),
      new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', () => r())),
    ]);
    tlsPort = (tlsServer.address() as AddressInfo).port;
    [sentryProxy, targetProxy, neon] = await Promise.all([
      startProxy(Number(new URL(sentry.dsn).port)),
      startProxy(target.port),
      startNeonPeer({ upstream: `postgres://postgres@127.0.0.1:${pgProxy.port}/postgres` }),
    ]);
    neonProxy = await startProxy(Number(new URL(neon.fetchEndpoint).port));

    const common = {
      DATABASE_URL: `postgres://postgres:${SECRETS.pgPassword}@127.0.0.1:${pgProxy.port}/${database.name}`,
      RESEND_API_KEY: SECRETS.resendKey,
      RESEND_BASE_URL: resend.baseUrl,
      OPSBOOK_EMAIL_TO: 'oncall@example.com',
      SENTRY_DSN: `http://${SECRETS.sentryKey}@127.0.0.1:${sentryProxy.port}/1`,
      SENTRY_ENVIRONMENT: 'fault-matrix',
      CRON_SECRET: SECRETS.cronSecret,
      OPSBOOK_ADMIN_TOKEN: SECRETS.adminToken,
      OPSBOOK_CONFIRM_SECRET: SECRETS.confirmSecret,
      HEALTH_BUDGET_MS: String(HEALTH_BUDGET_MS),
      OPSBOOK_DEPENDENCY_TIMEOUT_MS: String(DEPENDENCY_TIMEOUT_MS),
      [CHANNEL_ENV.slackUrl]: slack.webhookUrl,
      [CHANNEL_ENV.hookUrl]: hook.url,
      [CHANNEL_ENV.hookSecret]: SECRETS.webhookSecret,
      [CHANNEL_ENV.pdKey]: pd.routingKey,
      [INCIDENT_FLAG]: '1',
    };
    const tcpEnv = { ...common, REDIS_URL: `redis://127.0.0.1:${redisProxy.port}` };
    const upstashEnv = { ...common, UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: SECRETS.upstashToken };
    // As in production, the secrets are in the process environment: that is what the logger and the
    // Sentry scrubber redact by.
    for (const [k, v] of Object.entries(tcpEnv)) {
      savedEnv[k] = process.env[k];
      process.env[k] = v;
    }
    resetEnvCache();
    const log = createLogger((line) => logs.push(line));
    depsTcp = await createDeps(parseEnv(tcpEnv), { log });
    depsUpstash = await createDeps(parseEnv(upstashEnv), { db: depsTcp.db, errors: depsTcp.errors, log });
    // Neon's HTTP driver over the same database (the peer forwards the password, which trust ignores).
    const neonEnv = {
      ...tcpEnv,
      DATABASE_URL: neon.connectionString(database.name, 'postgres', SECRETS.pgPassword),
      NEON_FETCH_ENDPOINT: `http://127.0.0.1:${neonProxy.port}/sql`,
    };
    depsNeon = await createDeps(parseEnv(neonEnv), { redis: depsTcp.redis, errors: depsTcp.errors, log });
    expect(depsNeon.db.driver).toBe('neon');

    config = parseConfig({
      service: 'FaultMatrix',
      checks: {
        requiredEnv: [INCIDENT_FLAG],
        queues: { names: ['fault-matrix-queue'] },
        http: [{ id: 'api', url: `http://127.0.0.1:${targetProxy.port}/status`, timeoutMs: ITEM_TIMEOUT_MS - 500, retries: 0 }],
        tls: [{ id: 'api-cert', host: 'localhost', port: tlsPort, ca: certs.ca.cert, timeoutMs: ITEM_TIMEOUT_MS - 500 }],
      },
      diagnostics: { budgetMs: DIAGNOSTICS_BUDGET_MS, checkTimeoutMs: ITEM_TIMEOUT_MS },
      admin: { rateLimit: { perTokenPerMinute: 100_000, perIpPerMinute: 100_000 } },
      alerts: { perCheck: { 'env.required': { alertAfter: 1, recoverAfter: 1 } } },
      notifications: {
        channels: {
          slack: { type: 'slack', urlEnv: CHANNEL_ENV.slackUrl },
          pd: { type: 'pagerduty', routingKeyEnv: CHANNEL_ENV.pdKey, eventsUrl: pd.eventsUrl },
          hook: { type: 'webhook', urlEnv: CHANNEL_ENV.hookUrl, secretEnv: CHANNEL_ENV.hookSecret },
        },
        // Only the notify cells' incidents (env.required is P2); missed runs (P4 here) go nowhere, so the
        // next-day invocations of other cells send nothing.
        routes: [{ severity: ['P2'], checklists: notifyChecklists(), channels: ['slack', 'pd', 'hook'] }],
        missedRunSeverity: 'P4',
        timeoutMs: NOTIFY_TIMEOUT_MS,
        budgetMs: NOTIFY_BUDGET_MS,
      },
      checklists: FAULTS.map((f) => ({
        id: checklistId(f),
        title: `Fault matrix: ${f.title}`,
        schedule: { type: 'daily', at: '00:00' },
        notify: 'always',
        itemTimeoutMs: ITEM_TIMEOUT_MS,
        sentry: { checkinMargin: 1, maxRuntime: MAX_RUNTIME_MIN },
        items: [...CHECKLIST_ITEMS.map((check) => ({ check })), ...(f.checklist === 'notify' ? [{ check: 'env' }] : []), { manual: 'Read the report' }],
      })),
    });
    setConfig(config);

    // Warm deployments, as a live one is: schema in place, clients connected, the baseline recorded.
    for (const which of DEPLOYMENTS) {
      setDeps(depsOf(which));
      const h = await health();
      expect(await h.json()).toMatchObject({ status: 'healthy' });
      const d = await diagnostics();
      expect(d.status).toBe(200);
      for (const c of (await d.json()).checks as Check[]) baseline[which].set(c.id, c.status);
    }
    for (const which of DEPLOYMENTS) for (const id of CHECKLIST_ITEMS) expect(healthy(baseline[which].get(id)), `${which} ${id}`).toBe(true);
    expect(baseline.tcp.get('http.api')).toBe('ok');
    expect(baseline.tcp.get('tls.api-cert')).toBe('ok');
  }, 60_000);

  afterAll(async () => {
    setDeps(undefined);
    setConfig(undefined);
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetEnvCache();
    console.log(`\nFault matrix\n\n${renderMatrix()}\n`);
    await (await import('@sentry/node')).close(1000).catch(() => undefined);
    await Promise.allSettled([depsTcp?.db.close(), depsNeon?.db.close(), depsTcp?.redis.close(), depsUpstash?.redis.close()]);
    await Promise.allSettled([neonProxy?.close(), neon?.close()]);
    await Promise.allSettled([
      pgProxy?.close(),
      redisProxy?.close(),
      upstash?.close(),
      resend?.close(),
      sentry?.close(),
      sentryProxy?.close(),
      target?.close(),
      targetProxy?.close(),
      slack?.close(),
      pd?.close(),
      hook?.close(),
      new Promise<void>((r) => (tlsServer?.listening ? tlsServer.close(() => r()) : r())),
    ]);
    certs?.cleanup();
    await database?.drop();
  });

  for (const f of FAULTS) {
    describe(f.title, () => {
      for (const p of PATHS.filter((p) => !f.notApplicable?.[p.id])) {
        const pending = PENDING_LEAD_FIX.find((x) => x.fault === f.id && x.path === p.id);
        const name = `${f.title} × ${p.title}: within budget, status reflects the fault, no stack or secret, nothing lost, recovers`;
        const body = async () => {
          // The fault as this cell sees it: removed at most once, so a failed cell never leaves it behind
          // and a removal that is an event (a restart) is not repeated.
          let injected = false;
          const live: Fault = {
            ...f,
            inject: async () => {
              injected = true;
              await f.inject();
            },
            remove: async () => {
              if (!injected) return;
              injected = false;
              await f.remove();
            },
          };
          setDeps(depsFor(f));
          logs.length = 0;
          sentry.clear();
          const restore = captureStdout();
          let written: string[] | undefined;
          const stdout = () => (written ??= restore());
          try {
            const text = await RUNNERS[p.id](live);
            for (const line of [...logs, ...stdout()]) assertClean('a log line', line);
            assertClean('what Opsbook stored', await storedText());
            // Sentry is where stack traces belong; secrets belong nowhere.
            for (const item of sentry.items) assertNoSecret('a Sentry event', JSON.stringify(item.payload));
            matrix.set(cellKey(f.id, p.id), { text, state: 'pass' });
          } catch (err) {
            matrix.set(cellKey(f.id, p.id), pending ? { text: pending.reason, state: 'pending' } : { text: (err as Error).message.split('\n')[0]!.slice(0, 120), state: 'failed' });
            throw err;
          } finally {
            stdout();
            await live.remove().catch(() => undefined);
          }
        };
        if (pending) it.fails(`${name} [pending lead fix: ${pending.reason}]`, body, 60_000);
        else it(name, body, 60_000);
      }
    });
  }

  it('the README reliability table is the one these cells produced', () => {
    const table = renderMatrix();
    const readme = readFileSync(README, 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    expect(start, `README.md has no ${START} … ${END} markers`).toBeGreaterThan(-1);
    expect(end).toBeGreaterThan(start);
    const generated = `${START}\n${table}\n${END}`;
    if (process.env.UPDATE_README === '1') {
      expect([...matrix.values()].filter((o) => o.state === 'failed'), 'refusing to write a table with failed cells').toEqual([]);
      writeFileSync(README, readme.slice(0, start) + generated + readme.slice(end + END.length));
      return;
    }
    expect(readme.slice(start, end + END.length), 'README.md is stale: run `npm run reliability:readme`').toBe(generated);
  });
});
