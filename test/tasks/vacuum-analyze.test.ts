import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../lib/deps.js';
import { vacuumAnalyzeTask } from '../../lib/tasks/vacuum-analyze.js';
import { depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { NOW, taskContext, until } from './context.js';

describe.each(DB_DRIVERS)('vacuum-analyze over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    // Open the database outside the tests (PGlite runs initdb on its first call).
    await h.db.query('SELECT 1');
  });
  afterAll(async () => {
    await h?.close();
  });

  interface TableState {
    bytes: number;
    reltuples: number;
    dead: number;
  }

  async function state(schema: string, name: string): Promise<TableState> {
    const { rows } = await h.db.query<Record<string, unknown>>(
      `SELECT pg_relation_size(c.oid)::float8 AS bytes, c.reltuples::float8 AS reltuples, COALESCE(pg_stat_get_dead_tuples(c.oid), 0)::float8 AS dead
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
      [schema, name],
    );
    const r = rows[0]!;
    return { bytes: Number(r.bytes), reltuples: Number(r.reltuples), dead: Number(r.dead) };
  }

  /**
   * 5,000 rows, then the last 4,000 deleted: dead rows at the end of the heap, which VACUUM reclaims and
   * truncates away. Autovacuum is off so only the task vacuums; the deleting session flushes its
   * statistics and the test waits until they show the dead rows.
   */
  async function bloated(quoted: string, schema: string, name: string): Promise<TableState> {
    await h.db.batch(
      [
        { text: `CREATE TABLE ${quoted} (id int, pad text) WITH (autovacuum_enabled = false)` },
        { text: `INSERT INTO ${quoted} SELECT g, repeat('x', 100) FROM generate_series(1, 5000) g` },
      ],
      { readOnly: false },
    );
    await h.db.batch([{ text: `DELETE FROM ${quoted} WHERE id > 1000` }, { text: 'SELECT pg_stat_force_next_flush()' }], { readOnly: false });
    await until(async () => (await state(schema, name)).dead === 4000, `4000 dead rows in ${quoted}`);
    return state(schema, name);
  }

  it('a table with dead rows → vacuumed: dead rows reclaimed, the empty tail truncated, statistics refreshed', async () => {
    const before = await bloated('va_events', 'public', 'va_events');
    expect(before.reltuples).toBe(-1);
    const { ctx, lines } = taskContext(deps);
    const outcome = await vacuumAnalyzeTask.run(ctx, { task: 'vacuum-analyze', tables: ['va_events'] }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toMatch(/^vacuumed and analyzed 1 of 1 table\(s\) in /);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^VACUUM \(ANALYZE\) "public"\."va_events": .* \(1\/1\)$/);
    await until(async () => (await state('public', 'va_events')).dead === 0, 'the dead rows gone');
    const after = await state('public', 'va_events');
    expect(after.bytes).toBeLessThan(before.bytes / 2);
    expect(after.reltuples).toBe(1000);
  });

  it('several tables → each vacuumed separately, in the order given, a progress line each', async () => {
    await bloated('va_first', 'public', 'va_first');
    await bloated('"VaSecond"', 'public', 'VaSecond');
    const { ctx, lines } = taskContext(deps);
    const outcome = await vacuumAnalyzeTask.run(ctx, { task: 'vacuum-analyze', tables: ['"VaSecond"', 'public.va_first'] }, NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 2 });
    expect(lines.map((l) => l.replace(/: .* \(/, ': … ('))).toEqual(['VACUUM (ANALYZE) "public"."VaSecond": … (1/2)', 'VACUUM (ANALYZE) "public"."va_first": … (2/2)']);
    expect((await state('public', 'VaSecond')).reltuples).toBe(1000);
    expect((await state('public', 'va_first')).reltuples).toBe(1000);
  });

  it('no tables → the whole database, a table with dead rows included', async () => {
    await h.db.batch([{ text: 'CREATE SCHEMA va_app' }], { readOnly: false });
    const before = await bloated('va_app.whole_db', 'va_app', 'whole_db');
    const { ctx, lines } = taskContext(deps);
    const outcome = await vacuumAnalyzeTask.run(ctx, { task: 'vacuum-analyze' }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toMatch(/^vacuumed and analyzed (\d+) of \1 table\(s\) \(whole database\) in /);
    expect(lines.some((l) => l.startsWith('VACUUM (ANALYZE) "va_app"."whole_db":'))).toBe(true);
    const after = await state('va_app', 'whole_db');
    expect(after.bytes).toBeLessThan(before.bytes / 2);
    expect(after.reltuples).toBe(1000);
  });

  it('dry run → says which tables it would vacuum and leaves the dead rows', async () => {
    const before = await bloated('va_dry', 'public', 'va_dry');
    const { ctx, lines } = taskContext(deps, { dryRun: true });
    const outcome = await vacuumAnalyzeTask.run(ctx, { task: 'vacuum-analyze', tables: ['va_dry'] }, NOW);
    expect(outcome).toMatchObject({
      status: 'ok',
      summary: 'dry run: would run VACUUM (ANALYZE) on 1 table(s), one at a time',
      details: [{ table: '"public"."va_dry"', statement: 'VACUUM (ANALYZE) "public"."va_dry"' }],
    });
    expect(lines).toEqual([]);
    expect(await state('public', 'va_dry')).toEqual(before);
  });

  it('an unknown table or a name with SQL in it → an error outcome and nothing vacuumed', async () => {
    const before = await bloated('va_guarded', 'public', 'va_guarded');
    const outcome = await vacuumAnalyzeTask.run(taskContext(deps).ctx, { task: 'vacuum-analyze', tables: ['va_guarded', 'va_missing', '"va_guarded"" ; VACUUM FULL"'] }, NOW);
    expect(outcome).toMatchObject({
      status: 'error',
      summary: 'nothing was done: "va_missing": no table "public"."va_missing"; "\\"va_guarded\\"\\" ; VACUUM FULL\\"": no table "public"."va_guarded"" ; VACUUM FULL"',
    });
    expect(await state('public', 'va_guarded')).toEqual(before);
  });
});
