import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/vivim.config.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { closedPort } from '../support/faults.js';
import { createCertFactory, type CertFactory } from '../support/net/certs.js';
import { REDIS_URL } from '../support/services.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import { days, flat, hours, openScenario, ping, plus, runEveryChecklist, runProblems, scenarioBase, section, statuses, type ChecklistRun, type Scenario } from './support/scenario.js';
import { localize, offMachineTargets, startInternet, startTcpListener, startTls, type Internet } from './support/world.js';

/**
 * Runbook 000 (VIVIM), COVERAGE.md item by item, and where examples/vivim.config.ts covers it.
 * Actions are admin endpoints: the config only has to say how the app's tables are named.
 */
const COVERAGE: CoverageRow[] = [
  { item: 'migrations (db push / migrate deploy)', kind: 'manual', by: [{ manual: /prisma migrate deploy/ }] },
  {
    item: 'pg_dump backup / restore',
    kind: 'heartbeat `db-backup` + pushed dump size (baseline) + manual',
    by: [{ heartbeat: 'db-backup' }, { check: 'heartbeat.db-backup.backup_bytes' }, { manual: /pg_restore/ }],
  },
  {
    item: 'restart server, log levels',
    kind: 'pushed host metric (pm2) + manual',
    by: [{ check: 'heartbeat.server.pm2_not_online' }, { manual: /pm2 restart vivim-server/ }, { manual: /LOG_LEVEL/ }],
  },
  {
    item: 'high memory: stuck sync / extraction pipelines',
    kind: 'check + pushed host metric',
    by: [{ check: 'queues.backlog' }, { check: 'queues.stuck' }, { check: 'heartbeat.server.mem_used_pct' }],
  },
  {
    item: 'Redis cache failure, `redis-cli ping`, REDIS_URL correct',
    kind: 'check',
    // /api/health keeps Redis out of HEALTH_CRITICAL (default "database"): a Redis outage is `degraded`.
    by: [{ check: 'redis.ping' }, { env: 'REDIS_URL' }],
  },
  { item: 'libp2p bootstrap nodes reachable, port open', kind: 'check', by: [{ check: 'tcp.bootstrap-1' }, { check: 'tcp.bootstrap-2' }] },
  { item: 'TLS certificates valid', kind: 'check', by: [{ check: 'tls.bootstrap-1-wss' }, { check: 'tls.bootstrap-2-wss' }] },
  { item: 'revoke API key (`DELETE FROM api_keys WHERE id`)', kind: 'action', by: [{ action: 'api-keys/revoke' }, { app: 'apiKeys.table', is: 'api_keys' }] },
  {
    item: 'suspend account (`status=\'SUSPENDED\'`, `"suspendedAt"`, `"suspensionReason"`)',
    kind: 'action',
    by: [
      { action: 'users/suspend' },
      { app: 'users.columns.status', is: 'status' },
      { app: 'users.columns.suspendedAt', is: 'suspendedAt' },
      { app: 'users.columns.suspensionReason', is: 'suspensionReason' },
    ],
  },
];

const url = new URL(REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379) };

