import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/vocavision.config.js';
import { runChecklist } from '../../lib/checklists/run.js';
import type { CheckStatus } from '../../lib/checks/types.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { createCertFactory, type CertFactory } from '../support/net/certs.js';
import { startDnsServer, type TestDnsServer } from '../support/net/dns-server.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import { days, expectedKeys, hours, openScenario, ping, plus, runEveryChecklist, runProblems, scenarioBase, section, statuses, type ChecklistRun, type Scenario } from './support/scenario.js';
import { localize, offMachineTargets, startInternet, startTls, statusJson, type Internet } from './support/world.js';

/** Runbook 001 (VocaVision), COVERAGE.md item by item, and where examples/vocavision.config.ts covers it. */
const COVERAGE: CoverageRow[] = [
  {
    item: 'morning: status page, failed deployments, Sentry error spikes',
    kind: 'check',
    by: [{ check: 'statuspage.vocavision' }, { check: 'http.vercel-deployments' }, { check: 'http.sentry-new-issues' }],
  },
  {
    item: 'active users, error rate < 0.1%, p95 < 200 ms, DB query performance',
    kind: 'check',
    by: [
      { check: 'sql.active-users' },
      { check: 'sql.error-rate' },
      { setting: 'checks.sqlMetrics.1.warn', is: 0.1 },
      { check: 'sql.p95-response-time' },
      { setting: 'checks.sqlMetrics.2.warn', is: 200 },
      { check: 'postgres.slow-queries' },
      { setting: 'checks.postgres.thresholds.slowQueryMeanMs', is: 50 },
    ],
  },
  {
    item: 'Slack/PagerDuty alerts, support tickets',
    kind: 'manual',
    by: [{ manual: /Slack #incidents-alerts/ }, { manual: /PagerDuty/ }, { manual: /Support tickets/ }],
  },
  {
    item: 'weekly: Dependabot, npm audit, Web Vitals, bundle size',
    kind: 'manual',
    by: [{ manual: /Dependabot/ }, { manual: /npm audit/ }, { manual: /Core Web Vitals/ }, { manual: /bundle size/ }],
  },
  {
    item: 'weekly: slow query log, SSL expiry, backups verified, db growth rate',
    kind: 'check',
    // Growth rate: postgres.database-size stores a size snapshot each run; the report's trends compare them.
    // Backups verified: the nightly pg_dump's ping, and the size it pushes (graded, and against last week's).
    by: [
      { check: 'postgres.slow-queries' },
      { check: 'tls.vocavision-com' },
      { check: 'tls.api-vocavision-com' },
      { heartbeat: 'db-backup' },
      { check: 'heartbeat.db-backup.backup_bytes' },
      { check: 'postgres.database-size' },
    ],
  },
  {
    item: 'monthly (first Monday): inactive accounts, API keys due for rotation',
    kind: 'check',
    by: [{ check: 'sql.inactive-accounts' }, { check: 'sql.api-keys-due-rotation' }],
  },
  {
    item: 'monthly: data retention (audit_logs > 90 d, session_logs > 30 d)',
    kind: 'task',
    by: [
      { task: 'retention-delete', table: 'audit_logs', olderThanDays: 90 },
      { task: 'retention-delete', table: 'session_logs', olderThanDays: 30 },
    ],
  },
  {
    item: 'monthly: docs, cost, GDPR',
    kind: 'manual',
    by: [{ manual: /Update runbooks and playbooks/ }, { manual: /Vercel usage and costs/ }, { manual: /GDPR/ }],
  },
  {
    item: '`/health` → `{"status":"healthy","timestamp":…,"checks":{"database":"healthy","redis":"healthy"}}`',
    kind: 'the health endpoint\'s shape',
    // The app's own /health is checked for exactly that shape; Opsbook's /api/health answers in it too.
    by: [{ check: 'http.api-health' }],
  },
  {
    item: 'cache: PING, INFO stats hit rate, DBSIZE, `DEL "cache:words:*"`, FLUSHDB',
    kind: 'check + action',
    by: [{ check: 'redis.ping' }, { check: 'redis.hit-rate' }, { action: 'cache/delete (SCAN + DEL by pattern)' }, { action: 'cache/flush (with confirmation)' }],
  },
  {
    item: 'users: look up, soft delete (`deleted_at = NOW()`)',
    kind: 'action',
    by: [{ action: 'users lookup' }, { action: 'users/delete (soft)' }, { app: 'users.columns.deletedAt', is: 'deleted_at' }],
  },
  {
    item: 'pool exhausted: connections by state / wait_event; kill idle > 10 min',
    kind: 'check + action',
    by: [{ check: 'postgres.connections' }, { action: 'db/terminate idle' }],
  },
  {
    item: 'database emergency: kill queries active > 5 min',
    kind: 'action',
    by: [{ action: 'db/terminate long-running' }, { check: 'postgres.long-running' }, { setting: 'checks.postgres.thresholds.longRunningSeconds', is: 300 }],
  },
  {
    item: 'weekly ANALYZE / VACUUM ANALYZE; table sizes, bloat',
    kind: 'task + check',
    by: [{ task: 'vacuum-analyze' }, { check: 'postgres.largest-tables' }, { check: 'postgres.vacuum' }],
  },
  {
    item: 'monthly VACUUM FULL, REINDEX (maintenance window)',
    kind: 'action',
    by: [{ action: 'db/vacuum-full, db/reindex (admin role, confirmation)' }, { manual: /VACUUM FULL ANALYZE and REINDEX/ }],
  },
  { item: 'site down: HTTP, DNS', kind: 'check', by: [{ check: 'http.site' }, { check: 'dns.vocavision-com-a' }] },
  {
    item: 'quarterly secret rotation, security audit',
    kind: 'manual',
    by: [{ manual: /^Rotate secrets/ }, { manual: /^Security audit/ }],
  },
];

const VERCEL = 'Bearer vercel-test-token-0123456789';
const SENTRY = 'Bearer sentry-test-token-0123456789';

describe('VocaVision example (examples/vocavision.config.ts, runbook 001)', () => {
  let s: Scenario;
  let internet: Internet;
  let dns: TestDnsServer;
  let certs: CertFactory;
  const closers: Array<() => Promise<unknown>> = [];
  let config: OpsbookConfig;
  let runs: Map<string, ChecklistRun>;
  const base = scenarioBase();
  let before: { audit: number; session: number };
  let lastWeek: ChecklistRun;

  beforeAll(async () => {
    s = await openScenario();
    certs = createCertFactory();
    const authorized = (header: string | string[] | undefined, want: string) => header === want;
    internet = await startInternet({
      'vocavision.com': { text: '<!doctype html><title>VocaVision</title>' },
      'api.vocavision.com/health': { json: { status: 'healthy', timestamp: base.toISOString(), checks: { database: 'healthy', redis: 'healthy' } } },
      'api.vercel.com/v6/deployments': (req) =>
        authorized(req.headers.authorization, VERCEL)
          ? { json: { deployments: [{ uid: 'dpl_1', name: 'vocavision', state: 'READY', target: 'production' }], pagination: { count: 1 } } }
          : { status: 403, json: { error: { code: 'forbidden' } } },
      'sentry.io/api/0/organizations/vocavision/issues': (req) =>
        authorized(req.headers.authorization, SENTRY)
          ? { json: [1, 2, 3].map((n) => ({ id: String(n), title: `TypeError ${n}`, status: 'unresolved', count: String(n * 4) })) }
          : { status: 401, json: { detail: 'Invalid token' } },
      'status.vocavision.com/api/v2/status.json': statusJson('VocaVision', 'none', 'All Systems Operational'),
      'www.vercel-status.com/api/v2/status.json': statusJson('Vercel', 'none', 'All Systems Operational'),
    });
    dns = await startDnsServer({ records: { 'vocavision.com': [{ type: 'A', address: '192.0.2.10' }] } });
    const tls = await startTls(certs, { notBefore: new Date(Date.now() - days(1)), notAfter: plus(base, days(80)) });
    closers.push(() => internet.close(), () => dns.close(), () => tls.close());
    config = parseConfig(
      localize(example, { internet: internet.url, tls: () => ({ port: tls.port, ca: certs.ca.cert }), dns: dns.server, queuePrefix: s.prefix }),
    );

    // The app's tables. Metrics read the database's clock (now()); retention reads the run's `now`.
    await s.admin.query(`
      CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now(),
                          last_login timestamptz, deleted_at timestamptz);
      CREATE TABLE user_activity (id bigserial PRIMARY KEY, user_id int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE request_logs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, status int NOT NULL, duration_ms int NOT NULL);
      CREATE TABLE api_keys (id serial PRIMARY KEY, user_id int NOT NULL, created_at timestamptz NOT NULL, revoked_at timestamptz);
      CREATE TABLE audit_logs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, action text NOT NULL);
      CREATE TABLE session_logs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, user_id int);

      -- 10 users active yesterday, 2 without a login for 200 days (inactive), 1 of those already soft-deleted.
      INSERT INTO users (email, created_at, last_login) SELECT 'u' || g || '@example.com', now() - interval '400 days', now() - interval '1 day' FROM generate_series(1, 10) g;
      INSERT INTO users (email, created_at, last_login) VALUES ('idle1@example.com', now() - interval '400 days', now() - interval '200 days'),
                                                               ('idle2@example.com', now() - interval '400 days', now() - interval '200 days');
      INSERT INTO users (email, created_at, last_login, deleted_at) VALUES ('gone@example.com', now() - interval '400 days', now() - interval '300 days', now() - interval '30 days');
      INSERT INTO user_activity (user_id, created_at) VALUES (1, now() - interval '2 hours'), (1, now() - interval '3 hours'), (2, now() - interval '5 hours'), (3, now() - interval '20 hours'), (4, now() - interval '3 days');

      -- 1000 requests in 24 h: 2 answered 500 (0.2 %: over the 0.1 % target, under the 0.5 % alert); p95 well under 200 ms.
      INSERT INTO request_logs (created_at, status, duration_ms)
        SELECT now() - (g || ' minutes')::interval, CASE WHEN g % 500 = 0 THEN 500 ELSE 200 END, CASE WHEN g % 20 = 0 THEN 150 ELSE 80 END
        FROM generate_series(1, 1000) g;

      -- API keys: one active key 120 days old (due for rotation), one that old but revoked, one fresh.
      INSERT INTO api_keys (user_id, created_at, revoked_at) VALUES (1, now() - interval '120 days', NULL), (2, now() - interval '200 days', now() - interval '100 days'), (3, now() - interval '10 days', NULL);`);
    // Retention rows around the monthly run's cutoffs (audit_logs 90 d, session_logs 30 d).
    const monthly = plus(base, hours(10));
    await s.admin.query(
      `INSERT INTO audit_logs (created_at, action) SELECT $1::timestamptz - interval '120 days', 'login' FROM generate_series(1, 5);
       INSERT INTO audit_logs (created_at, action) SELECT $1::timestamptz - interval '10 days', 'login' FROM generate_series(1, 5);
       INSERT INTO session_logs (created_at) SELECT $1::timestamptz - interval '45 days' FROM generate_series(1, 4);
       INSERT INTO session_logs (created_at) SELECT $1::timestamptz - interval '5 days' FROM generate_series(1, 3);`.replace(/\$1/g, `'${monthly.toISOString()}'`),
    );
    before = { audit: 10, session: 7 };

    vi.stubEnv('VERCEL_API_AUTHORIZATION', VERCEL);
    vi.stubEnv('SENTRY_API_AUTHORIZATION', SENTRY);

    // The nightly pg_dump pings at 03:10 with the size of its .sql.gz. Last week's weekly run saw a 48 MB
    // dump: it is the baseline this week's is compared with.
    const nightly = (night: Date, bytes: number) => ping(s.deps, config, 'db-backup', plus(night, hours(3) + 10 * 60_000), '0', { backup_bytes: bytes });
    await nightly(plus(base, -days(7)), 48_213_775);
    lastWeek = await runOnce(s, config, 'weekly', plus(base, -days(7) + hours(10)));
    for (let n = 6; n >= 1; n--) await nightly(plus(base, -days(n)), 48_213_775 + (7 - n) * 40_960);
    // The intended failure: last night pg_dump could not connect, but the pipe's exit code is gzip's (0), so
    // the job pinged success with an empty 20-byte .sql.gz.
    await nightly(base, 20);
    runs = await runEveryChecklist(s, config, base);
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    certs?.cleanup();
    await s?.close();
  });

  it('parses, and every checklist item names a check that exists', () => {
    const parsed = parseConfig(example);
    expect(referenceProblems(parsed)).toEqual([]);
    expect(parsed.checklists.map((c) => [c.id, c.schedule])).toEqual([
      ['morning', { type: 'daily', at: '09:00' }],
      ['weekly', { type: 'weekly', days: ['mon'], at: '10:00' }],
      ['monthly', { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' }],
      ['quarterly', { type: 'quarterly', at: '10:00' }],
    ]);
  });

  it('covers every COVERAGE.md item of runbook 001 with a config entry that exists and runs', () => {
    expect(coverageProblems(parseConfig(example), COVERAGE)).toEqual([]);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('runs every checklist on its due day: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    expect([...runs.keys()].sort()).toEqual(['monthly', 'morning', 'quarterly', 'weekly']);
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(internet.unknown).toEqual([]);
    // Four reports, and last week's weekly one.
    expect(s.outboxFiles().filter((f) => f.endsWith('.json'))).toHaveLength(5);
  });

  it('the morning checklist reads the status page, Vercel and Sentry with tokens from the environment, never printed', () => {
    const morning = runs.get('morning')!;
    expect(statuses(morning, ['check:statuspage.vocavision', 'check:http.site', 'check:http.api-health', 'check:http.vercel-deployments', 'check:http.sentry-new-issues'])).toEqual({
      'check:statuspage.vocavision': 'ok',
      'check:http.site': 'ok',
      'check:http.api-health': 'ok',
      'check:http.vercel-deployments': 'ok',
      'check:http.sentry-new-issues': 'ok',
    });
    const vercel = internet.received.find((r) => r.route === 'api.vercel.com/v6/deployments')!;
    expect(vercel.headers.authorization).toBe(VERCEL);
    for (const run of runs.values()) expect(run.result.text).not.toMatch(/test-token/);
  });

  it('grades the overnight metrics by the runbook: 3 active users ok, 0.2 % errors over the 0.1 % target warns, p95 under 200 ms ok', () => {
    const morning = runs.get('morning')!;
    expect(statuses(morning, ['check:sql.active-users', 'check:sql.error-rate', 'check:sql.p95-response-time'])).toEqual({
      'check:sql.active-users': 'ok',
      'check:sql.error-rate': 'warn',
      'check:sql.p95-response-time': 'ok',
    });
    expect(morning.items.get('check:sql.error-rate')!.summary).toBe('0.2 %: above the warn threshold 0.1');
  });

  it('last week the 48 MB nightly dump was ok; last night’s exited 0 as a 20-byte file: its size fails (under 1 MB, and under half of last week’s) while the ping itself is up', () => {
    expect(lastWeek.now.toISOString()).toBe(plus(base, -days(7) + hours(10)).toISOString());
    expect(runProblems(config, lastWeek)).toEqual([]);
    expect(statuses(lastWeek, ['check:heartbeat.db-backup', 'check:heartbeat.db-backup.backup_bytes'])).toEqual({
      'check:heartbeat.db-backup': 'ok',
      'check:heartbeat.db-backup.backup_bytes': 'ok',
    });
    expect(lastWeek.items.get('check:heartbeat.db-backup.backup_bytes')!.summary).toBe(
      'backup_bytes 48213775 bytes (fail below 1000000), reported 6 h 50 min ago; baseline: not enough history yet (0 of 1 stored run)',
    );
    const weekly = runs.get('weekly')!;
    expect(
      statuses(weekly, ['check:heartbeat.db-backup', 'check:heartbeat.db-backup.backup_bytes', 'check:tls.vocavision-com', 'check:tls.api-vocavision-com', 'check:dns.vocavision-com-a', 'task:0:vacuum-analyze']),
    ).toEqual({
      'check:heartbeat.db-backup': 'ok',
      'check:heartbeat.db-backup.backup_bytes': 'fail',
      'check:tls.vocavision-com': 'ok',
      'check:tls.api-vocavision-com': 'ok',
      'check:dns.vocavision-com-a': 'ok',
      'task:0:vacuum-analyze': 'ok',
    });
    expect(weekly.items.get('check:heartbeat.db-backup')!.summary).toMatch(/^up: last success 6 h 50 min ago/);
    expect(weekly.items.get('check:heartbeat.db-backup.backup_bytes')!.summary).toBe(
      'backup_bytes 20 bytes (fail below 1000000), reported 6 h 50 min ago; 100 % below the previous run (48213775): fail at 50 %',
    );
    expect(section(weekly.result.text, 'FAILING (1)')).toContain('(heartbeat.db-backup.backup_bytes)');
  });

  it('the first-Monday run lists 2 inactive accounts and 1 API key due for rotation, and deletes audit_logs over 90 d and session_logs over 30 d', async () => {
    const monthly = runs.get('monthly')!;
    expect(statuses(monthly, ['check:sql.inactive-accounts', 'check:sql.api-keys-due-rotation', 'task:0:retention-delete', 'task:1:retention-delete'])).toEqual({
      'check:sql.inactive-accounts': 'warn',
      'check:sql.api-keys-due-rotation': 'warn',
      'task:0:retention-delete': 'ok',
      'task:1:retention-delete': 'ok',
    });
    expect(monthly.items.get('check:sql.inactive-accounts')!.summary).toMatch(/^2 accounts:/);
    expect(monthly.items.get('check:sql.api-keys-due-rotation')!.summary).toMatch(/^1 keys:/);
    const { rows } = await s.admin.query<{ audit: number; session: number; old_audit: number; old_session: number }>(
      `SELECT (SELECT count(*) FROM audit_logs)::int AS audit, (SELECT count(*) FROM session_logs)::int AS session,
              (SELECT count(*) FROM audit_logs WHERE created_at < $1::timestamptz - interval '90 days')::int AS old_audit,
              (SELECT count(*) FROM session_logs WHERE created_at < $1::timestamptz - interval '30 days')::int AS old_session`,
      [monthly.now.toISOString()],
    );
    expect(rows[0]).toEqual({ audit: before.audit - 5, session: before.session - 4, old_audit: 0, old_session: 0 });
    expect(monthly.items.get('task:0:retention-delete')!.summary).toMatch(/^deleted 5 "public"\."audit_logs" rows/);
    // The two tasks run side by side: their audit rows come in either order.
    const audit = await s.admin.query(`SELECT target, after FROM opsbook.audit_log WHERE action = 'retention-delete' ORDER BY target`);
    expect(audit.rows).toEqual([
      { target: '"public"."audit_logs"', after: { deleted: 5 } },
      { target: '"public"."session_logs"', after: { deleted: 4 } },
    ]);
  });

  it('the quarterly checklist is the rotation and audit to-do list, with the date of the last rotation', () => {
    const quarterly = runs.get('quarterly')!;
    expect(quarterly.items.size).toBe(0);
    expect(quarterly.result.counts.manual).toBe(4);
    expect(quarterly.result.text).toContain('last done 2024-01-15');
  });
});

/** One scheduled run of a checklist at `at`, with its stored results (as runEveryChecklist collects them). */
async function runOnce(s: Scenario, config: OpsbookConfig, id: string, at: Date): Promise<ChecklistRun> {
  const result = await runChecklist(s.deps, config, id, at, { mode: 'scheduled' });
  if (result.status !== 'completed') throw new Error(`checklist ${id} at ${at.toISOString()}: ${result.status}`);
  const { rows } = await s.admin.query<{ item_key: string; kind: string; status: CheckStatus; summary: string }>(
    'SELECT item_key, kind, status, summary FROM opsbook.run_results WHERE run_id = $1',
    [result.runId],
  );
  const list = config.checklists.find((l) => l.id === id)!;
  return { id, now: at, result, items: new Map(rows.map((r) => [r.item_key, { kind: r.kind, status: r.status, summary: r.summary }])), expectedKeys: expectedKeys(config, list) };
}
