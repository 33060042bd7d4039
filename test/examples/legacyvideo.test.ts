import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/legacyvideo.config.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { REDIS_URL } from '../support/services.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import { days, hours, openScenario, ping, plus, runEveryChecklist, runProblems, scenarioBase, section, statuses, type ChecklistRun, type Scenario } from './support/scenario.js';
import { localize, offMachineTargets, startInternet, type Internet } from './support/world.js';

/** Runbook 003 (LegacyVideo), COVERAGE.md item by item, and where examples/legacyvideo.config.ts covers it. */
const COVERAGE: CoverageRow[] = [
  {
    item: 'quick health: API `/health`, web 200, database, Redis',
    kind: 'check',
    by: [{ check: 'http.api-health' }, { check: 'http.web' }, { check: 'postgres.connections' }, { check: 'redis.ping' }],
  },
  {
    item: 'lock user: `POST /api/admin/users/lock` `{"userId","locked":true}` with `Authorization: Bearer`',
    kind: 'action',
    by: [{ action: 'POST /api/admin/users/lock' }, { app: 'users.columns.locked', is: 'locked' }],
  },
  { item: 'queues: `KEYS bull:*`, counts of wait / active / failed', kind: 'check', by: [{ check: 'queues.backlog' }, { setting: 'checks.queues.prefix', is: 'bull' }] },
  { item: 'clear failed jobs (`DEL bull:email:failed`)', kind: 'action', by: [{ action: 'queues/clean (through BullMQ)' }] },
  { item: 'retry failed jobs', kind: 'action', by: [{ action: 'queues/retry (bounded)' }, { check: 'queues.failed' }] },
  { item: 'worker not processing jobs', kind: 'check', by: [{ check: 'queues.stuck' }] },
  {
    item: 'email not sending: Resend errors, failed email jobs',
    kind: 'check',
    by: [{ check: 'queues.failed' }, { check: 'sql.failed-email-rate' }, { check: 'http.resend-domain' }],
  },
  {
    item: 'security incident: lock accounts, revoke tokens, review audit log',
    kind: 'actions + audit log query',
    by: [{ action: 'users/lock' }, { action: 'tokens/revoke' }, { manual: /Review audit logs for anomalies/ }],
  },
  {
    item: 'daily / weekly / monthly / quarterly maintenance lists',
    kind: 'checklists; audit-log archive = task',
    by: [
      { schedule: { type: 'daily', at: '09:00' } },
      { schedule: { type: 'weekly', days: ['mon'], at: '09:00' } },
      { schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' } },
      { schedule: { type: 'quarterly', at: '10:00' } },
      { task: 'retention-delete', table: 'audit_logs', olderThanDays: 365, in: 'monthly' },
      { task: 'vacuum-analyze', in: 'monthly' },
    ],
  },
  {
    item: 'alert thresholds: error rate > 1% / 5%, p99 > 2 s, failed email > 10%',
    kind: 'thresholds',
    by: [
      { check: 'sql.error-rate' },
      { setting: 'checks.sqlMetrics.0.warn', is: 1 },
      { setting: 'checks.sqlMetrics.0.fail', is: 5 },
      { check: 'sql.p99-response-time' },
      { setting: 'checks.sqlMetrics.1.warn', is: 2000 },
      { setting: 'checks.http.0.degradedMs', is: 2000 },
      { check: 'sql.failed-email-rate' },
      { setting: 'checks.sqlMetrics.2.warn', is: 10 },
    ],
  },
  {
    item: 'RTO / RPO table',
    kind: 'heartbeat + pushed dump size (baseline)',
    by: [
      { heartbeat: 'db-backup', rpoSeconds: 3600 },
      { check: 'heartbeat.db-backup.backup_bytes' },
      { heartbeat: 'offsite-backup', rpoSeconds: 86_400 },
      { check: 'heartbeat.offsite-backup.backup_bytes' },
    ],
  },
];

const RESEND = 'Bearer re_test_0123456789abcdef';
const url = new URL(REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379) };