describe('VIVIM example (examples/vivim.config.ts, runbook 000)', () => {
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
    internet = await startInternet({});
    const tls = await startTls(certs, { notBefore: new Date(Date.now() - days(1)), notAfter: plus(base, days(90)) });
    const bootstrap1 = await startTcpListener();
    const bootstrap2 = await closedPort(); // the intended failure: nothing listens on bootstrap-2's libp2p port
    closers.push(() => internet.close(), () => tls.close(), () => bootstrap1.close());
    config = parseConfig(
      localize(example, {
        internet: internet.url,
        tls: () => ({ port: tls.port, ca: certs.ca.cert }),
        tcp: (t) => (t.id === 'bootstrap-1' ? bootstrap1.port : bootstrap2),
        queuePrefix: s.prefix,
      }),
    );

    // The app's tables, as Prisma creates them (camelCase columns quoted).
    await s.admin.query(`
      CREATE TABLE users (id text PRIMARY KEY, email text NOT NULL UNIQUE, status text NOT NULL DEFAULT 'ACTIVE',
                          "suspendedAt" timestamptz, "suspensionReason" text, "createdAt" timestamptz NOT NULL DEFAULT now());
      CREATE TABLE api_keys (id text PRIMARY KEY, "userId" text NOT NULL REFERENCES users (id), "keyHash" text NOT NULL,
                             "createdAt" timestamptz NOT NULL DEFAULT now());
      INSERT INTO users (id, email) SELECT 'u' || g, 'user' || g || '@example.com' FROM generate_series(1, 20) g;
      INSERT INTO api_keys (id, "userId", "keyHash") SELECT 'k' || g, 'u' || g, md5(g::text) FROM generate_series(1, 5) g;`);

    // The CRDT sync and memory-extraction pipelines: real BullMQ queues whose worker keeps up.
    for (const [name, n] of [['crdt-sync', 3], ['memory-extraction', 2]] as const) {
      const queue = new Queue(name, { connection, prefix: s.prefix });
      await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'job', data: { i } })));
      let done = 0;
      const finished = new Promise<void>((resolve) => {
        const worker = new Worker(name, async () => 'ok', { connection, prefix: s.prefix });
        worker.on('completed', () => {
          if (++done === n) resolve();
        });
        closers.push(() => worker.close());
      });
      await finished;
      closers.push(() => queue.close());
    }

    vi.stubEnv('DATABASE_URL', s.harness.database!.url);
    vi.stubEnv('REDIS_URL', REDIS_URL);

    // The host's backup cron runs pg_dump at 02:00 every night and pings when it finishes, with the dump's
    // size. examples/host-agent.sh pushes memory and pm2 every five minutes: its latest push, a minute
    // before the run, finds vivim-server errored in pm2 (the intended metric failure) and memory normal.
    runs = await runEveryChecklist(s, config, base, async (now) => {
      const night = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), 2, 5));
      await ping(s.deps, config, 'db-backup', night, '0', { backup_bytes: 184_320_512 });
      await ping(s.deps, config, 'server', new Date(now.getTime() - 60_000), undefined, { mem_used_pct: 58.3, pm2_not_online: 1 });
    });
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
    expect(parsed.service).toBe('VIVIM');
    expect(parsed.checklists.map((c) => [c.id, c.schedule.type])).toEqual([
      ['daily', 'daily'],
      ['weekly', 'weekly'],
    ]);
  });

  it('covers every COVERAGE.md item of runbook 000 with a config entry that exists and runs', () => {
    expect(coverageProblems(parseConfig(example), COVERAGE)).toEqual([]);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('maps users and api_keys to the camelCase columns the Prisma schema really has', async () => {
    const { rows } = await s.admin.query<{ t: string; c: string }>(
      `SELECT table_name AS t, column_name AS c FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const has = (t: string, c: string) => rows.some((r) => r.t === t && r.c === c);
    const users = config.app.users!;
    for (const column of Object.values(users.columns)) expect(has(users.table, column!), `users.${column}`).toBe(true);
    const keys = config.app.apiKeys!;
    for (const column of Object.values(keys.columns)) expect(has(keys.table, column!), `api_keys.${column}`).toBe(true);
  });

  it('runs every checklist on its due day: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    expect([...runs.keys()].sort()).toEqual(['daily', 'weekly']);
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(s.outboxFiles().filter((f) => f.endsWith('.json'))).toHaveLength(2);
    expect(internet.unknown).toEqual([]);
  });

  it('a bootstrap node refusing connections fails tcp.bootstrap-2 and leads the report with the errored pm2 process; the reachable node and both certificates are ok', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:tcp.bootstrap-1', 'check:tcp.bootstrap-2', 'check:tls.bootstrap-1-wss', 'check:tls.bootstrap-2-wss'])).toEqual({
      'check:tcp.bootstrap-1': 'ok',
      'check:tcp.bootstrap-2': 'fail',
      'check:tls.bootstrap-1-wss': 'ok',
      'check:tls.bootstrap-2-wss': 'ok',
    });
    expect(daily.items.get('check:tcp.bootstrap-2')!.summary).toMatch(/refused/i);
    // The first failing run is `degraded`: the alert waits for a second one (alerts.alertAfter, default 2).
    expect(daily.result.transitions.newFailures).toEqual([]);
    expect(flat(daily.result.text)).toContain('Degraded, not alerted yet: tcp.bootstrap-2 (1 of 2 failing runs), heartbeat.server.pm2_not_online (1 of 2 failing runs)');
    const failing = section(daily.result.text, 'FAILING (2)');
    expect(failing).toContain('(tcp.bootstrap-2)');
    expect(failing).toContain('(heartbeat.server.pm2_not_online)');
  });

  it('pipelines whose worker keeps up are neither backlogged nor stuck; the nightly pg_dump heartbeat is up; REDIS_URL is set and Redis answers', () => {
    const daily = runs.get('daily')!;
    expect(statuses(daily, ['check:queues.backlog', 'check:queues.stuck', 'check:queues.failed', 'check:heartbeat.db-backup', 'check:env.required'])).toEqual({
      'check:queues.backlog': 'ok',
      'check:queues.stuck': 'ok',
      'check:queues.failed': 'ok',
      'check:heartbeat.db-backup': 'ok',
      'check:env.required': 'ok',
    });
    expect(daily.items.get('check:queues.backlog')!.summary).toMatch(/^2 queue\(s\)/);
    // Redis answers; ok or warn depends on how fast (latency over 100 ms warns), not on the scenario.
    expect(daily.items.get('check:redis.ping')!.summary).toMatch(/^PONG in /);
  });

  it("the server's pushed figures are checks: vivim-server errored in pm2 fails, memory is fine; the dump's size is graded", () => {
    const daily = runs.get('daily')!;
    expect(
      statuses(daily, ['check:heartbeat.server', 'check:heartbeat.server.pm2_not_online', 'check:heartbeat.server.mem_used_pct', 'check:heartbeat.db-backup.backup_bytes']),
    ).toEqual({
      'check:heartbeat.server': 'ok',
      'check:heartbeat.server.pm2_not_online': 'fail',
      'check:heartbeat.server.mem_used_pct': 'ok',
      'check:heartbeat.db-backup.backup_bytes': 'ok',
    });
    expect(daily.items.get('check:heartbeat.server.pm2_not_online')!.summary).toBe('pm2_not_online 1 (fail above 0), reported 1 min 0 s ago');
    expect(daily.items.get('check:heartbeat.server.mem_used_pct')!.summary).toBe('mem_used_pct 58.3 % (warn above 85, fail above 95), reported 1 min 0 s ago');
    // The baseline ("dropped more than 50 %" against the 7-day median) waits for three stored runs.
    expect(daily.items.get('check:heartbeat.db-backup.backup_bytes')!.summary).toMatch(
      /^backup_bytes 184320512 bytes \(fail below 1000000\), reported 5 h 55 min ago; baseline: not enough history yet \(0 of 3 stored runs\)$/,
    );
  });

  it('the weekly run prunes Opsbook history and lists the migration, restore-test and log-level to-dos', () => {
    const weekly = runs.get('weekly')!;
    expect(weekly.now.toISOString()).toBe(plus(base, hours(10)).toISOString());
    expect(weekly.items.get('task:0:prune-history')!.status).toBe('ok');
    expect(weekly.result.counts.manual).toBe(3);
  });
});
