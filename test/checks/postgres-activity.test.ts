import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootBlockers } from '../../lib/checks/postgres/activity.js';
import type { OpsbookConfigInput } from '../../lib/config/index.js';
import { createNeonDb } from '../../lib/db/neon.js';
import { createPgDb } from '../../lib/db/pg.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Db, DbDriver } from '../../lib/db/types.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DB_DRIVERS, DEFAULT_LIMITS, openDb, type DbHarness } from '../support/drivers.js';
import { createTestDatabase, openSession, type TestDatabase } from '../support/pg.js';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';

const MY_FAMILIES = ['postgres.activity', 'postgres.statements', 'postgres.replication'];
const ACTIVITY = ['postgres.connections', 'postgres.connection-sources', 'postgres.idle-in-transaction', 'postgres.long-running', 'postgres.blocked'];
const TERMINATE = '/api/admin/db/terminate';

/**
 * One database per driver for the whole file (creating one costs a second, PGlite's initdb several):
 * the describes below run in order, the quiet ones before the one that opens other sessions.
 */
const harnesses = new Map<DbDriver, Promise<DbHarness>>();
function harness(driver: DbDriver): Promise<DbHarness> {
  let h = harnesses.get(driver);
  if (!h) {
    // Opening PGlite runs initdb (seconds): do it here, not inside a check's time limit.
    h = openDb(driver).then(async (x) => (await ensureSchema(x.db), x));
    harnesses.set(driver, h);
  }
  return h;
}
afterAll(async () => {
  await Promise.allSettled([...harnesses.values()].map(async (h) => (await h).close()));
});

const thresholds = (t: Record<string, number>): OpsbookConfigInput => ({ checks: { postgres: { thresholds: t } } });
type Detail = Record<string, unknown>;
const detailsOf = (r: { details?: Detail[] }): Detail[] => r.details ?? [];

describe('rootBlockers: who is at the head of the lock queue', () => {
  it.each([
    ['one session waits on another → that one', [{ pid: 2, blockedBy: [1] }], [{ pid: 1, blocks: 1 }]],
    ['a chain 3 → 2 → 1 → the head of the chain holds up both', [{ pid: 2, blockedBy: [1] }, { pid: 3, blockedBy: [2] }], [{ pid: 1, blocks: 2 }]],
    [
      'two queues → the longer first',
      [{ pid: 2, blockedBy: [1] }, { pid: 3, blockedBy: [1] }, { pid: 5, blockedBy: [4] }],
      [{ pid: 1, blocks: 2 }, { pid: 4, blocks: 1 }],
    ],
    ['a deadlock cycle has no head → the direct blockers', [{ pid: 1, blockedBy: [2] }, { pid: 2, blockedBy: [1] }], [{ pid: 1, blocks: 1 }, { pid: 2, blocks: 1 }]],
  ])('%s', (_name, blocked, expected) => {
    expect(rootBlockers(blocked)).toEqual(expected);
  });
});

describe.each(DB_DRIVERS)('postgres activity checks on a quiet database over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await harness(driver);
    deps = await depsFor(h.db);
  });

  it('connections under the thresholds → ok, with totals in the summary and counts by state', async () => {
    const report = await diagnose(deps, {}, { only: ['postgres.connections'] });
    const r = report.byId('postgres.connections');
    expect(r).toMatchObject({ status: 'ok', severity: 'P1', family: 'postgres.activity', unit: 'connections' });
    expect(r.summary).toMatch(/^server: \d+ of \d+ connections in use \([\d.]+%(, \d+ to other databases)?\); database (opsbook_t_\w+|postgres): \d+ — \d+ active, \d+ idle, \d+ idle in transaction/);
    expect(r.value).toBeGreaterThanOrEqual(1);
    expect(detailsOf(r).length).toBeGreaterThan(0);
    for (const d of detailsOf(r)) {
      expect(Object.keys(d).sort()).toEqual(['connections', 'state', 'waitEvent', 'waitEventType']);
      expect(d.connections).toBeGreaterThan(0);
    }
    expect(r.hint).toBeUndefined();
  });

  it('connections above connectionsWarnPct → warn with the terminate-idle-sessions action', async () => {
    const r = (await diagnose(deps, thresholds({ connectionsWarnPct: 0.5 }), { only: ['postgres.connections'] })).byId('postgres.connections');
    expect(r.status).toBe('warn');
    expect(r.hint?.action).toEqual({ method: 'POST', path: TERMINATE, body: { idleLongerThan: '10m', dryRun: true } });
  });

  it('connections above connectionsFailPct → fail', async () => {
    const r = (await diagnose(deps, thresholds({ connectionsWarnPct: 0.2, connectionsFailPct: 0.5 }), { only: ['postgres.connections'] })).byId('postgres.connections');
    expect(r.status).toBe('fail');
    expect(r.hint?.action?.path).toBe(TERMINATE);
  });

  it('no idle transaction, long query or lock wait → those checks are ok', async () => {
    const report = await diagnose(deps, thresholds({ idleInTransactionSeconds: 1, longRunningSeconds: 1 }), { only: ACTIVITY });
    expect(report.byId('postgres.idle-in-transaction')).toMatchObject({ status: 'ok', value: 0 });
    expect(report.byId('postgres.long-running')).toMatchObject({ status: 'ok', value: 0, summary: expect.stringMatching(/^no query in database \S+ has been running longer than 1 s$/) });
    expect(report.byId('postgres.blocked')).toMatchObject({ status: 'ok', value: 0, summary: expect.stringMatching(/^no query in database \S+ is waiting on a lock$/) });
  });

  it('every activity, statements and replication check together → at most two Postgres round trips', async () => {
    const report = await diagnose(deps, {}, { only: MY_FAMILIES });
    expect(report.checks.map((c) => c.id).sort()).toEqual(
      [...ACTIVITY, 'postgres.slow-queries', 'postgres.replication-lag', 'postgres.replication-slots'].sort(),
    );
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
    expect(report.postgresRoundTrips).toBeLessThanOrEqual(2);
  });

  it('postgres checks disabled in the config → no activity checks', async () => {
    const report = await diagnose(deps, { checks: { postgres: { enabled: false } } }, {});
    expect(report.checks.filter((c) => c.family === 'postgres.activity')).toEqual([]);
  });
});

