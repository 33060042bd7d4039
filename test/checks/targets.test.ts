import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeDiagnosedDbs } from '../../lib/checks/target.js';
import { selectorMatches, selectorSpecificity } from '../../lib/checks/selector.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { diagnosticsQuery, parseQuery } from '../../lib/diagnostics/query.js';
import { thresholdsFor } from '../../lib/alerts/state.js';
import type { Deps } from '../../lib/deps.js';
import { createPgDb } from '../../lib/db/pg.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { startNeonPeer, type NeonPeer } from '../peers/neon-http.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DEFAULT_LIMITS } from '../support/drivers.js';
import { createTestDatabase, openSession, type TestDatabase } from '../support/pg.js';
import { startPgCluster, startStandby, type PgCluster } from '../support/pg-cluster.js';
import { PG_ADMIN_URL, REDIS_URL, redisUrlFor } from '../support/services.js';

// Variables the configs below name; set per test file, never printed (they are registered as secrets).
const STAGING = 'OPSBOOK_T_STAGING_URL';
const DOWN = 'OPSBOOK_T_DOWN_URL';
const UNSET = 'OPSBOOK_T_UNSET_URL';
const CACHE = 'OPSBOOK_T_CACHE_URL';
const REST_URL = 'OPSBOOK_T_CACHE_REST_URL';
const REST_TOKEN = 'OPSBOOK_T_CACHE_REST_TOKEN';
const REDIS_DOWN = 'OPSBOOK_T_REDIS_DOWN_URL';
const SECRET = 's3cret-target-pw';

describe('selectors name targets: one rule for only, checklists, alert thresholds and windows', () => {
  const cases: Array<[selector: string, id: string, family: string, expected: boolean]> = [
    ['postgres.connections', 'postgres.connections', 'postgres.activity', true],
    ['postgres.connections', 'postgres.connections@staging', 'postgres.activity', true],
    ['postgres.connections@staging', 'postgres.connections@staging', 'postgres.activity', true],
    ['postgres.connections@staging', 'postgres.connections', 'postgres.activity', false],
    ['postgres.connections@main', 'postgres.connections', 'postgres.activity', true],
    ['postgres.connections@main', 'postgres.connections@staging', 'postgres.activity', false],
    ['postgres@staging', 'postgres.vacuum@staging', 'postgres.integrity', true],
    ['postgres.activity@staging', 'postgres.connections@staging', 'postgres.activity', true],
    ['@staging', 'redis.ping@staging', 'redis', true],
    ['@staging', 'http.api', 'http', false],
    ['postgres', 'postgres.connections@staging', 'postgres.activity', true],
    ['postgres.conn', 'postgres.connections', 'postgres.activity', false],
  ];
  it.each(cases)('%s selects %s → %s', (selector, id, family, expected) => {
    expect(selectorMatches(selector, { id, family })).toBe(expected);
  });

  it('alert thresholds: a target selector beats the plain family, and the longer check part wins', () => {
    const alerts = { alertAfter: 2, recoverAfter: 2, perCheck: { postgres: { alertAfter: 3 }, 'postgres@staging': { alertAfter: 5 }, 'postgres.vacuum': { alertAfter: 7 } } };
    expect(thresholdsFor('postgres.connections@staging', alerts).alertAfter).toBe(5);
    expect(thresholdsFor('postgres.connections', alerts).alertAfter).toBe(3);
    expect(thresholdsFor('postgres.vacuum@staging', alerts).alertAfter).toBe(7);
    expect(selectorSpecificity('postgres@staging')).toBeGreaterThan(selectorSpecificity('postgres'));
  });

  it('diagnostics query: only takes @target selectors, target takes a name; anything else → 400', () => {
    const q = parseQuery(diagnosticsQuery, new URL('http://x/api/diagnostics?only=postgres@staging,@cache&target=staging'));
    expect(q.only).toEqual(['postgres@staging', '@cache']);
    expect(q.target).toBe('staging');
    expect(() => parseQuery(diagnosticsQuery, new URL('http://x/?target=Staging;drop'))).toThrow(/target/);
    expect(() => parseQuery(diagnosticsQuery, new URL('http://x/?only=postgres@@x'))).toThrow(/optional @target/);
  });
});

