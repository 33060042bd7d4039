import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsbookConfigInput } from '../../lib/config/index.js';
import { createNeonDb } from '../../lib/db/neon.js';
import { createPgDb } from '../../lib/db/pg.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Db, DbDriver } from '../../lib/db/types.js';
import type { Deps } from '../../lib/deps.js';
import { diffStatements, type StatementsDiff, type StatementsSnapshot } from '../../lib/checks/postgres/statements.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DB_DRIVERS, DEFAULT_LIMITS, openDb, type DbHarness } from '../support/drivers.js';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';

const SLOW = 'postgres.slow-queries';

/**
 * One database per driver for the whole file (creating one costs a second, PGlite's initdb several).
 * The describes run in order; the last one drops pg_stat_statements.
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
const LOW: OpsbookConfigInput = { checks: { postgres: { thresholds: { slowQueryMinCalls: 3, slowQueryMeanMs: 20 } } } };
type Detail = Record<string, unknown>;

describe('diffStatements: per-period figures from two snapshots', () => {
  const T = { meanMs: 20, minCalls: 100 };
  const snap = (resetMarker: number | null, statements: Array<[string, number, number]>): StatementsSnapshot => ({
    resetMarker,
    statements: statements.map(([queryid, calls, totalMs]) => ({ queryid, calls, totalMs })),
  });
  const previous = snap(1000, [
    ['fast', 1000, 1000], // 1 ms mean
    ['slow', 500, 25_000], // 50 ms mean: already slow
  ]);

  it.each<[string, StatementsSnapshot | undefined, StatementsSnapshot, StatementsDiff]>([
    ['no previous snapshot → first, nothing to compare', undefined, previous, { kind: 'first' }],
    ['unchanged counters → a period in which nothing ran', previous, previous, { kind: 'period', deltas: [], newlySlow: [] }],
    [
      'reset marker changed (pg_stat_statements_reset, restart) → gap, no deltas',
      previous,
      snap(2000, [['fast', 10, 10]]),
      { kind: 'gap', reason: 'the statistics were reset or the server restarted since the previous snapshot' },
    ],
    [
      'a counter went down under the same marker (Neon compute restart, reset before PG14) → gap, never a negative delta',
      previous,
      snap(1000, [['fast', 1200, 1200], ['slow', 20, 400]]),
      { kind: 'gap', reason: 'counters went down for 1 statement (statistics lost or reset since the previous snapshot)' },
    ],
    [
      'new query past the thresholds → its whole count is the period, newly slow',
      previous,
      snap(1000, [['fast', 1000, 1000], ['slow', 500, 25_000], ['new', 200, 6000]]),
      { kind: 'period', deltas: [{ queryid: 'new', calls: 200, totalMs: 6000, meanMs: 30, isNew: true, newlySlow: true }], newlySlow: [expect.objectContaining({ queryid: 'new' })] },
    ],
    [
      'fast query that turned slow in the period → newly slow, with the period mean',
      previous,
      snap(1000, [['fast', 1100, 1000 + 100 * 40], ['slow', 500, 25_000]]),
      { kind: 'period', deltas: [{ queryid: 'fast', calls: 100, totalMs: 4000, meanMs: 40, isNew: false, newlySlow: true }], newlySlow: [expect.objectContaining({ queryid: 'fast' })] },
    ],
    [
      'already slow query that ran again → a delta, not newly slow',
      previous,
      snap(1000, [['fast', 1000, 1000], ['slow', 700, 35_000]]),
      { kind: 'period', deltas: [{ queryid: 'slow', calls: 200, totalMs: 10_000, meanMs: 50, isNew: false, newlySlow: false }], newlySlow: [] },
    ],
    [
      'new query with too few calls in the period → a delta, not slow',
      previous,
      snap(1000, [['fast', 1000, 1000], ['slow', 500, 25_000], ['rare', 5, 5000]]),
      { kind: 'period', deltas: [{ queryid: 'rare', calls: 5, totalMs: 5000, meanMs: 1000, isNew: true, newlySlow: false }], newlySlow: [] },
    ],
  ])('%s', (_name, before, after, expected) => {
    expect(diffStatements(before, after, T)).toEqual(expected);
  });
});

/** Three calls of a statement that takes 30 ms: slow under LOW's thresholds. */
async function runSlow(db: Pick<Db, 'query'>, sql = 'SELECT pg_sleep(0.03)'): Promise<void> {
  for (let i = 0; i < 3; i++) await db.query(sql);
}