describe('round trips over the Neon HTTP driver', () => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await harness('neon');
  });

  it('a warm run of every activity, statements and replication check → at most two HTTP requests', async () => {
    await ensureSchema(h.db);
    const deps = await depsFor(h.db);
    h.neon!.resetCount();
    const report = await diagnose(deps, {}, { only: MY_FAMILIES });
    expect(h.neon!.requests).toBeLessThanOrEqual(2);
    expect(report.postgresRoundTrips).toBeLessThanOrEqual(2);
    expect(report.checks).toHaveLength(8);
    expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);
  });
});

/** A separate session on the test database, as an app would hold one. */
/** Poll until `sql` returns ready = true (no blind sleeping); fail with `what` after a while. */
async function waitUntil(admin: pg.Pool, sql: string, params: unknown[], what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { rows } = await admin.query<{ ready: boolean }>(sql, params);
    if (rows[0]?.ready) return;
    if (Date.now() > deadline) throw new Error(`scenario not ready: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function dropRole(role: string, database: string | undefined): Promise<void> {
  const root = new pg.Client({ connectionString: PG_ADMIN_URL });
  await root.connect();
  try {
    if (database) await root.query(`REVOKE CONNECT ON DATABASE "${database}" FROM ${role}`).catch(() => undefined);
    await root.query(`DROP ROLE IF EXISTS ${role}`);
  } finally {
    await root.end();
  }
}

/** A login role without pg_monitor, and a Db of the same driver connected as it. */
function roleDb(h: DbHarness, role: string): Db {
  if (h.driver === 'neon') {
    return createNeonDb(h.neon!.connectionString(h.database!.name, role), DEFAULT_LIMITS, { fetchEndpoint: h.neon!.fetchEndpoint });
  }
  return createPgDb(pgUrlFor(h.database!.name, role), DEFAULT_LIMITS);
}

/** Other sessions need a server: PGlite is one in-process connection. */
describe.each(['pg', 'neon'] as const)('postgres activity checks with other sessions over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  const sessions: pg.Client[] = [];
  const pids: number[] = [];
  let sleeper: number;
  let idler: number;
  let locker: number;
  let waiter: number;
  const role = `opsbook_t_nomon_${randomBytes(4).toString('hex')}`;
  let nomon: Db | undefined;
  const LONG_QUERY = `SELECT pg_sleep(30), '${'x'.repeat(300)}' AS padding`;

  beforeAll(async () => {
    h = await harness(driver);
    deps = await depsFor(h.db);
    const admin = h.database!.admin;
    await admin.query('CREATE TABLE lock_target (id int)');
    const open = async (name: string) => {
      const s = await openSession(h.database!.url, name);
      sessions.push(s.client);
      pids.push(s.pid);
      return s;
    };
    // A query that runs for long.
    const a = await open('test-sleeper');
    sleeper = a.pid;
    a.client.query(LONG_QUERY).catch(() => undefined);
    // A transaction left open.
    const b = await open('test-idler');
    idler = b.pid;
    await b.client.query('BEGIN');
    await b.client.query('SELECT 1');
    // A migration holding a lock, and a query queued behind it.
    const c = await open('test-locker');
    locker = c.pid;
    await c.client.query('BEGIN');
    await c.client.query('LOCK TABLE lock_target IN ACCESS EXCLUSIVE MODE');
    const d = await open('test-waiter');
    waiter = d.pid;
    d.client.query('SELECT count(*) FROM lock_target').catch(() => undefined);
    await waitUntil(
      admin,
      `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active' AND query_start < now() - interval '1.2 s')
          AND EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $2 AND state = 'idle in transaction' AND state_change < now() - interval '1.2 s')
          AND EXISTS (SELECT 1 FROM pg_locks WHERE pid = $3 AND NOT granted AND waitstart < now() - interval '1.2 s') AS ready`,
      [sleeper, idler, waiter],
      'sleeper running, idler idle in transaction and waiter blocked, each for more than 1.2 s',
    );
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT CONNECT ON DATABASE "${h.database!.name}" TO ${role}`);
    nomon = roleDb(h, role);
  });

  afterAll(async () => {
    await h?.database?.admin.query('SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [pids]).catch(() => undefined);
    await Promise.allSettled(sessions.map((s) => s.end()));
    await nomon?.close();
    await dropRole(role, h?.database?.name);
  });

  it('query running past longRunningSeconds → long-running warn with its text cut and normalised, and the terminate-running action', async () => {
    const r = (await diagnose(deps, thresholds({ longRunningSeconds: 1 }), { only: ['postgres.long-running'] })).byId('postgres.long-running');
    expect(r).toMatchObject({ status: 'warn', severity: 'P2', unit: 'queries' });
    expect(r.summary).toMatch(/running longer than 1 s, the longest for \d+ s/);
    const row = detailsOf(r).find((d) => d.pid === sleeper);
    expect(row).toMatchObject({ application: 'test-sleeper', state: 'active', query: 'SELECT pg_sleep($1), $2' });
    expect(row!.durationSeconds as number).toBeGreaterThanOrEqual(1);
    expect((row!.query as string).length).toBeLessThanOrEqual(200);
    // Opsbook's own session (and the idle transaction) are not long-running queries.
    expect(detailsOf(r).map((d) => d.pid)).not.toContain(idler);
    expect(detailsOf(r).every((d) => d.application !== 'opsbook' && d.application !== 'neon-http-peer')).toBe(true);
    expect(r.hint?.action).toEqual({ method: 'POST', path: TERMINATE, body: { runningLongerThan: '1s', dryRun: true } });
  });

  it('idle in transaction past threshold → warn with terminate hint', async () => {
    const r = (await diagnose(deps, thresholds({ idleInTransactionSeconds: 1 }), { only: ['postgres.idle-in-transaction'] })).byId('postgres.idle-in-transaction');
    expect(r).toMatchObject({ status: 'warn', unit: 'sessions' });
    expect(r.summary).toMatch(/idle in transaction longer than 1 s, the oldest for \d+ s/);
    const row = detailsOf(r).find((d) => d.pid === idler);
    expect(row).toMatchObject({ user: 'postgres', application: 'test-idler', state: 'idle in transaction', query: 'SELECT $1' });
    expect(row!.idleSeconds as number).toBeGreaterThanOrEqual(1);
    expect(r.hint?.action).toEqual({ method: 'POST', path: TERMINATE, body: { idleLongerThan: '1s', dryRun: true } });
  });

  it('idle transactions younger than the threshold → ok, counted in the summary', async () => {
    const r = (await diagnose(deps, {}, { only: ['postgres.idle-in-transaction'] })).byId('postgres.idle-in-transaction');
    expect(r.status).toBe('ok');
    expect(r.summary).toMatch(/^2 sessions in database opsbook_t_\w+ idle in transaction, the oldest for [^(]+ \(under 60 s\)$/);
  });

  it('query waiting on a lock → blocked warn naming the blocker, with a terminate-by-pid action', async () => {
    const r = (await diagnose(deps, thresholds({ longRunningSeconds: 3600 }), { only: ['postgres.blocked'] })).byId('postgres.blocked');
    expect(r).toMatchObject({ status: 'warn', value: 1, unit: 'queries' });
    expect(r.summary).toContain(`session ${locker} (postgres, test-locker, idle in transaction`);
    expect(detailsOf(r)).toEqual([
      expect.objectContaining({
        pid: waiter,
        application: 'test-waiter',
        blockedBy: [locker],
        lock: 'Lock: relation',
        query: 'SELECT count(*) FROM lock_target',
        blockerState: 'idle in transaction',
        blockerQuery: 'LOCK TABLE lock_target IN ACCESS EXCLUSIVE MODE',
      }),
    ]);
    expect(r.hint?.action).toEqual({ method: 'POST', path: TERMINATE, body: { pid: locker, dryRun: true } });
  });

  it('lock wait longer than longRunningSeconds → blocked fail', async () => {
    const r = (await diagnose(deps, thresholds({ longRunningSeconds: 1 }), { only: ['postgres.blocked'] })).byId('postgres.blocked');
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/the longest for \d+ s \(over 1 s\)/);
  });

  it('connection sources → connections grouped by user, application and client address, with their states', async () => {
    const r = (await diagnose(deps, {}, { only: ['postgres.connection-sources'] })).byId('postgres.connection-sources');
    expect(r).toMatchObject({ status: 'ok', unit: 'sources' });
    expect(r.summary).toMatch(new RegExp(`^database ${h.database!.name}: \\d+ connections from \\d+ sources; the most from `));
    expect(detailsOf(r)).toEqual(
      expect.arrayContaining([
        { user: 'postgres', application: 'test-idler', client: '127.0.0.1', connections: 1, active: 0, idle: 0, idleInTransaction: 1 },
        { user: 'postgres', application: 'test-sleeper', client: '127.0.0.1', connections: 1, active: 1, idle: 0, idleInTransaction: 0 },
        expect.objectContaining({ application: 'test-waiter', connections: 1, active: 1 }),
      ]),
    );
    expect(r.value).toBe(detailsOf(r).length + (r.more ?? 0));
  });

  it('connections count the waiting session', async () => {
    const r = (await diagnose(deps, {}, { only: ['postgres.connections'] })).byId('postgres.connections');
    expect(r.summary).toMatch(/[1-9]\d* waiting on locks/);
    expect(detailsOf(r)).toContainEqual({ state: 'active', waitEventType: 'Lock', waitEvent: 'relation', connections: expect.any(Number) });
  });

  it('role without pg_monitor → idle and long-running skipped with the GRANT fix; connections and lock waits still reported', async () => {
    const roleDeps = await depsFor(nomon!);
    const report = await diagnose(roleDeps, thresholds({ idleInTransactionSeconds: 1, longRunningSeconds: 1 }), { only: ACTIVITY });
    const grant = `GRANT pg_monitor TO ${role};`;

    for (const id of ['postgres.idle-in-transaction', 'postgres.long-running']) {
      const r = report.byId(id);
      expect(r.status).toBe('skipped');
      expect(r.summary).toMatch(/sessions? of other roles cannot be seen without pg_monitor/);
      expect(r.hint?.text).toContain(grant);
    }

    const conn = report.byId('postgres.connections');
    expect(conn.status).toBe('ok');
    expect(conn.summary).toMatch(/of other roles \(state hidden\)/);
    expect(conn.hint?.text).toContain(grant);

    // Lock waits come from pg_locks, which every role can read: found, with the blocker to terminate.
    const blocked = report.byId('postgres.blocked');
    expect(blocked.status).toBe('fail');
    expect(detailsOf(blocked)).toEqual([expect.objectContaining({ pid: waiter, blockedBy: [locker], query: '<insufficient privilege>' })]);
    expect(blocked.hint?.action?.body).toEqual({ pid: locker, dryRun: true });
    expect(blocked.hint?.text).toContain(grant);
    expect(report.postgresRoundTrips).toBeLessThanOrEqual(2);
  });
});