describe('target config is validated where it is written', () => {
  const cases: Array<[string, OpsbookConfigInput, RegExp]> = [
    ['an upper-case target name', { checks: { postgres: { targets: { Staging: { urlEnv: 'X_URL' } } } } }, /targets\.Staging: a target name starts with a letter/],
    ['a target named main', { checks: { postgres: { targets: { main: { urlEnv: 'X_URL' } } } } }, /"main" names the default target/],
    ['a lower-case variable', { checks: { postgres: { targets: { staging: { urlEnv: 'staging_url' } } } } }, /environment variable name/],
    ['a misspelled threshold', { checks: { postgres: { targets: { staging: { urlEnv: 'X', thresholds: { connectionWarnPct: 1 } } } } } } as OpsbookConfigInput, /connectionWarnPct/],
    ['Redis with both URL kinds', { checks: { redis: { targets: { cache: { urlEnv: 'A', restUrlEnv: 'B', restTokenEnv: 'C' } } } } }, /either urlEnv, or restUrlEnv/],
    ['Redis REST without its token', { checks: { redis: { targets: { cache: { restUrlEnv: 'B' } } } } }, /go together/],
    ['a need on a target that does not exist', { checks: { http: [{ id: 'api', url: 'http://127.0.0.1:1/', needs: ['postgres@nope'] }] } }, /targets has no "nope"/],
  ];
  it.each(cases)('%s → refused with the reason', (_name, input, message) => {
    expect(() => parseConfig(input)).toThrow(message);
  });

  it('a need on a configured target is accepted', () => {
    expect(() => parseConfig({ checks: { postgres: { targets: { staging: { urlEnv: STAGING } } }, http: [{ id: 'api', url: 'http://127.0.0.1:1/', needs: ['postgres@staging'] }] } })).not.toThrow();
  });
});