describe.each(DB_DRIVERS)('slow queries from pg_stat_statements over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await harness(driver);
    deps = await depsFor(h.db);
  });

  it('no statement over the thresholds → ok, with the criteria in the summary', async () => {
    const r = (await diagnose(deps, {}, { only: [SLOW] })).byId(SLOW);
    expect(r).toMatchObject({ status: 'ok', severity: 'P3', family: 'postgres.statements', value: 0, details: [] });
    expect(r.summary).toBe('no slow query (mean ≥ 20 ms over ≥ 100 calls); no previous snapshot to compare with');
  });

  it('statement averaging ≥ slowQueryMeanMs over ≥ slowQueryMinCalls calls → warn with its text, mean and share of time', async () => {
    await runSlow(h.db);
    const report = await diagnose(deps, LOW, { only: [SLOW] });
    const r = report.byId(SLOW);
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/^\d+ slow quer(y|ies) \(mean ≥ 20 ms over ≥ 3 calls\), [\d.]+% of total time; no previous snapshot/);
    const row = (r.details as Detail[]).find((d) => /pg_sleep/i.test(String(d.query)));
    expect(row).toMatchObject({ queryid: expect.stringMatching(/^-?\d+$/), calls: 3 });
    expect(row!.meanMs as number).toBeGreaterThanOrEqual(20);
    expect(row!.totalMs as number).toBeGreaterThanOrEqual(60);
    expect(row!.totalSharePct as number).toBeGreaterThan(0);
    expect(row!.totalSharePct as number).toBeLessThanOrEqual(100);
    expect(r.hint?.text).toMatch(/EXPLAIN \(ANALYZE, BUFFERS\)/);
    expect(report.postgresRoundTrips).toBeLessThanOrEqual(2);
  });

  it('statement that turns slow after the previous snapshot → reported as new since the last snapshot', async () => {
    const first = await diagnose(deps, LOW, { only: [SLOW], snapshot: true });
    expect(first.snapshotStored).toBe(true);

    await runSlow(h.db, 'SELECT 1 AS regressed FROM pg_sleep(0.03)');
    const second = await diagnose(deps, LOW, { only: [SLOW], snapshot: true });
    const r = second.byId(SLOW);
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/since the previous snapshot \([^)]+ ago\): 1 new slow query, \d+ statements? ran$/);
    expect((r.details as Detail[])[0]).toMatchObject({ query: expect.stringMatching(/regressed/), calls: 3, periodCalls: 3, newlySlow: true });
    expect(second.postgresRoundTrips).toBeLessThanOrEqual(2);

    const third = await diagnose(deps, LOW, { only: [SLOW] });
    expect(third.byId(SLOW).summary).toMatch(/since the previous snapshot \([^)]+ ago\): no new slow query/);
  });
});

/**
 * Statistics that start over between two snapshots. On the shared server only this database's entries
 * are reset (other test files read the same pg_stat_statements), which leaves stats_reset alone: the
 * counters going down give the gap away. PGlite is this process's own server: a full reset moves the
 * reset marker.
 */
