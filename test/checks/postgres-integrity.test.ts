import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { gradeWraparound, WRAPAROUND_FAIL_REMAINING, XID_LIMIT } from '../../lib/checks/postgres/integrity.js';
import type { Deps } from '../../lib/deps.js';
import type { Statement } from '../../lib/db/index.js';
import { createNeonDb } from '../../lib/db/neon.js';
import { createPgDb } from '../../lib/db/pg.js';
import { diagnose, depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, DEFAULT_LIMITS, openDb, type DbHarness } from '../support/drivers.js';
import { pgUrlFor } from '../support/services.js';

const MAINTENANCE = '/api/admin/db/maintenance';

/** Thresholds written out in every test, so a changed default cannot silently change what a test means. */
const THRESHOLDS = {
  wraparoundWarnRemaining: 1_500_000_000,
  sequenceWarnPct: 90,
  unusedIndexMinBytes: 10 * 1024 * 1024,
  topN: 10,
} as const;

function config(overrides: Record<string, number> = {}) {
  return { checks: { postgres: { thresholds: { ...THRESHOLDS, ...overrides } } } };
}

/** Writes and a stats flush in one session, so pg_stat_* shows them without waiting for the idle flush. */
async function writeAndFlush(h: DbHarness, statements: string[], readOnly = false): Promise<void> {
  const list: Statement[] = [...statements.map((text) => ({ text })), { text: 'SELECT pg_stat_force_next_flush()' }];
  await h.db.batch(list, { readOnly });
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
 * A statement that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY): on the server
 * drivers on its own connection to the same database (Neon's HTTP driver wraps every query in a
 * transaction); PGlite runs a single query outside any transaction block.
 */
