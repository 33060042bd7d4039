import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/bunty.config.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { createCertFactory, type CertFactory } from '../support/net/certs.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import { days, hours, openScenario, ping, plus, runEveryChecklist, runProblems, scenarioBase, section, statuses, type ChecklistRun, type Scenario } from './support/scenario.js';
import { localize, offMachineTargets, startInternet, startTls, statusJson, type Internet } from './support/world.js';

/** Runbook 004 (Bunty ZKP), COVERAGE.md item by item, and where examples/bunty.config.ts covers it. */
const COVERAGE: CoverageRow[] = [
  { item: '`/health` with `services.database/redis/midnight` = `connected`', kind: 'check', by: [{ check: 'http.api-health' }] },
  {
    item: 'pm2 status, top, df, restart, rollback',
    kind: 'pushed host metrics + manual',
    by: [
      { check: 'heartbeat.droplet.pm2_not_online' },
      { check: 'heartbeat.droplet.mem_used_pct' },
      { check: 'heartbeat.droplet.load1' },
      { check: 'heartbeat.droplet.disk_used_pct' },
      { manual: /pm2 restart bunty-backend; .* roll back/ },
    ],
  },
  {
    item: 'connections by state, long-running queries, terminate a pid',
    kind: 'check + action',
    by: [{ check: 'postgres.connections' }, { check: 'postgres.long-running' }, { action: 'db/terminate pid' }],
  },
  {
    item: 'external APIs: status pages (Plaid, Stripe, Sila), credentials, connectivity',
    kind: 'check',
    by: [
      { check: 'statuspage.plaid' },
      { check: 'statuspage.stripe' },
      { check: 'statuspage.sila' },
      { env: 'PLAID_CLIENT_ID' },
      { env: 'PLAID_SECRET' },
      { env: 'STRIPE_SECRET_KEY' },
      { env: 'SILA_APP_HANDLE' },
      { check: 'http.plaid-api' },
      { check: 'http.stripe-api' },
    ],
  },
  { item: 'fallback mode `PLAID_ENABLED=false`', kind: 'action', by: [{ action: 'feature flags (PLAID_ENABLED)' }] },
  {
    item: 'slow queries, Redis `info stats`, `slowlog get 10`, FLUSHDB',
    kind: 'check + action',
    by: [{ check: 'postgres.slow-queries' }, { check: 'redis.hit-rate' }, { check: 'redis.slowlog' }, { action: 'cache/flush (with confirmation)' }],
  },
  {
    item: 'API key / JWT secret rotation',
    kind: 'manual, with last-rotation dates',
    by: [{ manual: /^Rotate the Plaid secret/ }, { manual: /^Rotate the Stripe secret key/ }, { manual: /^Rotate JWT_SECRET/ }],
  },
  {
    item: 'ANALYZE, VACUUM ANALYZE, REINDEX, backups',
    kind: 'task / action / heartbeat',
    by: [{ task: 'analyze', in: 'monthly' }, { task: 'vacuum-analyze', in: 'monthly' }, { action: 'db/reindex' }, { manual: /REINDEX DATABASE bunty_prod/ }, { heartbeat: 'db-backup' }],
  },
  { item: 'certbot expiry', kind: 'check', by: [{ check: 'tls.api-cert' }, { check: 'tls.frontend-cert' }] },
  { item: 'DB health: total / active / idle connections, database size', kind: 'check', by: [{ check: 'postgres.connections' }, { check: 'postgres.database-size' }] },
  { item: 'Redis memory, connected clients', kind: 'check', by: [{ check: 'redis.memory' }, { check: 'redis.clients' }] },
  { item: 'emergency shutdown / maintenance page', kind: 'action', by: [{ action: 'maintenance mode (the app reads it)' }] },
  { item: 'post-mortem template', kind: 'incident record', by: [{ action: 'incident record from the audit log and diagnostics snapshots' }] },
];