describe('LegacyVideo example (examples/legacyvideo.config.ts, runbook 003)', () => {
  let s: Scenario;
  let internet: Internet;
  const closers: Array<() => Promise<unknown>> = [];
  let config: OpsbookConfig;
  let runs: Map<string, ChecklistRun>;
  const base = scenarioBase();
  const monthlyAt = plus(base, hours(10));

  beforeAll(async () => {
    s = await openScenario();
    internet = await startInternet({
      'api.legacyvideo.example.com/health': { json: { status: 'ok', timestamp: base.toISOString() } },
      'legacyvideo.example.com': { text: '<!doctype html><title>LegacyVideo</title>' },
      'api.resend.com/domains': (req) =>
        req.headers.authorization === RESEND
          ? { json: { object: 'list', data: [{ id: 'd91cd9bd', name: 'legacyvideo.example.com', status: 'verified', region: 'us-east-1' }] } }
          : { status: 401, json: { name: 'missing_api_key' } },
    });
    closers.push(() => internet.close());
    config = parseConfig(localize(example, { internet: internet.url, queuePrefix: s.prefix }));

    await s.admin.query(`
      CREATE TABLE users (id text PRIMARY KEY, email text NOT NULL UNIQUE, role text NOT NULL DEFAULT 'USER', locked boolean NOT NULL DEFAULT false);
      CREATE TABLE audit_logs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, actor text, action text NOT NULL);
      CREATE TABLE request_logs (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, status int NOT NULL, duration_ms int NOT NULL);
      CREATE TABLE email_deliveries (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, to_address text NOT NULL, status text NOT NULL);
      INSERT INTO users (id, email) SELECT 'user-' || g, 'viewer' || g || '@example.com' FROM generate_series(1, 12) g;

      -- Last hour: 400 requests, 2 answered 500 (0.5 %: under the 1 % warning); two slow ones do not move p99.
      INSERT INTO request_logs (created_at, status, duration_ms)
        SELECT now() - (g * 8 || ' seconds')::interval, CASE WHEN g IN (100, 300) THEN 500 ELSE 200 END, CASE WHEN g IN (7, 9) THEN 2500 ELSE 120 END
        FROM generate_series(1, 400) g;
      -- Last 24 h: 20 emails, 3 failed or bounced (15 %: over the 10 % warning).
      INSERT INTO email_deliveries (created_at, to_address, status)
        SELECT now() - (g || ' hours')::interval, 'viewer' || g || '@example.com', CASE WHEN g <= 2 THEN 'failed' WHEN g = 3 THEN 'bounced' ELSE 'sent' END
        FROM generate_series(1, 20) g;`);
    await s.admin.query(
      `INSERT INTO audit_logs (created_at, actor, action) SELECT $1::timestamptz - interval '400 days', 'admin', 'users.lock' FROM generate_series(1, 4);
       INSERT INTO audit_logs (created_at, actor, action) SELECT $1::timestamptz - interval '30 days', 'admin', 'users.lock' FROM generate_series(1, 6);`.replace(
        /\$1/g,
        `'${monthlyAt.toISOString()}'`,
      ),
    );

    // The worker's queues (real BullMQ): `email` processed by a worker that fails the two bounced sends,
    // `release-process` with two jobs and no worker at all (the intended stuck queue).
    const email = new Queue('email', { connection, prefix: s.prefix });
    const release = new Queue('release-process', { connection, prefix: s.prefix });
    closers.push(() => email.close(), () => release.close());
    await email.addBulk(Array.from({ length: 8 }, (_, i) => ({ name: 'send', data: { to: `viewer${i}@example.com`, bounce: i < 2 }, opts: { attempts: 1 } })));
    await new Promise<void>((resolve) => {
      let settled = 0;
      const worker = new Worker(
        'email',
        async (job) => {
          if (job.data.bounce) throw new Error('Resend: 422 invalid recipient');
          return 'sent';
        },
        { connection, prefix: s.prefix },
      );
      worker.on('error', () => undefined);
      const done = () => ++settled === 8 && resolve();
      worker.on('completed', done);
      worker.on('failed', done);
      closers.push(() => worker.close());
    });
    await release.addBulk([
      { name: 'release', data: { videoId: 'v-1' } },
      { name: 'release', data: { videoId: 'v-2' } },
    ]);

    vi.stubEnv('RESEND_API_AUTHORIZATION', RESEND);

    // The hourly backup succeeded at 06:00 (a 312 MB dump) and has failed every hour since (exit code 1,
    // pg_dump leaving an empty file): past its 1 h RPO, and its size under the floor. The daily off-site
    // dump runs at 01:00. Each job pings with its exit code and the dump's size.
    runs = await runEveryChecklist(s, config, base, async (now) => {
      const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      await ping(s.deps, config, 'offsite-backup', plus(day, hours(1)), '0', { backup_bytes: 318_767_104 });
      if (day.getTime() === base.getTime() && now.getTime() === plus(base, hours(9)).getTime()) {
        await ping(s.deps, config, 'db-backup', plus(day, hours(6)), '0', { backup_bytes: 312_475_648 });
        await ping(s.deps, config, 'db-backup', plus(day, hours(7)), '1', { backup_bytes: 0 });
        await ping(s.deps, config, 'db-backup', plus(day, hours(8)), '1', { backup_bytes: 0 });
      }
    });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await s?.close();
  });

  it('parses, and every checklist item names a check that exists', () => {
    expect(referenceProblems(parseConfig(example))).toEqual([]);
  });

  it('covers every COVERAGE.md item of runbook 003 with a config entry that exists and runs', () => {
    expect(coverageProblems(parseConfig(example), COVERAGE)).toEqual([]);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('maps the lock action to the users.locked column the database has', async () => {
    const { rows } = await s.admin.query(`SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND column_name = $1`, [config.app.users!.columns.locked]);
    expect(rows).toEqual([{ data_type: 'boolean' }]);
  });

  it('runs every checklist on its due day: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    expect([...runs.keys()].sort()).toEqual(['daily', 'monthly', 'quarterly', 'weekly']);
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(internet.unknown).toEqual([]);
  });

  it('daily: API, web, database and Redis are up; the release-process queue with no worker is stuck; the email queue’s failures are counted', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:http.api-health', 'check:http.web', 'check:queues.backlog', 'check:queues.stuck', 'check:queues.failed'])).toEqual({
      'check:http.api-health': 'ok',
      'check:http.web': 'ok',
      'check:queues.backlog': 'ok',
      'check:queues.stuck': 'fail',
      'check:queues.failed': 'ok',
    });
    // Postgres and Redis answer; ok or warn depends on the whole server's connections and on Redis latency
    // (over 100 ms warns), not on this scenario.
    expect(['ok', 'warn']).toContain(daily.items.get('check:postgres.connections')!.status);
    expect(daily.items.get('check:redis.ping')!.summary).toMatch(/^PONG in /);
    expect(daily.items.get('check:queues.backlog')!.summary).toBe('2 queue(s): 2 waiting, 0 active, 0 prioritized, 0 delayed, 2 failed');
    expect(daily.items.get('check:queues.stuck')!.summary).toMatch(/^1 stuck queue\(s\): release-process: 2 job\(s\) ready/);
  });

  it('daily: the runbook’s alert thresholds grade the metrics: 0.5 % errors ok, p99 ok, 15 % failed email warns; Resend’s domain is verified', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:sql.error-rate', 'check:sql.p99-response-time', 'check:sql.failed-email-rate', 'check:http.resend-domain'])).toEqual({
      'check:sql.error-rate': 'ok',
      'check:sql.p99-response-time': 'ok',
      'check:sql.failed-email-rate': 'warn',
      'check:http.resend-domain': 'ok',
    });
    expect(daily.items.get('check:sql.failed-email-rate')!.summary).toBe('15 %: above the warn threshold 10');
    for (const run of runs.values()) expect(run.result.text).not.toContain('re_test_');
  });

  it('the hourly backup failing since 06:00 is past its 1 h RPO; the off-site dump is within its 24 h RPO', () => {
    const daily = runs.get('daily')!;
    expect(daily.items.get('check:heartbeat.db-backup')).toMatchObject({
      status: 'fail',
      summary: 'RPO of 1 h 0 min exceeded (last backup 3 h 0 min ago); down: the last run failed (exit code 1) 1 h 0 min ago; last success 3 h 0 min ago',
    });
    expect(statuses(runs.get('weekly')!, ['check:heartbeat.db-backup', 'check:heartbeat.offsite-backup', 'check:queues.failed'])).toEqual({
      'check:heartbeat.db-backup': 'fail',
      'check:heartbeat.offsite-backup': 'ok',
      'check:queues.failed': 'ok',
    });
    expect(runs.get('quarterly')!.items.get('check:heartbeat.offsite-backup')!.status).toBe('ok');
    const failing = section(daily.result.text, 'FAILING (3)');
    expect(failing).toContain('(heartbeat.db-backup)');
    expect(failing).toContain('(heartbeat.db-backup.backup_bytes)');
    expect(failing).toContain('(queues.stuck)');
  });

  it("the backups' pushed sizes are checks: the hourly job's empty dump fails under the 1 MB floor, the 319 MB off-site dump is ok", () => {
    const daily = runs.get('daily')!;
    expect(daily.items.get('check:heartbeat.db-backup.backup_bytes')).toMatchObject({
      status: 'fail',
      summary: 'backup_bytes 0 bytes (fail below 1000000), reported 1 h 0 min ago; baseline: not enough history yet (0 of 3 stored runs)',
    });
    expect(statuses(runs.get('weekly')!, ['check:heartbeat.db-backup.backup_bytes', 'check:heartbeat.offsite-backup.backup_bytes'])).toEqual({
      'check:heartbeat.db-backup.backup_bytes': 'fail',
      'check:heartbeat.offsite-backup.backup_bytes': 'ok',
    });
    expect(runs.get('weekly')!.items.get('check:heartbeat.offsite-backup.backup_bytes')!.summary).toMatch(/^backup_bytes 318767104 bytes \(fail below 1000000\), reported 8 h 0 min ago; baseline: /);
    // The quarterly run's baseline for the off-site dump is the weekly run's, an hour before: unchanged.
    expect(runs.get('quarterly')!.items.get('check:heartbeat.offsite-backup.backup_bytes')).toMatchObject({
      status: 'ok',
      summary: 'backup_bytes 318767104 bytes (fail below 1000000), reported 9 h 0 min ago; 0 % above the previous run (318767104)',
    });
  });

  it('monthly: audit logs older than a year are deleted in audited batches, newer ones kept; VACUUM ANALYZE runs', async () => {
    const monthly = runs.get('monthly')!;
    expect(statuses(monthly, ['task:0:retention-delete', 'task:1:vacuum-analyze', 'task:2:prune-history'])).toEqual({
      'task:0:retention-delete': 'ok',
      'task:1:vacuum-analyze': 'ok',
      'task:2:prune-history': 'ok',
    });
    const { rows } = await s.admin.query<{ n: number; oldest: Date }>('SELECT count(*)::int AS n, min(created_at) AS oldest FROM audit_logs');
    expect(rows[0]!.n).toBe(6);
    expect(rows[0]!.oldest.getTime()).toBe(monthlyAt.getTime() - days(30));
    expect(monthly.result.text).toContain('last done 2024-01-17');
  });
});