async function outsideTransaction(h: DbHarness, text: string): Promise<void> {
  if (!h.database) {
    await h.db.query(text);
    return;
  }
  const client = new pg.Client({ connectionString: h.database.url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

describe('wraparound grading (an old datfrozenxid takes ~1 billion transactions to arrange for real)', () => {
  it.each([
    { remaining: XID_LIMIT - 1000, status: 'ok' },
    { remaining: 1_500_000_000, status: 'ok' },
    { remaining: 1_499_999_999, status: 'warn' },
    { remaining: WRAPAROUND_FAIL_REMAINING, status: 'warn' },
    { remaining: WRAPAROUND_FAIL_REMAINING - 1, status: 'fail' },
    { remaining: 40_000_000, status: 'fail' },
  ])('$remaining transactions left → $status', ({ remaining, status }) => {
    expect(gradeWraparound(remaining, 1_500_000_000)).toBe(status);
  });

  it('the fail line is 10 % of the transaction ID space', () => {
    expect(WRAPAROUND_FAIL_REMAINING).toBe(214_748_364);
  });
});

describe.each(DB_DRIVERS)('postgres integrity checks over %s', (driver) => {
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

  it('clean database → every integrity check ok, in two Postgres round trips', async () => {
    const report = await diagnose(deps, config({ unusedIndexMinBytes: 8192 }), { only: ['postgres.integrity'] });
    expect(report.checks.map((c) => c.id).sort()).toEqual(
      [
        'postgres.duplicate-indexes',
        'postgres.invalid-constraints',
        'postgres.invalid-indexes',
        'postgres.sequences',
        'postgres.unused-indexes',
        'postgres.wraparound',
      ].sort(),
    );
    for (const c of report.checks) expect({ id: c.id, status: c.status, summary: c.summary }).toEqual({ id: c.id, status: 'ok', summary: c.summary });
    expect(report.postgresRoundTrips).toBe(2);

    const wrap = report.byId('postgres.wraparound');
    expect(wrap.unit).toBe('transactions');
    expect(wrap.value).toBeGreaterThan(2_000_000_000);
    // Only the worst database is named (a read token does not get the server's list), with the count.
    expect(wrap.details).toHaveLength(1);
    expect(wrap.details![0]).toMatchObject({ database: expect.any(String), current: expect.any(Boolean) });
    expect(wrap.summary).toMatch(/million transaction IDs left before wraparound in \S+ \([\d.]+ % of the space\)(, the worst of \d+ databases)?$/);
  });

  it('an index whose columns lead another on the same table → warn naming both, with the DROP to run', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE dup_t (x int, y int)' },
        { text: 'INSERT INTO dup_t SELECT g, g FROM generate_series(1, 1000) g' },
        { text: 'CREATE INDEX dup_a ON dup_t (x)' },
        { text: 'CREATE INDEX dup_b ON dup_t (x, y)' },
      ],
      { readOnly: false },
    );
    const report = await diagnose(deps, config(), { only: ['postgres.duplicate-indexes'] });
    const r = report.byId('postgres.duplicate-indexes');
    expect(r.status).toBe('warn');
    expect(r.value).toBe(1);
    const { rows } = await h.db.query<{ a: number; b: number }>("SELECT pg_relation_size('dup_a')::float8 AS a, pg_relation_size('dup_b')::float8 AS b");
    expect(r.details).toEqual([
      expect.objectContaining({
        unneeded: 'public.dup_a',
        coveredBy: 'public.dup_b',
        table: 'public.dup_t',
        unneededBytes: rows[0]!.a,
        coveringBytes: rows[0]!.b,
        sql: 'DROP INDEX CONCURRENTLY public.dup_a;',
      }),
    ]);
    expect(r.summary).toMatch(/public\.dup_a is covered by public\.dup_b/);
    expect(r.hint?.text).toMatch(/DROP INDEX CONCURRENTLY public\.dup_a;/);
    expect(r.hint?.action).toBeUndefined();
  });

  it('a unique index is never reported as covered by a wider one; a plain index under a unique one is', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE uniq_t (x int, y int, z int)' },
        { text: 'CREATE UNIQUE INDEX uniq_x ON uniq_t (x)' },
        { text: 'CREATE INDEX uniq_t_xy ON uniq_t (x, y)' },
        { text: 'CREATE INDEX uniq_t_x_desc ON uniq_t (x DESC)' },
        { text: 'CREATE INDEX uniq_t_x_partial ON uniq_t (x) WHERE z > 0' },
        { text: 'CREATE UNIQUE INDEX uniq_z ON uniq_t (z)' },
        { text: 'CREATE INDEX uniq_t_z ON uniq_t (z)' },
      ],
      { readOnly: false },
    );
    const report = await diagnose(deps, config({ topN: 50 }), { only: ['postgres.duplicate-indexes'] });
    const pairs = (report.byId('postgres.duplicate-indexes').details ?? []).filter((d) => d.table === 'public.uniq_t').map((d) => [d.unneeded, d.coveredBy]);
    // uniq_x (unique) is not "covered" by uniq_t_xy: dropping it would drop the constraint. A DESC or a
    // partial index serves other queries. The plain index on z duplicates the unique one on z.
    expect(pairs).toEqual([['public.uniq_t_z', 'public.uniq_z']]);
  });

  it('an index never scanned and past the size threshold → warn; once a query uses it → no longer listed', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE idle_t (id int PRIMARY KEY, v int)' },
        { text: 'INSERT INTO idle_t SELECT g, g % 100 FROM generate_series(1, 5000) g' },
        { text: 'CREATE INDEX idle_v ON idle_t (v)' },
      ],
      { readOnly: false },
    );
    const cfg = config({ unusedIndexMinBytes: 8192, topN: 50 });
    const report = await diagnose(deps, cfg, { only: ['postgres.unused-indexes'] });
    const r = report.byId('postgres.unused-indexes');
    expect(r.status).toBe('warn');
    const { rows } = await h.db.query<{ b: number }>("SELECT pg_relation_size('idle_v')::float8 AS b");
    expect(r.details).toContainEqual(
      expect.objectContaining({ index: 'public.idle_v', table: 'public.idle_t', bytes: rows[0]!.b, scans: 0, sql: 'DROP INDEX CONCURRENTLY public.idle_v;' }),
    );
    // The primary key enforces a constraint: never "unused".
    expect(r.details?.some((d) => d.index === 'public.idle_t_pkey')).toBe(false);
    expect(r.summary).toMatch(/no scans since the statistics (were reset on \d{4}-\d\d-\d\d|began \(never reset)/);
    expect(r.hint?.text).toMatch(/replica/);

    await writeAndFlush(h, ['SET LOCAL enable_seqscan = off', 'SELECT count(*) FROM idle_t WHERE v = 7'], true);
    await until(async () => {
      const s = await h.db.query<{ n: number }>("SELECT idx_scan::int AS n FROM pg_stat_user_indexes WHERE indexrelname = 'idle_v'");
      return (s.rows[0]?.n ?? 0) > 0;
    }, 'a scan of idle_v');
    const after = (await diagnose(deps, cfg, { only: ['postgres.unused-indexes'] })).byId('postgres.unused-indexes');
    expect(after.details?.some((d) => d.index === 'public.idle_v') ?? false).toBe(false);
  });

  it('an unused index under the size threshold → not listed', async () => {
    await h.db.batch(
      [{ text: 'CREATE TABLE tiny_t (v int)' }, { text: 'INSERT INTO tiny_t VALUES (1)' }, { text: 'CREATE INDEX tiny_v ON tiny_t (v)' }],
      { readOnly: false },
    );
    const report = await diagnose(deps, config({ unusedIndexMinBytes: 10 * 1024 * 1024 }), { only: ['postgres.unused-indexes'] });
    const r = report.byId('postgres.unused-indexes');
    expect(r.status).toBe('ok');
    expect(r.summary).toMatch(/^no unused index of 10 MB or more/);
  });

  it('a failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index → fail with a REINDEX action', async () => {
    await h.db.batch(
      [{ text: 'CREATE TABLE inv_t (x int)' }, { text: 'INSERT INTO inv_t SELECT g % 10 FROM generate_series(1, 100) g' }],
      { readOnly: false },
    );
    // Real, on every driver (PGlite supports CONCURRENTLY): the duplicates make the build fail after the
    // index was already registered, so it stays behind, invalid.
    await expect(outsideTransaction(h, 'CREATE UNIQUE INDEX CONCURRENTLY inv_x ON inv_t (x)')).rejects.toThrow(/could not create unique index/);
    const check = await h.db.query<{ valid: boolean }>("SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'inv_x'::regclass");
    expect(check.rows[0]?.valid).toBe(false);

    const report = await diagnose(deps, config(), { only: ['postgres.invalid-indexes'] });
    const r = report.byId('postgres.invalid-indexes');
    expect(r.status).toBe('fail');
    expect(r.value).toBe(1);
    expect(r.summary).toMatch(/^1 invalid index: public\.inv_x on public\.inv_t/);
    expect(r.details?.[0]).toMatchObject({ index: 'public.inv_x', table: 'public.inv_t', unique: true, beingBuilt: false });
    expect(String(r.details?.[0]?.definition)).toMatch(/CREATE UNIQUE INDEX inv_x ON public\.inv_t USING btree \(x\)/);
    expect(r.hint?.action).toEqual({ method: 'POST', path: MAINTENANCE, body: { op: 'reindex', table: 'public.inv_t', dryRun: true } });
    expect(r.hint?.text).toMatch(/duplicate values/);

    // What the hint says: drop it; the check is clean again.
    await outsideTransaction(h, 'DROP INDEX CONCURRENTLY inv_x');
    expect((await diagnose(deps, config(), { only: ['postgres.invalid-indexes'] })).byId('postgres.invalid-indexes').status).toBe('ok');
  });

  it('a constraint added NOT VALID → warn with the VALIDATE CONSTRAINT to run; after running it → ok', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE con_t (x int)' },
        { text: 'INSERT INTO con_t VALUES (-1), (1)' },
        { text: 'ALTER TABLE con_t ADD CONSTRAINT con_t_positive CHECK (x > 0) NOT VALID' },
      ],
      { readOnly: false },
    );
    const report = await diagnose(deps, config(), { only: ['postgres.invalid-constraints'] });
    const r = report.byId('postgres.invalid-constraints');
    expect(r.status).toBe('warn');
    expect(r.value).toBe(1);
    expect(r.details?.[0]).toMatchObject({
      constraint: 'con_t_positive',
      kind: 'check',
      on: 'public.con_t',
      sql: 'ALTER TABLE public.con_t VALIDATE CONSTRAINT con_t_positive;',
    });
    expect(r.hint?.text).toContain('ALTER TABLE public.con_t VALIDATE CONSTRAINT con_t_positive;');

    // The row that violates it makes VALIDATE fail, as the hint warns; fixed, the hinted SQL succeeds.
    await expect(h.db.query(String(r.details?.[0]?.sql))).rejects.toThrow(/violated/);
    await h.db.query('DELETE FROM con_t WHERE x <= 0');
    await h.db.query(String(r.details?.[0]?.sql));
    expect((await diagnose(deps, config(), { only: ['postgres.invalid-constraints'] })).byId('postgres.invalid-constraints').status).toBe('ok');
  });

  it('an int4 serial sequence at 2,000,000,000 → warn at 93 % of its range, with the ALTER to widen it', async () => {
    await h.db.batch(
      [{ text: 'CREATE TABLE seq_t (id serial PRIMARY KEY, v int)' }, { text: "SELECT setval('seq_t_id_seq', 2000000000)" }],
      { readOnly: false },
    );
    const report = await diagnose(deps, config({ sequenceWarnPct: 90 }), { only: ['postgres.sequences'] });
    const r = report.byId('postgres.sequences');
    expect(r.status).toBe('warn');
    expect(r.value).toBe(93.13);
    expect(r.unit).toBe('%');
    expect(r.details?.[0]).toMatchObject({
      sequence: 'public.seq_t_id_seq',
      sequenceType: 'integer',
      column: 'public.seq_t.id',
      columnType: 'integer',
      lastValue: 2_000_000_000,
      limit: 2_147_483_647,
      usedPct: 93.13,
    });
    expect(r.summary).toMatch(/^1 sequence past 90 % of its limit: public\.seq_t\.id at 93\.13 %/);
    expect(r.hint?.text).toMatch(/ALTER SEQUENCE public\.seq_t_id_seq AS bigint; ALTER TABLE public\.seq_t ALTER COLUMN id TYPE bigint/);
  });

  it('a bigint sequence feeding an int4 column is judged against the column (2^31 - 1), and past 99 % fails', async () => {
    await h.db.batch(
      [
        { text: 'CREATE SEQUENCE wide_seq AS bigint' },
        { text: "CREATE TABLE narrow_t (id int DEFAULT nextval('wide_seq'), v int)" },
        { text: "SELECT setval('wide_seq', 2140000000)" },
        // A bigint sequence on a bigint column at the same value is nowhere near its limit.
        { text: 'CREATE TABLE roomy_t (id bigserial PRIMARY KEY)' },
        { text: "SELECT setval('roomy_t_id_seq', 2140000000)" },
        // Never used: last_value is NULL, which is not an error and not a risk.
        { text: 'CREATE SEQUENCE unused_seq AS int' },
      ],
      { readOnly: false },
    );
    const report = await diagnose(deps, config({ sequenceWarnPct: 90, topN: 10 }), { only: ['postgres.sequences'] });
    const r = report.byId('postgres.sequences');
    expect(r.status).toBe('fail');
    expect(r.details?.[0]).toMatchObject({
      sequence: 'public.wide_seq',
      sequenceType: 'bigint',
      column: 'public.narrow_t.id',
      columnType: 'integer',
      limitedBy: 'column',
      limit: 2_147_483_647,
      usedPct: 99.65,
    });
    expect(r.details?.map((d) => d.sequence)).not.toContain('public.roomy_t_id_seq');
    expect(r.details?.map((d) => d.sequence)).not.toContain('public.unused_seq');
    expect(r.summary).toMatch(/the integer column's maximum/);
    expect(r.hint?.text).toMatch(/^Widen the column: ALTER TABLE public\.narrow_t ALTER COLUMN id TYPE bigint/);
  });
});

