import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/vividwalls.config.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { createCertFactory, type CertFactory } from '../support/net/certs.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import { days, hours, openScenario, ping, plus, runEveryChecklist, runProblems, scenarioBase, section, statuses, type ChecklistRun, type Scenario } from './support/scenario.js';
import { localize, offMachineTargets, startInternet, startTls, type Internet } from './support/world.js';

/** Runbook 002 (VividWalls MAS), COVERAGE.md item by item, and where examples/vividwalls.config.ts covers it. */
const COVERAGE: CoverageRow[] = [
  { item: 'morning diagnostics, all services accessible', kind: 'check', by: [{ check: 'http.site' }, { check: 'http.n8n' }] },
  {
    item: 'overnight alerts log, container stats, log rotation, docker prune',
    kind: 'pushed host metrics, manual, or heartbeat',
    by: [
      { manual: /alerts\.log/ },
      { manual: /docker stats/ },
      { check: 'heartbeat.droplet.docker_not_running' },
      { check: 'heartbeat.droplet.disk_used_pct' },
      { check: 'heartbeat.droplet.mem_used_pct' },
      { manual: /log rotation/ },
      { manual: /docker system prune/ },
      { heartbeat: 'daily-maintenance' },
    ],
  },
  { item: 'daily database vacuum', kind: 'task', by: [{ task: 'vacuum-analyze', in: 'morning' }] },
  {
    item: 'backup verification (daily DB + workflows, weekly config, monthly full)',
    kind: 'heartbeat',
    by: [{ heartbeat: 'db-backup' }, { heartbeat: 'workflows-backup' }, { heartbeat: 'config-backup' }, { heartbeat: 'full-backup' }],
  },
  { item: 'failed workflows, workflow statistics', kind: 'check', by: [{ check: 'http.n8n-failed-executions' }, { check: 'http.n8n-active-workflows' }] },
  {
    item: 'Monday / Wednesday / Friday items; first..fourth Monday of the month',
    kind: 'schedules',
    by: [
      { schedule: { type: 'weekly', days: ['mon'], at: '09:00' } },
      { schedule: { type: 'weekly', days: ['wed'], at: '09:00' } },
      { schedule: { type: 'weekly', days: ['fri'], at: '09:00' } },
      { schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' } },
      { schedule: { type: 'nth-weekday', nth: 2, weekday: 'mon', at: '10:00' } },
      { schedule: { type: 'nth-weekday', nth: 3, weekday: 'mon', at: '10:00' } },
      { schedule: { type: 'nth-weekday', nth: 4, weekday: 'mon', at: '10:00' } },
    ],
  },
  { item: 'monthly VACUUM ANALYZE, REINDEX', kind: 'task / action', by: [{ task: 'vacuum-analyze', in: 'first-monday' }, { action: 'db/reindex' }, { manual: /REINDEX DATABASE postgres/ }] },
  { item: 'security checklist: SSL monthly, failed logins', kind: 'check', by: [{ check: 'tls.site-cert' }, { check: 'tls.n8n-cert' }, { check: 'sql.failed-logins' }] },
  {
    item: 'SSH logs, package updates, container vulnerabilities',
    kind: 'manual',
    by: [{ manual: /SSH access logs/ }, { manual: /apt update && apt upgrade/ }, { manual: /container vulnerabilities/ }],
  },
  {
    item: 'severity levels P1–P4',
    kind: 'severity',
    by: [
      { setting: 'checks.http.0.severity', is: 'P1' },
      { setting: 'checks.http.1.severity', is: 'P1' },
      { setting: 'checks.http.2.severity', is: 'P2' },
      { setting: 'heartbeats.3.severity', is: 'P3' },
    ],
  },
];

const N8N_KEY = 'n8n-test-api-key-0123456789';

describe('VividWalls MAS example (examples/vividwalls.config.ts, runbook 002)', () => {
  let s: Scenario;
  let internet: Internet;
  let certs: CertFactory;
  const closers: Array<() => Promise<unknown>> = [];
  let config: OpsbookConfig;
  let runs: Map<string, ChecklistRun>;
  const base = scenarioBase();

  beforeAll(async () => {
    s = await openScenario();
    certs = createCertFactory();
    const n8n = (body: unknown) => (req: { headers: Record<string, string | string[] | undefined> }) =>
      req.headers['x-n8n-api-key'] === N8N_KEY ? { json: body } : { status: 401, json: { message: 'unauthorized' } };
    internet = await startInternet({
      'vividwalls.example.com': { text: '<!doctype html><title>VividWalls</title>' },
      'n8n.vividwalls.example.com/healthz': { json: { status: 'ok' } },
      // The intended failure: one workflow execution ended in error overnight.
      'n8n.vividwalls.example.com/api/v1/executions': n8n({
        data: [{ id: '812', workflowId: '7', status: 'error', mode: 'trigger', finished: false, startedAt: '2024-01-15T03:12:00.000Z' }],
        nextCursor: null,
      }),
      'n8n.vividwalls.example.com/api/v1/workflows': n8n({
        data: [
          { id: '7', name: 'Order intake', active: true },
          { id: '9', name: 'Social posts', active: true },
        ],
        nextCursor: null,
      }),
    });
    const tls = await startTls(certs, { notBefore: new Date(Date.now() - days(1)), notAfter: plus(base, days(90)) });
    closers.push(() => internet.close(), () => tls.close());
    config = parseConfig(localize(example, { internet: internet.url, tls: () => ({ port: tls.port, ca: certs.ca.cert }), queuePrefix: s.prefix }));

    // App logins: 30 failures this week (over the warn line of 25), and the normal traffic.
    await s.admin.query(`
      CREATE TABLE auth_events (id bigserial PRIMARY KEY, event text NOT NULL, username text, created_at timestamptz NOT NULL);
      INSERT INTO auth_events (event, username, created_at) SELECT 'login_failed', 'admin', now() - (g || ' hours')::interval FROM generate_series(1, 30) g;
      INSERT INTO auth_events (event, username, created_at) SELECT 'login_ok', 'user' || g, now() - (g || ' minutes')::interval FROM generate_series(1, 100) g;
      INSERT INTO auth_events (event, username, created_at) SELECT 'login_failed', 'admin', now() - interval '30 days' FROM generate_series(1, 50);`);

    vi.stubEnv('N8N_API_KEY', N8N_KEY);

    // The weekly configuration backup last ran ten days before: the intended heartbeat failure on Friday.
    await ping(s.deps, config, 'config-backup', plus(base, -days(10)), '0');
    // The droplet's cron, every night: daily maintenance, database dump, workflow export; the full
    // backup on the first Monday.
    runs = await runEveryChecklist(s, config, base, async (now) => {
      const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      await ping(s.deps, config, 'db-backup', plus(day, hours(2)), '0');
      await ping(s.deps, config, 'workflows-backup', plus(day, hours(2.5)), '0');
      await ping(s.deps, config, 'daily-maintenance', plus(day, hours(3)), '0');
      if (day.getTime() === base.getTime()) await ping(s.deps, config, 'full-backup', plus(day, hours(4)), '0');
      // The host agent's latest push before the run: one container exited (the n8n worker), memory tight.
      await ping(s.deps, config, 'droplet', new Date(now.getTime() - 120_000), undefined, { disk_used_pct: 64, mem_used_pct: 91.2, docker_not_running: 1 });
    });
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    certs?.cleanup();
    await s?.close();
  });

  it('parses, and every checklist item names a check that exists', () => {
    expect(referenceProblems(parseConfig(example))).toEqual([]);
  });

  it('covers every COVERAGE.md item of runbook 002 with a config entry that exists and runs', () => {
    expect(coverageProblems(parseConfig(example), COVERAGE)).toEqual([]);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('runs every checklist on its due day, Monday/Wednesday/Friday and first to fourth Monday included: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    const when = Object.fromEntries([...runs.values()].map((r) => [r.id, r.now.toISOString()]));
    const at = (d: number, h: number) => plus(base, days(d) + hours(h)).toISOString();
    expect(when).toEqual({
      morning: at(0, 8),
      'end-of-day': at(0, 17),
      monday: at(0, 9),
      wednesday: at(2, 9),
      friday: at(4, 9),
      'first-monday': at(0, 10),
      'second-monday': at(7, 10),
      'third-monday': at(14, 10),
      'fourth-monday': at(21, 10),
      quarterly: at(0, 10),
    });
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(internet.unknown).toEqual([]);
  });

  it('a workflow execution in error fails the Monday review and the end-of-day check; the services and active workflows are fine', () => {
    expect(statuses(runs.get('monday')!, ['check:http.n8n-failed-executions', 'check:http.n8n-active-workflows', 'check:heartbeat.workflows-backup'])).toEqual({
      'check:http.n8n-failed-executions': 'fail',
      'check:http.n8n-active-workflows': 'ok',
      'check:heartbeat.workflows-backup': 'ok',
    });
    expect(runs.get('monday')!.items.get('check:http.n8n-failed-executions')!.summary).toBe('body data.length = 1, expected 0');
    const eod = runs.get('end-of-day')!;
    expect(statuses(eod, ['check:http.site', 'check:http.n8n', 'check:http.n8n-failed-executions', 'check:http.n8n-active-workflows'])).toEqual({
      'check:http.site': 'ok',
      'check:http.n8n': 'ok',
      'check:http.n8n-failed-executions': 'fail',
      'check:http.n8n-active-workflows': 'ok',
    });
    for (const run of runs.values()) expect(run.result.text).not.toContain(N8N_KEY);
  });

  it('the morning run checks the services and last night’s jobs, vacuums the database and records a snapshot', () => {
    expect(statuses(runs.get('morning')!, ['check:http.site', 'check:http.n8n', 'check:heartbeat.daily-maintenance', 'check:heartbeat.db-backup', 'check:heartbeat.workflows-backup', 'task:0:vacuum-analyze', 'task:1:snapshot'])).toEqual({
      'check:http.site': 'ok',
      'check:http.n8n': 'ok',
      'check:heartbeat.daily-maintenance': 'ok',
      'check:heartbeat.db-backup': 'ok',
      'check:heartbeat.workflows-backup': 'ok',
      'task:0:vacuum-analyze': 'ok',
      'task:1:snapshot': 'ok',
    });
  });

  it("the morning run grades the droplet's pushed figures: an exited container fails, tight memory warns, the disk is fine", () => {
    expect(statuses(runs.get('morning')!, ['check:heartbeat.droplet.docker_not_running', 'check:heartbeat.droplet.mem_used_pct', 'check:heartbeat.droplet.disk_used_pct'])).toEqual({
      'check:heartbeat.droplet.docker_not_running': 'fail',
      'check:heartbeat.droplet.mem_used_pct': 'warn',
      'check:heartbeat.droplet.disk_used_pct': 'ok',
    });
  });

  it('Friday: the weekly configuration backup, silent for two weeks, is down; 30 failed logins this week warn', () => {
    const friday = runs.get('friday')!;
    expect(statuses(friday, ['check:heartbeat.config-backup', 'check:sql.failed-logins'])).toEqual({
      'check:heartbeat.config-backup': 'fail',
      'check:sql.failed-logins': 'warn',
    });
    expect(friday.items.get('check:sql.failed-logins')!.summary).toBe('30 attempts: above the warn threshold 25');
    expect(section(friday.result.text, 'FAILING (1)')).toContain('(heartbeat.config-backup)');
  });

  it('first to fourth Monday: full backup and VACUUM ANALYZE, certificates and failed logins, sizes, restore-test heartbeats', () => {
    expect(statuses(runs.get('first-monday')!, ['check:heartbeat.full-backup', 'task:0:vacuum-analyze', 'task:1:prune-history', 'check:postgres.invalid-indexes'])).toEqual({
      'check:heartbeat.full-backup': 'ok',
      'task:0:vacuum-analyze': 'ok',
      'task:1:prune-history': 'ok',
      'check:postgres.invalid-indexes': 'ok',
    });
    expect(statuses(runs.get('second-monday')!, ['check:tls.site-cert', 'check:tls.n8n-cert', 'check:sql.failed-logins'])).toEqual({
      'check:tls.site-cert': 'ok',
      'check:tls.n8n-cert': 'ok',
      'check:sql.failed-logins': 'warn',
    });
    expect(statuses(runs.get('third-monday')!, ['check:postgres.database-size', 'check:postgres.largest-tables'])).toEqual({
      'check:postgres.database-size': 'ok',
      'check:postgres.largest-tables': 'ok',
    });
    expect(statuses(runs.get('fourth-monday')!, ['check:heartbeat.db-backup', 'check:heartbeat.workflows-backup'])).toEqual({
      'check:heartbeat.db-backup': 'ok',
      'check:heartbeat.workflows-backup': 'ok',
    });
    expect(runs.get('wednesday')!.items.size).toBe(0);
    expect(runs.get('wednesday')!.result.text).toContain('[ ] apt update && apt upgrade -y on the droplet');
  });
});