describe.each(['pg', 'neon'] as const)('Postgres targets, the target on %s', (driver) => {
  let store: ReturnType<typeof createPgDb>;
  let storeDb: TestDatabase;
  let staging: TestDatabase;
  let neon: NeonPeer | undefined;
  let deps: Deps;

  const config = (extra: Record<string, unknown> = {}): OpsbookConfigInput => ({
    checks: {
      postgres: {
        targets: {
          staging: { urlEnv: STAGING, thresholds: { connectionsWarnPct: 0 } },
          down: { urlEnv: DOWN, checks: ['postgres.activity'] },
          ...extra,
        },
      },
      redis: { enabled: false },
      queues: { enabled: false },
    },
  });

  beforeAll(async () => {
    [storeDb, staging] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    store = createPgDb(storeDb.url, DEFAULT_LIMITS);
    const env: Record<string, string> = {};
    if (driver === 'neon') {
      neon = await startNeonPeer({ upstream: PG_ADMIN_URL });
      process.env[STAGING] = neon.connectionString(staging.name, 'postgres');
      env.NEON_FETCH_ENDPOINT = neon.fetchEndpoint;
    } else {
      process.env[STAGING] = staging.url;
    }
    process.env[DOWN] = `postgres://opsbook:${SECRET}@127.0.0.1:1/nothing`;
    delete process.env[UNSET];
    deps = await depsFor(store, undefined, env);
    await staging.admin.query('CREATE TABLE staging_only (id int PRIMARY KEY)');
  });

  afterAll(async () => {
    await closeDiagnosedDbs();
    await store?.close();
    await neon?.close();
    await Promise.all([storeDb?.drop(), staging?.drop()]);
  });

  it('a staging target runs every Postgres check again as id@staging, each result naming its target, on 2 round trips of its own', async () => {
    const report = await diagnose(deps, config());
    const ids = report.checks.map((c) => c.id);
    expect(ids).toContain('postgres.connections');
    expect(ids).toContain('postgres.connections@staging');
    expect(ids).toContain('postgres.vacuum@staging');
    expect(report.byId('postgres.connections').target).toBe('main');
    expect(report.byId('postgres.connections@staging').target).toBe('staging');
    expect(report.byId('postgres.reachable@staging').summary).toContain(`connected to ${staging.name}`);
    expect(report.byId('postgres.reachable').summary).toContain(`connected to ${storeDb.name}`);
    for (const c of report.checks.filter((r) => r.target === 'staging')) expect(c.status, `${c.id}: ${c.summary}`).not.toBe('error');
    // Each target: its capabilities and one merged batch. The main database is also Opsbook's store, where
    // staging's growth history is read: merged into main's batch when it lands in the same tick, else one more.
    expect(report.postgresRoundTripsByTarget?.staging).toBe(2);
    expect(report.postgresRoundTripsByTarget?.main).toBeGreaterThanOrEqual(2);
    expect(report.postgresRoundTripsByTarget?.main).toBeLessThanOrEqual(3);
  });

  it("a target's thresholds override only what they name: staging's connections warn at 0 %, the main target's stay ok", async () => {
    const report = await diagnose(deps, config(), { only: ['postgres.connections'] });
    expect(report.byId('postgres.connections').status).toBe('ok');
    const s = report.byId('postgres.connections@staging');
    expect(s.status).toBe('warn');
    expect(s.summary).toContain('over the 0% warn threshold');
  });

  it('a down target is one root cause: its own checks are suppressed by postgres.reachable@down, nobody else’s, and its URL never shows', async () => {
    const report = await diagnose(deps, config());
    const root = report.byId('postgres.reachable@down');
    expect(root.status).toBe('fail');
    const own = report.checks.filter((c) => c.target === 'down' && c.id !== root.id);
    expect(own.length).toBeGreaterThan(0);
    for (const c of own) expect(c).toMatchObject({ status: 'skipped', suppressedBy: 'postgres.reachable@down', summary: 'suppressed: postgres@down unreachable' });
    expect(report.checks.filter((c) => c.suppressedBy && c.target !== 'down')).toEqual([]);
    expect(report.byId('postgres.connections').status).toBe('ok');
    // `checks: ['postgres.activity']` kept that family and the root, nothing else.
    expect(own.every((c) => c.family === 'postgres.activity')).toBe(true);
    expect(JSON.stringify(report)).not.toContain(SECRET);
  });

  it('a target whose variable is unset → its reachable check fails naming the variable to set', async () => {
    const report = await diagnose(deps, config({ later: { urlEnv: UNSET } }), { target: 'later' });
    expect(report.byId('postgres.reachable@later')).toMatchObject({ status: 'fail' });
    expect(report.byId('postgres.reachable@later').summary).toContain(`checks.postgres.targets.later.urlEnv names ${UNSET}, which is not set`);
    expect(report.checks.every((c) => c.target === 'later')).toBe(true);
  });

  it('target=staging keeps only staging’s checks; only=postgres.vacuum@staging names one; an unknown target → 400 listing the targets', async () => {
    const byTarget = await diagnose(deps, config(), { target: 'staging' });
    expect(byTarget.checks.length).toBeGreaterThan(10);
    expect(byTarget.checks.every((c) => c.target === 'staging')).toBe(true);
    const one = await diagnose(deps, config(), { only: ['postgres.vacuum@staging'] });
    expect(one.checks.map((c) => c.id)).toEqual(['postgres.vacuum@staging']);
    await expect(diagnose(deps, config(), { target: 'prod' })).rejects.toThrow(/Unknown target "prod": the targets are main, staging, down/);
  });

  it("a target's snapshots are stored under its own kinds, and its next run diffs against them, not the main target's", async () => {
    const t0 = new Date('2026-12-01T00:00:00Z');
    await diagnose(deps, config(), { only: ['postgres.database-size'], snapshot: true }, t0);
    const { rows } = await storeDb.admin.query<{ kind: string }>("SELECT kind FROM opsbook.snapshots WHERE kind LIKE 'database_size%' ORDER BY kind");
    expect(rows.map((r) => r.kind)).toEqual(['database_size', 'database_size@staging']);
    const { rows: sizes } = await storeDb.admin.query<{ kind: string; database: string }>("SELECT kind, data->>'database' AS database FROM opsbook.snapshots WHERE kind LIKE 'database_size%'");
    expect(sizes.find((r) => r.kind === 'database_size@staging')!.database).toBe(staging.name);
    expect(sizes.find((r) => r.kind === 'database_size')!.database).toBe(storeDb.name);
  });

  it("a finding on staging carries no admin action (those act on the main target): the hint says to do it there by hand", async () => {
    const idle = await openSession(staging.url, 'opsbook-test-idle');
    try {
      await idle.client.query('BEGIN');
      await idle.client.query('SELECT 1');
      const report = await diagnose(deps, config({ staging: { urlEnv: STAGING, thresholds: { idleInTransactionSeconds: 0.001 } } }), { only: ['postgres.idle-in-transaction'] });
      const s = report.byId('postgres.idle-in-transaction@staging');
      expect(s.status, s.summary).toBe('warn');
      expect(s.hint?.action).toBeUndefined();
      expect(s.hint?.text).toContain("On postgres@staging, do it there by hand: Opsbook's admin actions act on the main target only.");
    } finally {
      await idle.client.end();
    }
  });

  it('a checklist item postgres.connections@staging runs that check on staging only', async () => {
    const { runChecklist } = await import('../../lib/checklists/run.js');
    const cfg = parseConfig({
      ...config(),
      recipients: ['ops@example.com'],
      checklists: [{ id: 'staging', title: 'Staging', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'postgres.connections@staging' }] }],
    });
    const lines: string[] = [];
    const result = await runChecklist(deps, cfg, 'staging', new Date('2026-12-02T09:00:00Z'), { dryRun: true, mode: 'manual', progress: (l) => lines.push(l) });
    expect(result.status).toBe('completed');
    expect(lines.join('\n')).toMatch(/WARN\s+postgres\.connections@staging/);
    expect(lines.join('\n')).not.toMatch(/postgres\.connections\s/);
  });
});

