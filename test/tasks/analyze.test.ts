import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../lib/deps.js';
import { analyzeTask } from '../../lib/tasks/analyze.js';
import { depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { NOW, taskContext } from './context.js';

describe.each(DB_DRIVERS)('analyze over %s', (driver) => {
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

  /**
   * A table that was never analyzed (pg_class.reltuples = -1 until ANALYZE or VACUUM sets it), with
   * autovacuum off so nothing but the task can analyze it during the test.
   */
  async function freshTable(quoted: string, rows: number): Promise<void> {
    await h.db.batch(
      [
        { text: `CREATE TABLE ${quoted} (id int, note text) WITH (autovacuum_enabled = false)` },
        { text: `INSERT INTO ${quoted} SELECT g, 'n' || g FROM generate_series(1, $1::int) g`, params: [rows] },
      ],
      { readOnly: false },
    );
  }

  async function reltuples(schema: string, name: string): Promise<number> {
    const { rows } = await h.db.query<{ n: number }>(
      'SELECT c.reltuples::float8 AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2',
      [schema, name],
    );
    return Number(rows[0]!.n);
  }

  it('named tables, one quoted and mixed-case → each analyzed (reltuples set), a progress line each', async () => {
    await freshTable('an_orders', 1000);
    await freshTable('"Order Items"', 500);
    expect(await reltuples('public', 'an_orders')).toBe(-1);
    const { ctx, lines } = taskContext(deps);
    const outcome = await analyzeTask.run(ctx, { task: 'analyze', tables: ['an_orders', '"public"."Order Items"'] }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.value).toBe(2);
    expect(outcome.summary).toMatch(/^analyzed 2 of 2 table\(s\) in \d/);
    expect(outcome.details?.map((d) => d.table)).toEqual(['"public"."an_orders"', '"public"."Order Items"']);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ANALYZE "public"\."an_orders": .* \(1\/2\)$/);
    expect(lines[1]).toMatch(/^ANALYZE "public"\."Order Items": .* \(2\/2\)$/);
    expect(await reltuples('public', 'an_orders')).toBe(1000);
    expect(await reltuples('public', 'Order Items')).toBe(500);
  });

  it('the same table named twice is analyzed once', async () => {
    await freshTable('an_twice', 10);
    const outcome = await analyzeTask.run(taskContext(deps).ctx, { task: 'analyze', tables: ['an_twice', 'public.an_twice', '"public"."an_twice"'] }, NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 1 });
  });

  it('no tables → the whole database, every table the role owns', async () => {
    await h.db.batch([{ text: 'CREATE SCHEMA an_app' }], { readOnly: false });
    await freshTable('an_app.whole_db', 300);
    const { ctx, lines } = taskContext(deps);
    const outcome = await analyzeTask.run(ctx, { task: 'analyze' }, NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toMatch(/^analyzed (\d+) of \1 table\(s\) \(whole database\) in /);
    expect(lines.some((l) => l.startsWith('ANALYZE "an_app"."whole_db":'))).toBe(true);
    expect(await reltuples('an_app', 'whole_db')).toBe(300);
  });

  it('no time left in the task limit → no table is started, a warning lists them as not reached', async () => {
    await freshTable('an_no_time', 10);
    const { ctx, lines } = taskContext(deps, { timeoutMs: 0 });
    const outcome = await analyzeTask.run(ctx, { task: 'analyze', tables: ['an_no_time'] }, NOW);
    expect(outcome.status).toBe('warn');
    expect(outcome.summary).toMatch(/^analyzed 0 of 1 table\(s\) in .*; 1 not reached before the time limit$/);
    expect(outcome.details).toEqual([{ table: '"public"."an_no_time"', result: 'not reached (time limit)' }]);
    expect(lines).toEqual([]);
    expect(await reltuples('public', 'an_no_time')).toBe(-1);
  });

  it('dry run → lists the statements it would run and analyzes nothing', async () => {
    await freshTable('an_dry', 200);
    const { ctx, lines } = taskContext(deps, { dryRun: true });
    const outcome = await analyzeTask.run(ctx, { task: 'analyze', tables: ['an_dry'] }, NOW);
    expect(outcome).toMatchObject({
      status: 'ok',
      value: 1,
      summary: 'dry run: would run ANALYZE on 1 table(s), one at a time',
      details: [{ table: '"public"."an_dry"', statement: 'ANALYZE "public"."an_dry"' }],
    });
    expect(lines).toEqual([]);
    expect(await reltuples('public', 'an_dry')).toBe(-1);

    const whole = await analyzeTask.run(taskContext(deps, { dryRun: true }).ctx, { task: 'analyze' }, NOW);
    expect(whole.summary).toMatch(/^dry run: would run ANALYZE on \d+ table\(s\) \(whole database\)/);
    expect(await reltuples('public', 'an_dry')).toBe(-1);
  });

  it('one bad name among good ones → an error outcome naming it, and no table is analyzed', async () => {
    await freshTable('an_untouched', 100);
    await h.db.batch([{ text: 'CREATE VIEW an_view AS SELECT 1 AS one' }], { readOnly: false });
    const outcome = await analyzeTask.run(
      taskContext(deps).ctx,
      { task: 'analyze', tables: ['an_untouched', 'no_such_table', '"a"";DROP"', 'an_view', 'An_Untouched_Typo'] },
      NOW,
    );
    expect(outcome.status).toBe('error');
    expect(outcome.summary).toBe(
      'nothing was done: "no_such_table": no table "public"."no_such_table"; "\\"a\\"\\";DROP\\"": no table "public"."a"";DROP"; ' +
        '"public"."an_view" is a view, not a table or partitioned table or materialized view; "An_Untouched_Typo": no table "public"."an_untouched_typo"',
    );
    expect(await reltuples('public', 'an_untouched')).toBe(-1);
  });

  it('a statement glued to a name that skipped the config → an error outcome, nothing run', async () => {
    await freshTable('an_guarded', 50);
    const outcome = await analyzeTask.run(taskContext(deps).ctx, { task: 'analyze', tables: ['an_guarded; DROP TABLE an_guarded'] }, NOW);
    expect(outcome).toMatchObject({ status: 'error', summary: 'nothing was done: "an_guarded; DROP TABLE an_guarded": invalid table name (unexpected ";" after "an_guarded")' });
    expect(await reltuples('public', 'an_guarded')).toBe(-1);
  });
});