const RESET_THIS_DB = 'SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database WHERE datname = current_database()), 0)';
describe.each([
  { driver: 'pg' as const, reset: RESET_THIS_DB, reason: /counters went down for \d+ statements? \(statistics lost or reset/ },
  { driver: 'neon' as const, reset: RESET_THIS_DB, reason: /counters went down for \d+ statements? \(statistics lost or reset/ },
  { driver: 'pglite' as const, reset: 'SELECT pg_stat_statements_reset()', reason: /the statistics were reset or the server restarted/ },
])('slow queries across a statistics reset over $driver', ({ driver, reset, reason }) => {
  it('statistics reset since the previous snapshot → a gap in the summary, never negative period figures', async () => {
    const h = await harness(driver);
    const deps = await depsFor(h.db);
    await runSlow(h.db);
    expect((await diagnose(deps, LOW, { only: [SLOW], snapshot: true })).snapshotStored).toBe(true);
    await h.db.query(reset);
    await h.db.query('SELECT pg_sleep(0.03)');

    const r = (await diagnose(deps, LOW, { only: [SLOW] })).byId(SLOW);
    expect(r.summary).toMatch(/gap since the previous snapshot \([^)]+ ago\): .+; period figures start with this one$/);
    expect(r.summary).toMatch(reason);
    for (const d of r.details as Detail[]) {
      expect(d).not.toHaveProperty('periodCalls');
      expect(d.calls as number).toBeGreaterThan(0);
    }
  });
});

/** Other roles' statements are hidden from a role without pg_monitor; PGlite has no other login. */
describe.each(['pg', 'neon'] as const)('slow queries as a role without pg_monitor over %s', (driver) => {
  let h: DbHarness;
  let db: Db;
  let deps: Deps;
  const role = `opsbook_t_nomon_${randomBytes(4).toString('hex')}`;

  beforeAll(async () => {
    h = await harness(driver);
    await h.database!.admin.query(`CREATE ROLE ${role} LOGIN`);
    await h.database!.admin.query(`GRANT CONNECT ON DATABASE "${h.database!.name}" TO ${role}`);
    db =
      driver === 'neon'
        ? createNeonDb(h.neon!.connectionString(h.database!.name, role), DEFAULT_LIMITS, { fetchEndpoint: h.neon!.fetchEndpoint })
        : createPgDb(pgUrlFor(h.database!.name, role), DEFAULT_LIMITS);
    deps = await depsFor(db);
  });
  afterAll(async () => {
    await db?.close();
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    try {
      await root.query(`REVOKE CONNECT ON DATABASE "${h.database!.name}" FROM ${role}`).catch(() => undefined);
      await root.query(`DROP ROLE IF EXISTS ${role}`);
    } finally {
      await root.end();
    }
  });

  it('nothing slow in sight and other roles hidden → skipped with the GRANT pg_monitor fix', async () => {
    const r = (await diagnose(deps, {}, { only: [SLOW] })).byId(SLOW);
    expect(r.status).toBe('skipped');
    expect(r.summary).toMatch(new RegExp(`^pg_stat_statements hides \\d+ statements? of other roles from ${role}`));
    expect(r.hint?.text).toContain(`GRANT pg_monitor TO ${role};`);
  });

  it("another role's slow statement → warn counting it, text hidden, with the GRANT pg_monitor hint", async () => {
    await runSlow(h.database!.admin);
    const r = (await diagnose(deps, LOW, { only: [SLOW] })).byId(SLOW);
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/\d+ slow statements? of other roles \(text hidden without pg_monitor\)/);
    expect(r.value as number).toBeGreaterThanOrEqual(1);
    expect((r.details as Detail[]).some((d) => /pg_sleep/.test(String(d.query)))).toBe(false);
    expect(r.hint?.text).toContain(`GRANT pg_monitor TO ${role};`);
  });
});

describe.each(DB_DRIVERS)('slow queries without pg_stat_statements over %s', (driver) => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await harness(driver);
    await h.db.query('DROP EXTENSION pg_stat_statements');
  });

  it('pg_stat_statements not installed → skipped with the CREATE EXTENSION fix', async () => {
    const r = (await diagnose(await depsFor(h.db), {}, { only: [SLOW] })).byId(SLOW);
    expect(r.status).toBe('skipped');
    expect(r.summary).toMatch(/^pg_stat_statements is not installed in \w+$/);
    expect(r.hint?.text).toMatch(/^CREATE EXTENSION pg_stat_statements;.*shared_preload_libraries/);
  });
});