describe('a standby as a target: replica-only checks run there', () => {
  let primary: PgCluster;
  let standby: PgCluster;
  let store: ReturnType<typeof createPgDb>;
  let storeDb: TestDatabase;
  let deps: Deps;
  const REPLICA = 'OPSBOOK_T_REPLICA_URL';
  const PRIMARY = 'OPSBOOK_T_PRIMARY_URL';

  beforeAll(async () => {
    primary = await startPgCluster({ log: () => undefined });
    standby = await startStandby(primary, { log: () => undefined });
    storeDb = await createTestDatabase();
    store = createPgDb(storeDb.url, DEFAULT_LIMITS);
    process.env[REPLICA] = standby.url;
    process.env[PRIMARY] = primary.url;
    deps = await depsFor(store);
  }, 120_000);

  afterAll(async () => {
    await closeDiagnosedDbs();
    await store?.close();
    await storeDb?.drop();
    await standby?.stop();
    await primary?.stop();
  });

  it('postgres.replication-lag@replica reports as a replica; @primary names the standby streaming from it', async () => {
    const cfg = {
      checks: {
        postgres: { targets: { primary: { urlEnv: PRIMARY, checks: ['postgres.replication'] }, replica: { urlEnv: REPLICA, checks: ['postgres.replication'] } } },
        redis: { enabled: false },
        queues: { enabled: false },
      },
    };
    // The standby connects in the background: wait for the primary to see it stream (a fact, not a delay).
    const session = await openSession(primary.url, 'opsbook-test');
    try {
      for (let i = 0; i < 600; i++) {
        const { rows } = await session.client.query("SELECT count(*)::int AS n FROM pg_stat_replication WHERE state = 'streaming'");
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await session.client.end();
    }
    const report = await diagnose(deps, cfg, { only: ['postgres.replication-lag@replica', 'postgres.replication-lag@primary', 'postgres.reachable@replica'] });
    expect(report.byId('postgres.reachable@replica').summary).toContain('a replica');
    expect(report.byId('postgres.replication-lag@replica').summary).toMatch(/^replica: /);
    expect(report.byId('postgres.replication-lag@primary').summary).toMatch(/^primary: /);
    expect(report.byId('postgres.replication-lag@primary').summary).not.toContain('no standby');
  });
});

describe.each(['tcp', 'upstash'] as const)('Redis targets over %s', (driver) => {
  let upstash: UpstashPeer | undefined;
  let deps: Deps;
  let store: ReturnType<typeof createPgDb>;
  let storeDb: TestDatabase;

  beforeAll(async () => {
    storeDb = await createTestDatabase();
    store = createPgDb(storeDb.url, DEFAULT_LIMITS);
    if (driver === 'upstash') {
      upstash = await startUpstashPeer({ upstream: REDIS_URL });
      process.env[REST_URL] = upstash.url;
      process.env[REST_TOKEN] = upstash.token;
    } else {
      process.env[CACHE] = redisUrlFor(3);
    }
    process.env[REDIS_DOWN] = `redis://:${SECRET}@127.0.0.1:1`;
    deps = await depsFor(store, createTcpRedis(REDIS_URL, { callTimeoutMs: 5000 }));
  });

  afterAll(async () => {
    await closeDiagnosedDbs();
    await deps?.redis.close();
    await store?.close();
    await upstash?.close();
    await storeDb?.drop();
  });

  const cfg = (): OpsbookConfigInput => ({
    checks: {
      postgres: { enabled: false },
      queues: { enabled: false },
      redis: {
        thresholds: { pingWarnMs: 60_000 },
        targets: {
          cache: driver === 'upstash' ? { restUrlEnv: REST_URL, restTokenEnv: REST_TOKEN, thresholds: { hitRateWarnPct: 0 } } : { urlEnv: CACHE, thresholds: { hitRateWarnPct: 0 } },
          gone: { urlEnv: REDIS_DOWN, checks: ['redis.memory'] },
        },
      },
    },
  });

  it('a cache target runs the Redis checks again as id@cache on its own client; a down one suppresses only its own', async () => {
    const report = await diagnose(deps, cfg());
    expect(report.byId('redis.ping').status).toBe('ok');
    expect(report.byId('redis.ping@cache')).toMatchObject({ status: 'ok', target: 'cache' });
    expect(report.byId('redis.memory@cache').status).not.toBe('error');
    expect(report.byId('redis.ping@gone')).toMatchObject({ status: 'error', summary: expect.stringContaining('Redis did not answer') });
    expect(report.byId('redis.memory@gone')).toMatchObject({ status: 'skipped', suppressedBy: 'redis.ping@gone', summary: 'suppressed: redis@gone unreachable' });
    expect(report.checks.filter((c) => c.target === 'gone').map((c) => c.id).sort()).toEqual(['redis.memory@gone', 'redis.ping@gone']);
    expect(report.checks.filter((c) => c.suppressedBy && c.target !== 'gone')).toEqual([]);
    if (upstash) expect(upstash.requests).toBeGreaterThan(0);
    expect(JSON.stringify(report)).not.toContain(SECRET);
  });
});