describe.each(['pg', 'neon'] as const)('one scope on every page: sessions of another database over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  let other: TestDatabase;
  let elsewhere: { client: pg.Client; pid: number };

  beforeAll(async () => {
    h = await harness(driver);
    deps = await depsFor(h.db);
    // Another database on the same server, with a session left idle in a transaction.
    other = await createTestDatabase();
    elsewhere = await openSession(other.url, 'other-db-idler');
    await elsewhere.client.query('BEGIN');
    await elsewhere.client.query('SELECT 1');
  });
  afterAll(async () => {
    await elsewhere?.client.end().catch(() => undefined);
    await other?.drop();
  });

  it("another database's idle transaction → counted in the server's total only; this database's checks and states leave it out, and say their scope", async () => {
    const report = await diagnose(deps, {}, { only: ['postgres.connections', 'postgres.idle-in-transaction'] });
    const conn = report.byId('postgres.connections');
    const m = /^server: (\d+) of \d+ connections in use \([\d.]+%, (\d+) to other databases\); database (\S+): (\d+) — \d+ active, \d+ idle, (\d+) idle in transaction/.exec(conn.summary);
    expect(m, conn.summary).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(1);
    expect(m![3]).toBe(h.database!.name);
    expect(Number(m![1])).toBe(Number(m![2]) + Number(m![4]));
    expect(Number(m![5])).toBe(0);
    const idle = report.byId('postgres.idle-in-transaction');
    expect(idle.summary).toBe(`no session in database ${h.database!.name} is idle in a transaction`);
    expect(detailsOf(idle).map((d) => d.pid)).not.toContain(elsewhere.pid);
  });
});
