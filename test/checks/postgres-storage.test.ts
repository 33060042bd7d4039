import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daysUntilLimit, gradeCacheHit, CACHE_MIN_BLOCK_ACCESSES } from '../../lib/checks/postgres/storage.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Deps } from '../../lib/deps.js';
import type { Statement } from '../../lib/db/index.js';
import { diagnose, depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';

const MAINTENANCE = '/api/admin/db/maintenance';

/** Thresholds written out in every test, so a changed default cannot silently change what a test means. */
const THRESHOLDS = {
  cacheHitWarnPct: 99,
  deadTuplesMinRows: 10_000,
  deadTuplesWarnPct: 20,
  vacuumStaleDays: 7,
  topN: 10,
} as const;

function config(overrides: Record<string, number> = {}) {
  return { checks: { postgres: { thresholds: { ...THRESHOLDS, ...overrides } } } };
}

/** Writes and a stats flush in one session, so pg_stat_* shows them without waiting for the idle flush. */
async function writeAndFlush(h: DbHarness, statements: string[]): Promise<void> {
  const list: Statement[] = [...statements.map((text) => ({ text })), { text: 'SELECT pg_stat_force_next_flush()' }];
  await h.db.batch(list, { readOnly: false });
}

/** Statistics reach the shared views asynchronously: poll (bounded) until they show what was arranged. */
async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`statistics never showed ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * VACUUM cannot run inside a transaction block, and Neon's HTTP driver wraps every query in one: on the
 * server drivers it runs on a plain connection to the same database.
 */
async function vacuumAnalyze(h: DbHarness): Promise<void> {
  await (h.database ? h.database.admin.query('VACUUM ANALYZE') : h.db.query('VACUUM ANALYZE'));
}

async function liveTuples(h: DbHarness, table: string): Promise<{ live: number; dead: number }> {
  const { rows } = await h.db.query<{ live: number; dead: number }>(
    'SELECT n_live_tup::int AS live, n_dead_tup::int AS dead FROM pg_stat_user_tables WHERE relid = $1::regclass',
    [table],
  );
  return rows[0] ?? { live: 0, dead: 0 };
}

describe('cache hit grading (a low hit rate needs a working set larger than shared_buffers: too heavy to arrange for real)', () => {
  const enough = CACHE_MIN_BLOCK_ACCESSES;
  it.each([
    { name: 'no reads at all → ok, not enough to judge', c: { heapHit: 0, heapRead: 0, indexHit: 0, indexRead: 0 }, status: 'ok', match: /not enough reads/ },
    { name: 'fewer block accesses than the minimum → ok even at 50 %', c: { heapHit: 400, heapRead: 400, indexHit: 10, indexRead: 10 }, status: 'ok', match: /not enough reads/ },
    { name: 'both at 99.9 % → ok', c: { heapHit: 99_900, heapRead: 100, indexHit: 99_900, indexRead: 100 }, status: 'ok', match: /tables 99\.90 %, indexes 99\.90 %/ },
    { name: 'exactly at the threshold → ok (warn is below it)', c: { heapHit: 99_000, heapRead: 1000, indexHit: 10_000, indexRead: 0 }, status: 'ok', match: /tables 99\.00 %/ },
    { name: 'tables at 95 % → warn', c: { heapHit: 95_000, heapRead: 5000, indexHit: 10_000, indexRead: 0 }, status: 'warn', match: /below 99 %: tables 95\.00 %/ },
    { name: 'indexes at 90 % → warn', c: { heapHit: 10_000, heapRead: 0, indexHit: 9000, indexRead: 1000 }, status: 'warn', match: /indexes 90\.00 %/ },
    { name: 'tables too few to judge, indexes low → warn on indexes alone', c: { heapHit: 10, heapRead: 0, indexHit: enough, indexRead: enough }, status: 'warn', match: /tables too few reads, indexes 50\.00 %/ },
  ])('$name', ({ c, status, match }) => {
    const g = gradeCacheHit(c, 99);
    expect(g.status).toBe(status);
    expect(g.summary).toMatch(match);
  });

  it.each([
    { name: 'tables at 95 %, fail level 90 → warn', c: { heapHit: 95_000, heapRead: 5000, indexHit: 10_000, indexRead: 0 }, status: 'warn', match: /below 99 %: tables 95\.00 %/ },
    { name: 'tables at 80 %, fail level 90 → fail, naming the fail level', c: { heapHit: 80_000, heapRead: 20_000, indexHit: 10_000, indexRead: 0 }, status: 'fail', match: /below 90 %: tables 80\.00 %/ },
    { name: 'indexes exactly at the fail level → warn', c: { heapHit: 10_000, heapRead: 0, indexHit: 9000, indexRead: 1000 }, status: 'warn', match: /below 99 %/ },
  ])('cacheHitFailPct: $name', ({ c, status, match }) => {
    const g = gradeCacheHit(c, 99, 90);
    expect(g.status).toBe(status);
    expect(g.summary).toMatch(match);
  });

  it('the value is the lower of the two rates, rounded down (99.999 % never reads as 100 %)', () => {
    expect(gradeCacheHit({ heapHit: 99_999, heapRead: 1, indexHit: 95_000, indexRead: 5000 }, 99).value).toBe(95);
    expect(gradeCacheHit({ heapHit: 99_999, heapRead: 1, indexHit: 0, indexRead: 0 }, 99).value).toBe(99.99);
  });
});

describe('days until the size limit', () => {
  it.each([
    ['growing 1 MB/day, 20 MB left → 20 days', 100e6, 1e6, 120e6, 20],
    ['at the limit → 0', 120e6, 1e6, 120e6, 0],
    ['past the limit while shrinking → 0', 130e6, -1e6, 120e6, 0],
    ['shrinking below the limit → never (null)', 100e6, -1e6, 120e6, null],
    ['flat → never (null)', 100e6, 0, 120e6, null],
  ])('%s', (_name, current, perDay, limit, expected) => {
    expect(daysUntilLimit(current, perDay, limit)).toBe(expected);
  });
});

describe.each(DB_DRIVERS)('postgres storage checks over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    // Open the database outside the checks' time limits (PGlite runs initdb on its first call).
    await h.db.query('SELECT 1');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('a table with 90 % of its rows deleted → bloat estimate warns past bloatWarnPct, naming it; a table just filled → about 0 %', async () => {
    await writeAndFlush(h, [
      'CREATE TABLE bloated (id int, payload text)',
      "INSERT INTO bloated SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g",
      'DELETE FROM bloated WHERE id % 10 <> 0',
      'CREATE TABLE filled (id int, payload text)',
      "INSERT INTO filled SELECT g, repeat('x', 100) FROM generate_series(1, 50000) g",
      'ANALYZE bloated',
      'ANALYZE filled',
    ]);
    const r = (await diagnose(deps, config({ bloatMinBytes: 1024 * 1024, bloatWarnPct: 50 }), { only: ['postgres.bloat'] })).byId('postgres.bloat');
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/^1 table bloated past 50 %: public\.bloated: about [\d.]+ MB \((8\d|9\d)(\.\d)? %\) beyond what its live rows need \(an estimate from statistics\)$/);
    const filled = r.details?.find((d) => d.table === 'public.filled');
    expect(filled?.estimatedBloatPct as number).toBeLessThan(15);
    expect(r.hint?.action?.body).toEqual({ op: 'vacuum-analyze', table: 'public.bloated', dryRun: true });
    // Under the size floor → not estimated at all.
    expect((await diagnose(deps, config({ bloatMinBytes: 1024 ** 3 }), { only: ['postgres.bloat'] })).byId('postgres.bloat')).toMatchObject({ status: 'ok', value: 0 });
    await writeAndFlush(h, ['DROP TABLE bloated', 'DROP TABLE filled']);
  });

  it('an index whose table lost 90 % of its rows → index bloat warns past bloatWarnPct, naming it; a freshly built one and an expression index → about 0 %', async () => {
    await writeAndFlush(h, [
      'CREATE TABLE ix_churn (id int, email text)',
      "INSERT INTO ix_churn SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 100000) g",
      'CREATE INDEX ix_churn_id ON ix_churn (id)',
      'DELETE FROM ix_churn WHERE id % 10 <> 0',
      'CREATE TABLE ix_fresh (id int, email text)',
      "INSERT INTO ix_fresh SELECT g, 'user' || g || '@example.com' FROM generate_series(1, 100000) g",
      'CREATE INDEX ix_fresh_id ON ix_fresh (id)',
      'CREATE INDEX ix_fresh_lower ON ix_fresh (lower(email))',
      'ANALYZE ix_fresh',
    ]);
    // VACUUM (outside a transaction: Neon's HTTP driver wraps one, so it runs on a direct session) records
    // the index's surviving entries; it does not shrink the index.
    await (h.database ? h.database.admin.query('VACUUM ANALYZE ix_churn') : h.db.query('VACUUM ANALYZE ix_churn'));
    const r = (await diagnose(deps, config({ bloatMinBytes: 1024 * 1024, bloatWarnPct: 50 }), { only: ['postgres.index-bloat'] })).byId('postgres.index-bloat');
    expect(r.status, r.summary).toBe('warn');
    expect(r.summary).toMatch(/^1 index bloated past 50 %: public\.ix_churn_id: about [\d.]+ MB \((8\d|9\d)(\.\d)? %\) beyond what its entries need \(an estimate from statistics\)$/);
    const pct = (name: string) => r.details?.find((d) => d.index === name)?.estimatedBloatPct as number;
    expect(pct('public.ix_fresh_id')).toBeLessThan(15);
    expect(pct('public.ix_fresh_lower')).toBeLessThan(25);
    expect(r.hint?.text).toContain('REINDEX INDEX CONCURRENTLY public.ix_churn_id');
    expect(r.hint?.action?.body).toEqual({ op: 'reindex', table: 'public.ix_churn', dryRun: true });
    expect((await diagnose(deps, config({ bloatMinBytes: 1024 ** 3 }), { only: ['postgres.index-bloat'] })).byId('postgres.index-bloat')).toMatchObject({ status: 'ok', value: 0 });
    await writeAndFlush(h, ['DROP TABLE ix_churn', 'DROP TABLE ix_fresh']);
  });

  it('growth from stored snapshots → bytes a day, the fastest-growing tables, and days to sizeLimitBytes: warn within growthWarnDays, fail within growthFailDays', async () => {
    await ensureSchema(h.db);
    const now = new Date();
    const noHistory = (await diagnose(deps, config(), { only: ['postgres.growth'] }, now)).byId('postgres.growth');
    expect(noHistory.status).toBe('ok');
    expect(noHistory.summary).toMatch(/growth needs a size snapshot at least a day old/);

    const size = Number((await diagnose(deps, config(), { only: ['postgres.database-size'] }, now)).byId('postgres.database-size').value);
    const day = 86_400_000;
    const at = (d: number) => new Date(now.getTime() - d * day).toISOString();
    // Ten days ago the database was 10 MB smaller: 1 MB a day. One table grew 900 kB in nine days.
    await h.db.batch(
      [
        { text: 'INSERT INTO opsbook.snapshots (kind, taken_at, data) VALUES ($1, $2, $3::jsonb)', params: ['database_size', at(10), JSON.stringify({ bytes: size - 10e6 })] },
        { text: 'INSERT INTO opsbook.snapshots (kind, taken_at, data) VALUES ($1, $2, $3::jsonb)', params: ['table_sizes', at(10), JSON.stringify([{ table: 'public.orders', bytes: 100_000 }, { table: 'public.quiet', bytes: 5000 }])] },
        { text: 'INSERT INTO opsbook.snapshots (kind, taken_at, data) VALUES ($1, $2, $3::jsonb)', params: ['table_sizes', at(1), JSON.stringify([{ table: 'public.orders', bytes: 1_000_000 }, { table: 'public.quiet', bytes: 5000 }])] },
      ],
      { readOnly: false },
    );
    const run = async (limit?: number) =>
      (await diagnose(deps, { checks: { postgres: { thresholds: { ...THRESHOLDS, growthWarnDays: 30, growthFailDays: 7 }, ...(limit ? { sizeLimitBytes: Math.round(limit) } : {}) } } }, { only: ['postgres.growth'] }, now)).byId('postgres.growth');

    const open = await run();
    expect(open.status).toBe('ok');
    expect(open.summary).toMatch(/^database \S+ is [\d.]+ [kMG]?B, \+(9\d\d(\.\d)? kB|1(\.0)? MB)\/day over 10 d \(no sizeLimitBytes configured\)$/);
    expect(Math.abs(Number(open.value) - 1e6)).toBeLessThan(50_000);
    expect(open.details).toEqual([{ table: 'public.orders', bytes: 1_000_000, bytesPerDay: 100_000 }]);

    const soon = await run(size + 20e6);
    expect(soon.status).toBe('warn');
    expect(soon.summary).toMatch(/limit in about (19|20) days$/);
    expect(soon.hint?.text).toContain('starting with public.orders (the fastest grower)');
    expect((await run(size + 5e6)).status).toBe('fail');
    expect((await run(size + 500e6)).status).toBe('ok');
    await h.db.batch([{ text: "DELETE FROM opsbook.snapshots WHERE kind IN ('database_size', 'table_sizes')" }], { readOnly: false });
  });

  it('a 20,000-row table read by sequential scans → missing-indexes warn with its index-use share; once an index serves its reads → ok', async () => {
    await writeAndFlush(h, [
      'CREATE TABLE seq_read (id int, v int)',
      'INSERT INTO seq_read SELECT g, g % 1000 FROM generate_series(1, 20000) g',
      'SELECT count(*) FROM seq_read WHERE v = 7',
      'SELECT count(*) FROM seq_read WHERE v = 8',
      'SELECT count(*) FROM seq_read WHERE v = 9',
    ]);
    const scans = async () =>
      (await h.db.query<{ s: number; live: number }>("SELECT seq_scan::int AS s, n_live_tup::int AS live FROM pg_stat_user_tables WHERE relname = 'seq_read'")).rows[0];
    await until(async () => ((await scans())?.s ?? 0) >= 3 && ((await scans())?.live ?? 0) >= 20_000, 'three sequential scans of seq_read');
    const before = (await diagnose(deps, config({ missingIndexMinRows: 10_000, missingIndexWarnPct: 95 }), { only: ['postgres.missing-indexes'] })).byId('postgres.missing-indexes');
    expect(before).toMatchObject({ status: 'warn', value: 1, unit: 'tables' });
    expect(before.summary).toMatch(/^1 table read mostly by sequential scans: public\.seq_read uses an index in 0 % of \d+ scans \(20000 rows\)$/);
    expect(before.details?.[0]).toMatchObject({ table: 'public.seq_read', indexScans: 0, indexUsedPct: 0, liveRows: 20_000 });
    // With pg_stat_statements (the server drivers' test databases have it), the reading statement that costs most.
    if (driver !== 'pglite') expect(before.details?.[0]?.topStatement).toMatch(/^SELECT count\(\*\) FROM seq_read WHERE v = \$1$/);
    // Smaller than the floor → not judged.
    const floor = (await diagnose(deps, config({ missingIndexMinRows: 50_000 }), { only: ['postgres.missing-indexes'] })).byId('postgres.missing-indexes');
    expect(floor).toMatchObject({ status: 'ok', value: 0 });

    await writeAndFlush(h, ['CREATE INDEX seq_read_v ON seq_read (v)']);
    await writeAndFlush(h, ['SET LOCAL enable_seqscan = off', ...Array.from({ length: 100 }, (_, i) => `SELECT count(*) FROM seq_read WHERE v = ${i}`)]);
    await until(async () => {
      const r = (await h.db.query<{ i: number }>("SELECT COALESCE(idx_scan, 0)::int AS i FROM pg_stat_user_tables WHERE relname = 'seq_read'")).rows[0];
      return (r?.i ?? 0) >= 100;
    }, 'a hundred index scans of seq_read');
    const after = (await diagnose(deps, config({ missingIndexMinRows: 10_000, missingIndexWarnPct: 95 }), { only: ['postgres.missing-indexes'] })).byId('postgres.missing-indexes');
    expect(after).toMatchObject({ status: 'ok', value: 0 });
    await writeAndFlush(h, ['DROP TABLE seq_read']);
  });

  it('clean database → every storage check ok, in two Postgres round trips', async () => {
    const report = await diagnose(deps, config(), { only: ['postgres.storage'] });
    expect(report.checks.map((c) => c.id).sort()).toEqual(
      ['postgres.bloat', 'postgres.cache-hit', 'postgres.database-size', 'postgres.growth', 'postgres.index-bloat', 'postgres.largest-indexes', 'postgres.largest-tables', 'postgres.missing-indexes', 'postgres.vacuum'].sort(),
    );
    for (const c of report.checks) expect({ id: c.id, status: c.status, summary: c.summary }).toEqual({ id: c.id, status: 'ok', summary: c.summary });
    expect(report.byId('postgres.cache-hit').summary).toMatch(/not enough reads to judge/);
    expect(report.byId('postgres.largest-tables').summary).toBe('no application tables');
    expect(report.postgresRoundTrips).toBe(2);
  });

  it('database size is reported in bytes and stored in the snapshot, with the growth since the previous one', async () => {
    const first = await diagnose(deps, config(), { only: ['postgres.database-size', 'postgres.largest-tables'], snapshot: true });
    const size = first.byId('postgres.database-size');
    expect(size.status).toBe('ok');
    expect(size.unit).toBe('bytes');
    expect(size.value).toBeGreaterThan(1024 * 1024);
    expect(first.snapshotStored).toBe(true);
    const { rows } = await h.db.query<{ kind: string; data: { bytes: number } }>(
      "SELECT kind, data FROM opsbook.snapshots WHERE kind IN ('database_size', 'table_sizes') ORDER BY taken_at DESC, kind",
    );
    const stored = rows.find((r) => r.kind === 'database_size');
    expect(stored?.data.bytes).toBe(size.value);
    expect(rows.some((r) => r.kind === 'table_sizes')).toBe(true);

    const later = new Date(Date.now() + 2 * 86_400_000);
    const second = await diagnose(deps, config(), { only: ['postgres.database-size'] }, later);
    expect(second.byId('postgres.database-size').summary).toMatch(/[+−]\d+(\.\d)? (B|kB|MB) since 2 d ago/);
  });

  it('largest tables and indexes come biggest first with exact sizes, a never-analyzed table included', async () => {
    // One table the catalog knows the size of (ANALYZE sets relpages), one it does not (never analyzed,
    // created with its index before the rows, so relpages stays 0), and small tables around them.
    await writeAndFlush(h, [
      'CREATE TABLE sized_known (id int PRIMARY KEY, pad text)',
      "INSERT INTO sized_known SELECT g, repeat('k', 200) FROM generate_series(1, 6000) g",
      'CREATE TABLE sized_unanalyzed (id int PRIMARY KEY, pad text)',
      "INSERT INTO sized_unanalyzed SELECT g, repeat('u', 200) FROM generate_series(1, 12000) g",
      ...Array.from({ length: 8 }, (_, i) => `CREATE TABLE sized_small_${i} (id int PRIMARY KEY)`),
      ...Array.from({ length: 8 }, (_, i) => `INSERT INTO sized_small_${i} VALUES (1)`),
    ]);
    await h.db.query('ANALYZE sized_known');
    for (let i = 0; i < 8; i++) await h.db.query(`ANALYZE sized_small_${i}`);
    await until(async () => (await liveTuples(h, 'sized_unanalyzed')).live === 12000, 'the unanalyzed rows');

    const report = await diagnose(deps, config({ topN: 2 }), { only: ['postgres.largest-tables', 'postgres.largest-indexes'] });
    const tables = report.byId('postgres.largest-tables');
    expect(tables.status).toBe('ok');
    expect(tables.details?.map((d) => d.table)).toEqual(['public.sized_unanalyzed', 'public.sized_known']);
    const { rows } = await h.db.query<{ total: number; heap: number }>(
      "SELECT pg_total_relation_size('sized_unanalyzed')::float8 AS total, pg_table_size('sized_unanalyzed')::float8 AS heap",
    );
    expect(tables.details?.[0]).toMatchObject({ totalBytes: rows[0]!.total, tableBytes: rows[0]!.heap, indexBytes: rows[0]!.total - rows[0]!.heap });
    expect(tables.value).toBe(rows[0]!.total);
    expect(tables.more).toBeGreaterThanOrEqual(8);
    expect(tables.summary).toMatch(/^largest table public\.sized_unanalyzed: \d/);

    const indexes = report.byId('postgres.largest-indexes');
    expect(indexes.status).toBe('ok');
    expect(indexes.details?.map((d) => d.index)).toEqual(['public.sized_unanalyzed_pkey', 'public.sized_known_pkey']);
    const idx = await h.db.query<{ b: number }>("SELECT pg_relation_size('sized_unanalyzed_pkey')::float8 AS b");
    expect(indexes.details?.[0]).toMatchObject({ table: 'public.sized_unanalyzed', bytes: idx.rows[0]!.b });
    expect(indexes.more).toBeGreaterThanOrEqual(8);
  });

  it('dead rows past the thresholds with autovacuum off for the table → warn with a VACUUM ANALYZE action', async () => {
    await writeAndFlush(h, [
      'CREATE TABLE bloated (id int PRIMARY KEY, v int) WITH (autovacuum_enabled = false)',
      'INSERT INTO bloated SELECT g, g FROM generate_series(1, 20000) g',
      'DELETE FROM bloated WHERE id > 1000',
    ]);
    await until(async () => (await liveTuples(h, 'bloated')).dead === 19000, '19,000 dead rows');

    const report = await diagnose(deps, config(), { only: ['postgres.vacuum'] });
    const r = report.byId('postgres.vacuum');
    expect(r.status).toBe('warn');
    expect(r.summary).toMatch(/needs? VACUUM: public\.bloated \(dead-tuples/);
    expect(r.details?.[0]).toMatchObject({
      table: 'public.bloated',
      deadTuples: 19000,
      liveTuples: 1000,
      deadPct: 1900,
      autovacuumDisabled: true,
      lastVacuum: null,
    });
    expect(r.details?.[0]?.reasons).toEqual(expect.arrayContaining(['dead-tuples', 'never-vacuumed']));
    expect(r.hint?.action).toEqual({
      method: 'POST',
      path: MAINTENANCE,
      body: { op: 'vacuum-analyze', table: 'public.bloated', dryRun: true },
    });
    expect(r.hint?.text).toMatch(/autovacuum/);
  });

  it('a table with many changes and never analyzed (past autovacuum\'s own trigger) → warn with an ANALYZE action', async () => {
    // Judge only this table: bring every other one up to date first.
    await vacuumAnalyze(h);
    await writeAndFlush(h, [
      'CREATE TABLE appended (id int PRIMARY KEY) WITH (autovacuum_enabled = false)',
      'INSERT INTO appended SELECT g FROM generate_series(1, 5000) g',
    ]);
    await until(async () => (await liveTuples(h, 'appended')).live === 5000, 'the appended rows');

    const report = await diagnose(deps, config(), { only: ['postgres.vacuum'] });
    const r = report.byId('postgres.vacuum');
    expect(r.status).toBe('warn');
    expect(r.value).toBe(1);
    expect(r.details).toEqual([
      expect.objectContaining({ table: 'public.appended', reasons: ['never-analyzed'], deadTuples: 0, modifiedSinceAnalyze: 5000, lastAnalyze: null }),
    ]);
    expect(r.hint?.action?.body).toEqual({ op: 'analyze', table: 'public.appended', dryRun: true });
  });

  it('after VACUUM ANALYZE (what the hint names) → ok', async () => {
    await vacuumAnalyze(h);
    await until(async () => (await liveTuples(h, 'bloated')).dead === 0, 'the vacuumed table');
    const report = await diagnose(deps, config(), { only: ['postgres.vacuum'] });
    const r = report.byId('postgres.vacuum');
    expect(r.status).toBe('ok');
    expect(r.value).toBe(0);
  });

  it('cache hit rate on real reads (rows written and read back in memory) → ok with both rates judged', async () => {
    // Counters start now, so only this test's reads are judged. (PostgreSQL 15 counts every page a bulk
    // insert adds as a block read, so earlier tests' loads would weigh on the rate; 16+ does not.)
    await writeAndFlush(h, [
      'SELECT pg_stat_reset()',
      'CREATE TABLE cached (id int PRIMARY KEY, v int)',
      'INSERT INTO cached SELECT g, g FROM generate_series(1, 20000) g',
      'SELECT count(*) FROM cached',
      'SELECT count(*) FROM cached',
    ]);
    await until(async () => {
      const { rows } = await h.db.query<{ n: number }>(
        "SELECT (heap_blks_hit + COALESCE(idx_blks_hit, 0))::float8 AS n FROM pg_statio_user_tables WHERE relname = 'cached'",
      );
      return (rows[0]?.n ?? 0) > 20_000;
    }, 'the cached table being read');
    const report = await diagnose(deps, config({ cacheHitWarnPct: 99 }), { only: ['postgres.cache-hit'] });
    const r = report.byId('postgres.cache-hit');
    expect(r.status).toBe('ok');
    expect(r.summary).toMatch(/^cache hit rate tables \d+\.\d\d %, indexes \d+\.\d\d %$/);
    expect(r.value).toBeGreaterThanOrEqual(99);
    expect(r.unit).toBe('%');
  });
});