/** PGlite is one embedded superuser session: a second, unprivileged role is arranged on the server drivers. */
describe.each(['pg', 'neon'] as const)('postgres integrity checks as an unprivileged role over %s', (driver) => {
  let h: DbHarness;
  const role = `opsbook_ro_${randomBytes(4).toString('hex')}`;
  beforeAll(async () => {
    h = await openDb(driver);
    await h.database!.admin.query(`CREATE ROLE ${role} LOGIN`);
    await h.database!.admin.query("CREATE TABLE ro_t (id serial PRIMARY KEY); SELECT setval('ro_t_id_seq', 2000000000)");
  });
  afterAll(async () => {
    await h?.close();
    // Roles are cluster-wide: drop it once its database is gone.
    const { Client } = pg;
    const c = new Client({ connectionString: pgUrlFor('postgres') });
    await c.connect();
    await c.query(`DROP ROLE IF EXISTS ${role}`).finally(() => c.end());
  });

  function roleDb() {
    return driver === 'pg'
      ? createPgDb(pgUrlFor(h.database!.name, role), DEFAULT_LIMITS)
      : createNeonDb(h.neon!.connectionString(h.database!.name, role), DEFAULT_LIMITS, { fetchEndpoint: h.neon!.fetchEndpoint });
  }

  it('sequences it may not read → skipped with the GRANT to run; every other check still runs in two round trips; granted → judged', async () => {
    const db = roleDb();
    try {
      const deps = await depsFor(db);
      const report = await diagnose(deps, config({ sequenceWarnPct: 90 }), { only: ['postgres.storage', 'postgres.integrity'] });
      const seq = report.byId('postgres.sequences');
      expect(seq.status).toBe('skipped');
      expect(seq.summary).toBe(`1 sequence, none readable by role ${role}`);
      expect(seq.hint?.text).toMatch(new RegExp(`^GRANT SELECT ON ALL SEQUENCES IN SCHEMA <schema> TO ${role}`));
      // No statement failed for lack of privileges: the merged batch was not split.
      expect(report.postgresRoundTrips).toBe(2);
      expect(report.checks.filter((c) => c.status === 'error')).toEqual([]);

      await h.database!.admin.query(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
      const granted = (await diagnose(deps, config({ sequenceWarnPct: 90 }), { only: ['postgres.sequences'] })).byId('postgres.sequences');
      expect(granted.status).toBe('warn');
      expect(granted.value).toBe(93.13);
    } finally {
      await db.close();
    }
  });
});