const ENV = {
  PLAID_CLIENT_ID: 'plaid-client-test-0123',
  PLAID_SECRET: 'plaid-secret-test-0123456789',
  STRIPE_SECRET_KEY: 'sk_test_0123456789abcdef',
  STRIPE_API_AUTHORIZATION: 'Bearer sk_test_0123456789abcdef',
  SILA_APP_HANDLE: 'bunty.silamoney.eth',
  SILA_PRIVATE_KEY: 'sila-private-key-test-0123456789',
  JWT_SECRET: 'jwt-secret-test-0123456789abcdef',
};

describe('Bunty ZKP example (examples/bunty.config.ts, runbook 004)', () => {
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
    internet = await startInternet({
      'api.bunty.io/health': {
        json: { status: 'healthy', timestamp: base.toISOString(), services: { database: 'connected', redis: 'connected', midnight: 'connected' } },
      },
      'bunty.io': { text: '<!doctype html><title>Bunty</title>' },
      'production.plaid.com/institutions/get': (req) =>
        req.method === 'POST' && req.headers['plaid-client-id'] === ENV.PLAID_CLIENT_ID && req.headers['plaid-secret'] === ENV.PLAID_SECRET
          ? { json: { institutions: [{ institution_id: 'ins_109508', name: 'First Platypus Bank' }], total: 1, request_id: 'req-1' } }
          : { status: 400, json: { error_code: 'INVALID_API_KEYS' } },
      'api.stripe.com/v1/balance': (req) =>
        req.headers.authorization === ENV.STRIPE_API_AUTHORIZATION
          ? { json: { object: 'balance', available: [{ amount: 0, currency: 'usd' }], livemode: false } }
          : { status: 401, json: { error: { type: 'invalid_request_error' } } },
      'status.plaid.com/api/v2/status.json': statusJson('Plaid', 'none', 'All Systems Operational'),
      'status.stripe.com/api/v2/status.json': statusJson('Stripe', 'none', 'All Systems Operational'),
      // The intended failure: Sila has a major outage.
      'status.silamoney.com/api/v2/status.json': statusJson('Sila', 'major', 'Partial System Outage'),
      'status.silamoney.com/api/v2/summary.json': {
        json: {
          components: [{ name: 'ACH transfers', status: 'major_outage', group: false }, { name: 'KYC', status: 'operational', group: false }],
          incidents: [{ name: 'Delayed ACH settlements', status: 'investigating', impact: 'major' }],
          scheduled_maintenances: [],
        },
      },
    });
    // certbot stopped renewing api.bunty.io: 10 days left on the first Monday (a warning); bunty.io is fine.
    const notBefore = new Date(Date.now() - days(1));
    const apiTls = await startTls(certs, { notBefore, notAfter: plus(base, days(10)) });
    const siteTls = await startTls(certs, { notBefore, notAfter: plus(base, days(80)) });
    closers.push(() => internet.close(), () => apiTls.close(), () => siteTls.close());
    config = parseConfig(
      localize(example, {
        internet: internet.url,
        tls: (t) => ({ port: t.id === 'api-cert' ? apiTls.port : siteTls.port, ca: certs.ca.cert }),
        queuePrefix: s.prefix,
      }),
    );

    await s.admin.query(`
      CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE proofs (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users (id), kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO users (email) SELECT 'holder' || g || '@example.com' FROM generate_series(1, 50) g;
      INSERT INTO proofs (user_id, kind) SELECT 1 + g % 50, 'income' FROM generate_series(1, 500) g;
      DELETE FROM proofs WHERE id % 3 = 0;`);

    for (const [name, value] of Object.entries(ENV)) vi.stubEnv(name, value);

    // The nightly backup (cron 02:30) pings at 02:40.
    runs = await runEveryChecklist(s, config, base, async (now) => {
      const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      await ping(s.deps, config, 'db-backup', plus(day, hours(2) + 40 * 60_000), '0');
      // The host agent's latest push, a minute before the run: the disk is filling (85 %: warn).
      await ping(s.deps, config, 'droplet', new Date(now.getTime() - 60_000), undefined, { disk_used_pct: 85, mem_used_pct: 61.5, load1: 0.7, pm2_not_online: 0 });
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

  it('covers every COVERAGE.md item of runbook 004 with a config entry that exists and runs', () => {
    expect(coverageProblems(parseConfig(example), COVERAGE)).toEqual([]);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('runs every checklist on its due day: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    expect([...runs.keys()].sort()).toEqual(['daily', 'monthly', 'quarterly', 'weekly']);
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(internet.unknown).toEqual([]);
  });

  it('daily: /health reports every service connected; Plaid and Stripe answer with our credentials, sent from the environment and never printed', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:http.api-health', 'check:http.frontend', 'check:http.plaid-api', 'check:http.stripe-api', 'check:env.required'])).toEqual({
      'check:http.api-health': 'ok',
      'check:http.frontend': 'ok',
      'check:http.plaid-api': 'ok',
      'check:http.stripe-api': 'ok',
      'check:env.required': 'ok',
    });
    const plaid = internet.received.find((r) => r.route === 'production.plaid.com/institutions/get')!;
    expect(plaid.headers['content-type']).toBe('application/json');
    expect(JSON.parse(plaid.body)).toEqual({ count: 1, offset: 0, country_codes: ['US'] });
    for (const run of runs.values()) for (const secret of Object.values(ENV)) expect(run.result.text).not.toContain(secret);
  });

  it('daily: a major Sila outage fails its status page check with the affected component; Plaid and Stripe are operational', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:statuspage.plaid', 'check:statuspage.stripe', 'check:statuspage.sila'])).toEqual({
      'check:statuspage.plaid': 'ok',
      'check:statuspage.stripe': 'ok',
      'check:statuspage.sila': 'fail',
    });
    expect(daily.items.get('check:statuspage.sila')!.summary).toBe('Sila: Partial System Outage (major)');
    const failing = section(daily.result.text, 'FAILING (1)');
    expect(failing).toContain('(statuspage.sila)');
    expect(daily.result.text).toContain('ACH transfers');
  });

  it('daily: database and Redis health (connections, long-running queries, memory, clients) and the nightly backup are reported', () => {
    const daily = runs.get('daily')!;
    for (const key of ['check:postgres.connections', 'check:postgres.long-running', 'check:redis.ping', 'check:redis.memory', 'check:redis.clients']) {
      expect(['ok', 'warn'], key).toContain(daily.items.get(key)!.status);
    }
    expect(daily.items.get('check:heartbeat.db-backup')!.status).toBe('ok');
  });

  it("daily: the droplet's pushed figures are checks (pm2 all online, memory fine) and the filling disk warns", () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:heartbeat.droplet', 'check:heartbeat.droplet.pm2_not_online', 'check:heartbeat.droplet.mem_used_pct', 'check:heartbeat.droplet.disk_used_pct'])).toEqual({
      'check:heartbeat.droplet': 'ok',
      'check:heartbeat.droplet.pm2_not_online': 'ok',
      'check:heartbeat.droplet.mem_used_pct': 'ok',
      'check:heartbeat.droplet.disk_used_pct': 'warn',
    });
    expect(daily.items.get('check:heartbeat.droplet.disk_used_pct')!.summary).toMatch(/^disk_used_pct 85 % \(warn above 80, fail above 90\), reported 1 min 0 s ago$/);
  });

  it('monthly: ANALYZE and VACUUM ANALYZE run; the certificate certbot stopped renewing warns with 10 days left', () => {
    const monthly = runs.get('monthly')!;
    expect(statuses(monthly, ['task:0:analyze', 'task:1:vacuum-analyze', 'task:2:prune-history', 'check:tls.api-cert', 'check:tls.frontend-cert'])).toEqual({
      'task:0:analyze': 'ok',
      'task:1:vacuum-analyze': 'ok',
      'task:2:prune-history': 'ok',
      'check:tls.api-cert': 'warn',
      'check:tls.frontend-cert': 'ok',
    });
    expect(monthly.items.get('check:tls.api-cert')!.summary).toMatch(/^certificate expires in 9 days/);
  });

  it('quarterly: the DR drill and the Plaid, Stripe and JWT rotations, each with its last-done date', () => {
    const quarterly = runs.get('quarterly')!;
    expect(quarterly.items.size).toBe(0);
    expect(quarterly.result.text.match(/last done 2024-01-15/g)).toHaveLength(3);
  });
});
