import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../lib/deps.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { retentionDeleteTask, type RetentionDeleteParams } from '../../lib/tasks/retention-delete.js';
import { depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { daysBefore, NOW, taskContext } from './context.js';

const CUTOFF_90 = daysBefore(90);

describe.each(DB_DRIVERS)('retention-delete over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    await h?.close();
  });

  /** A table of `old` rows older than 90 days (the oldest 200 days back) and `recent` ones from 10 days back. */
  async function eventsTable(name: string, old: number, recent: number): Promise<void> {
    await h.db.batch(
      [
        { text: `CREATE TABLE ${name} (id bigserial PRIMARY KEY, created_at timestamptz NOT NULL, note text)` },
        {
          text: `INSERT INTO ${name} (created_at, note) SELECT $1::timestamptz - g * interval '1 minute', 'old ' || g FROM generate_series(1, $2::int) g`,
          params: [daysBefore(100).toISOString(), old],
        },
        { text: `INSERT INTO ${name} (created_at, note) SELECT $1::timestamptz, 'recent' FROM generate_series(1, $2::int)`, params: [daysBefore(10).toISOString(), recent] },
      ],
      { readOnly: false },
    );
  }

  async function counts(table: string): Promise<{ old: number; recent: number }> {
    const { rows } = await h.db.query<{ old: number; recent: number }>(
      `SELECT count(*) FILTER (WHERE created_at < $1)::int AS old, count(*) FILTER (WHERE created_at >= $1)::int AS recent FROM ${table}`,
      [CUTOFF_90.toISOString()],
    );
    return rows[0]!;
  }

  async function auditRows(target: string): Promise<Array<{ actor: string; role: string; params: Record<string, unknown>; after: { deleted: number }; result: string }>> {
    const { rows } = await h.db.query<{ actor: string; role: string; params: unknown; after: unknown; result: string }>(
      `SELECT actor, role, params, after, result FROM opsbook.audit_log WHERE action = 'retention-delete' AND target = $1 ORDER BY id`,
      [target],
    );
    // Neon's HTTP driver and the others both decode jsonb; normalise in case one hands back text.
    const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
    return rows.map((r) => ({ ...r, params: json(r.params), after: json(r.after) }));
  }

  const params = (p: Partial<RetentionDeleteParams> & Pick<RetentionDeleteParams, 'tables' | 'column'>): RetentionDeleteParams => ({
    task: 'retention-delete',
    olderThanDays: 90,
    batchSize: 1000,
    maxBatches: 100,
    ...p,
  });

  it('2,500 rows past the cutoff with batchSize 1000 → deleted in 3 batches, 3 audit rows, newer rows untouched', async () => {
    await eventsTable('rd_audit_logs', 2500, 300);
    const { ctx, lines } = taskContext(deps);
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_audit_logs'], column: 'created_at' }), NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.value).toBe(2500);
    expect(outcome.summary).toMatch(/^deleted 2500 "public"\."rd_audit_logs" rows with "created_at" before 2025-03-17T12:00:00\.000Z \(older than 90 d\) in 3 batch\(es\)/);
    expect(lines).toEqual([
      'retention-delete "public"."rd_audit_logs": batch 1 deleted 1000 (1000 so far)',
      'retention-delete "public"."rd_audit_logs": batch 2 deleted 1000 (2000 so far)',
      'retention-delete "public"."rd_audit_logs": batch 3 deleted 500 (2500 so far)',
    ]);
    expect(await counts('rd_audit_logs')).toEqual({ old: 0, recent: 300 });
    const audit = await auditRows('"public"."rd_audit_logs"');
    expect(audit.map((a) => a.after.deleted)).toEqual([1000, 1000, 500]);
    for (const a of audit) {
      expect(a).toMatchObject({ actor: 'checklist', role: 'system', result: 'ok', params: { column: 'created_at', olderThanDays: 90, batchSize: 1000 } });
    }
  });

  it('the cutoff is the injected now minus olderThanDays: a row exactly at it stays, one a millisecond older goes', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE rd_boundary (id int PRIMARY KEY, created_at timestamptz NOT NULL)' },
        {
          text: 'INSERT INTO rd_boundary VALUES (1, $1), (2, $2), (3, $3)',
          params: [new Date(CUTOFF_90.getTime() - 1).toISOString(), CUTOFF_90.toISOString(), new Date(CUTOFF_90.getTime() + 1).toISOString()],
        },
      ],
      { readOnly: false },
    );
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_boundary'], column: 'created_at' }), NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 1 });
    const { rows } = await h.db.query<{ id: number }>('SELECT id FROM rd_boundary ORDER BY id');
    expect(rows.map((r) => r.id)).toEqual([2, 3]);
  });

  it('stops at maxBatches and warns "more remain" with the count left', async () => {
    await eventsTable('rd_capped', 2500, 10);
    const { ctx, lines } = taskContext(deps);
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_capped'], column: 'created_at', maxBatches: 2 }), NOW);
    expect(outcome.status).toBe('warn');
    expect(outcome.value).toBe(2000);
    expect(outcome.summary).toMatch(/stopped after maxBatches \(2\), more remain: 500$/);
    expect(outcome.hint?.text).toMatch(/next runs/);
    expect(lines).toHaveLength(2);
    expect(await counts('rd_capped')).toEqual({ old: 500, recent: 10 });
    expect((await auditRows('"public"."rd_capped"')).map((a) => a.after.deleted)).toEqual([1000, 1000]);
  });

  it('no time left in the task limit → no batch starts, a warning counts what remains', async () => {
    await eventsTable('rd_no_time', 30, 3);
    const { ctx, lines } = taskContext(deps, { timeoutMs: 0 });
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_no_time'], column: 'created_at' }), NOW);
    expect(outcome.status).toBe('warn');
    expect(outcome.summary).toMatch(/in 0 batch\(es\), .*; stopped before the time limit, more remain: 30$/);
    expect(lines).toEqual([]);
    expect(await counts('rd_no_time')).toEqual({ old: 30, recent: 3 });
  });

  it('a last full batch that empties the backlog at maxBatches → ok, nothing remains', async () => {
    await eventsTable('rd_exact', 2000, 5);
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_exact'], column: 'created_at', maxBatches: 2 }), NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 2000 });
    expect(await counts('rd_exact')).toEqual({ old: 0, recent: 5 });
  });

  it('nothing older than the cutoff → ok, no batch and no audit row', async () => {
    await eventsTable('rd_fresh', 0, 20);
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_fresh'], column: 'created_at' }), NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 0 });
    expect(outcome.summary).toMatch(/^nothing to delete/);
    expect(await auditRows('"public"."rd_fresh"')).toEqual([]);
  });

  it('dry run → counts what would go and the oldest timestamp, deletes nothing, writes no audit row', async () => {
    await eventsTable('rd_dry', 2500, 30);
    const { ctx, lines } = taskContext(deps, { dryRun: true });
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_dry'], column: 'created_at' }), NOW);
    expect(outcome.status).toBe('ok');
    expect(outcome.value).toBe(2500);
    expect(outcome.summary).toMatch(/^dry run: would delete 2500 "public"\."rd_dry" rows .* in 3 batch\(es\) of up to 1000; oldest 2025-03-05T/);
    expect(outcome.details?.[0]).toMatchObject({ table: '"public"."rd_dry"', rows: 2500, cutoff: CUTOFF_90.toISOString() });
    expect(lines).toEqual([]);
    expect(await counts('rd_dry')).toEqual({ old: 2500, recent: 30 });
    expect(await auditRows('"public"."rd_dry"')).toEqual([]);
  });

  it('dry run with more than one run can delete → warn, the count bounded at batchSize × maxBatches', async () => {
    await eventsTable('rd_dry_big', 1200, 0);
    const outcome = await retentionDeleteTask.run(taskContext(deps, { dryRun: true }).ctx, params({ tables: ['rd_dry_big'], column: 'created_at', batchSize: 500, maxBatches: 2 }), NOW);
    expect(outcome.status).toBe('warn');
    expect(outcome.summary).toMatch(/^dry run: more than 1000 .*a run deletes at most 1000 \(2 batches of 500\)/);
    expect(outcome.details?.[0]).toMatchObject({ rows: 'more than 1000' });
    expect(await counts('rd_dry_big')).toEqual({ old: 1200, recent: 0 });
  });

  it('a camelCase quoted table "AuditLogs" with column "createdAt" (timestamp, no primary key: by ctid)', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE "AuditLogs" ("userId" int, "createdAt" timestamp NOT NULL)' },
        { text: `INSERT INTO "AuditLogs" SELECT g, ($1::timestamptz AT TIME ZONE 'UTC') - g * interval '1 hour' FROM generate_series(1, 1200) g`, params: [CUTOFF_90.toISOString()] },
        { text: `INSERT INTO "AuditLogs" SELECT g, ($1::timestamptz AT TIME ZONE 'UTC') FROM generate_series(1, 40) g`, params: [daysBefore(1).toISOString()] },
      ],
      { readOnly: false },
    );
    const { ctx, lines } = taskContext(deps);
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['"AuditLogs"'], column: '"createdAt"', batchSize: 500 }), NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 1200 });
    expect(lines).toHaveLength(3);
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM "AuditLogs"');
    expect(rows[0]!.n).toBe(40);
    const audit = await auditRows('"public"."AuditLogs"');
    expect(audit.map((a) => a.after.deleted)).toEqual([500, 500, 200]);
    expect(audit[0]!.params).toEqual({ column: 'createdAt', olderThanDays: 90, batchSize: 500 });
  });

  it('the same table written unquoted is folded to lower case like Postgres does, and the error shows the quoted form to write', async () => {
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['AuditLogs'], column: 'createdAt' }), NOW);
    expect(outcome.status).toBe('error');
    expect(outcome.summary).toBe('nothing was deleted: "AuditLogs": no table "public"."auditlogs" (did you mean "public"."AuditLogs"? a mixed-case name is written quoted)');
    const column = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['"AuditLogs"'], column: 'createdAt' }), NOW);
    expect(column.summary).toBe('nothing was deleted: "public"."AuditLogs" has no column "createdat" (did you mean "createdAt"? a mixed-case name is written quoted)');
  });

  it('a date column in another schema, no primary key: rows before the cutoff date go', async () => {
    await h.db.batch(
      [
        { text: 'CREATE SCHEMA rd_app' },
        { text: 'CREATE TABLE rd_app.session_logs (session text, day date NOT NULL)' },
        { text: `INSERT INTO rd_app.session_logs SELECT 's' || g, ($1::date - g) FROM generate_series(0, 59) g`, params: ['2025-06-15'] },
      ],
      { readOnly: false },
    );
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_app.session_logs'], column: 'day', olderThanDays: 30 }), NOW);
    // Cutoff 2025-05-16T12:00Z compares as the date 2025-05-16: days 31…59 back are older.
    expect(outcome).toMatchObject({ status: 'ok', value: 29 });
    const { rows } = await h.db.query<{ oldest: string }>(`SELECT min(day)::text AS oldest FROM rd_app.session_logs`);
    expect(rows[0]!.oldest).toBe('2025-05-16');
  });

  it('a table partitioned by month with a composite primary key (id, created_at) → deleted by that key across partitions', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE rd_parted (id int, created_at timestamptz NOT NULL, PRIMARY KEY (id, created_at)) PARTITION BY RANGE (created_at)' },
        { text: `CREATE TABLE rd_parted_old PARTITION OF rd_parted FOR VALUES FROM ('2025-01-01') TO ('2025-03-17')` },
        { text: `CREATE TABLE rd_parted_new PARTITION OF rd_parted FOR VALUES FROM ('2025-03-17') TO ('2025-07-01')` },
        // The same ids (and so the same positions, ctid) in both partitions: only the old rows may go.
        { text: `INSERT INTO rd_parted SELECT g, '2025-02-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 700) g` },
        { text: `INSERT INTO rd_parted SELECT g, '2025-05-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 700) g` },
      ],
      { readOnly: false },
    );
    const { ctx, lines } = taskContext(deps);
    const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_parted'], column: 'created_at', batchSize: 300 }), NOW);
    expect(outcome).toMatchObject({ status: 'ok', value: 700 });
    expect(lines).toHaveLength(3);
    const { rows } = await h.db.query<{ old: number; recent: number }>(
      'SELECT (SELECT count(*) FROM rd_parted_old)::int AS old, (SELECT count(*) FROM rd_parted_new)::int AS recent',
    );
    expect(rows[0]).toEqual({ old: 0, recent: 700 });
  });

  it('a partitioned table without a primary key → refused (ctid is not unique across partitions), nothing deleted', async () => {
    await h.db.batch(
      [
        { text: 'CREATE TABLE rd_parted_nokey (created_at timestamptz NOT NULL) PARTITION BY RANGE (created_at)' },
        { text: `CREATE TABLE rd_parted_nokey_all PARTITION OF rd_parted_nokey FOR VALUES FROM ('2000-01-01') TO ('2100-01-01')` },
        { text: `INSERT INTO rd_parted_nokey VALUES ('2025-01-01')` },
      ],
      { readOnly: false },
    );
    const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_parted_nokey'], column: 'created_at' }), NOW);
    expect(outcome).toMatchObject({
      status: 'error',
      summary: 'nothing was deleted: "public"."rd_parted_nokey" is partitioned and has no primary key to delete by; drop old partitions instead',
    });
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM rd_parted_nokey');
    expect(rows[0]!.n).toBe(1);
  });

  describe('refusals: a clear error outcome and nothing changed', () => {
    beforeAll(async () => {
      await eventsTable('rd_guarded', 50, 5);
      await h.db.batch([{ text: 'CREATE TABLE x (id int)' }, { text: 'CREATE VIEW rd_guarded_view AS SELECT * FROM rd_guarded' }], { readOnly: false });
    });

    it.each([
      { name: 'an unknown table', table: 'no_such_table', column: 'created_at', message: 'nothing was deleted: "no_such_table": no table "public"."no_such_table"' },
      { name: 'an unknown schema', table: 'nope.rd_guarded', column: 'created_at', message: 'nothing was deleted: "nope.rd_guarded": no table "nope"."rd_guarded"' },
      { name: 'a statement glued to the table name', table: 'users; DROP TABLE x', column: 'created_at', message: 'nothing was deleted: tables.0: invalid table name: unexpected ";" after "users"' },
      { name: 'a quoted name with an escaped quote and SQL', table: '"a"";DROP"', column: 'created_at', message: 'nothing was deleted: "\\"a\\"\\";DROP\\"": no table "public"."a"";DROP"' },
      { name: 'SQL in the column name', table: 'rd_guarded', column: 'created_at; DROP TABLE x', message: 'nothing was deleted: column: invalid column name: unexpected ";" after "created_at"' },
      { name: 'a quoted column that does not exist', table: 'rd_guarded', column: '"created_at"" OR 1=1 --"', message: 'nothing was deleted: "public"."rd_guarded" has no column "created_at"" OR 1=1 --"' },
      { name: 'a text column', table: 'rd_guarded', column: 'note', message: 'nothing was deleted: "public"."rd_guarded"."note" is text, not a date or timestamp column' },
      { name: 'a bigint column', table: 'rd_guarded', column: 'id', message: 'nothing was deleted: "public"."rd_guarded"."id" is bigint, not a date or timestamp column' },
      { name: 'a view', table: 'rd_guarded_view', column: 'created_at', message: 'nothing was deleted: "public"."rd_guarded_view" is a view, not a table or partitioned table' },
      { name: "Opsbook's own audit log", table: 'opsbook.audit_log', column: 'at', message: /is in schema "opsbook" \(Opsbook's own history is pruned by the prune-history task\)/ },
      { name: 'a system catalog', table: 'pg_catalog.pg_class', column: 'relname', message: /is in schema "pg_catalog"/ },
    ])('$name', async ({ table, column, message }) => {
      const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: [table], column }), NOW);
      expect(outcome.status).toBe('error');
      if (typeof message === 'string') expect(outcome.summary).toBe(message);
      else expect(outcome.summary).toMatch(message);
      expect(await counts('rd_guarded')).toEqual({ old: 50, recent: 5 });
      const { rows } = await h.db.query<{ present: boolean }>(`SELECT to_regclass('public.x') IS NOT NULL AS present`);
      expect(rows[0]!.present).toBe(true);
      const audit = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.audit_log WHERE target LIKE '%rd_guarded%' OR target LIKE '%DROP%'`);
      expect(audit.rows[0]!.n).toBe(0);
    });

    it('params that skipped the config (olderThanDays 0) → an error outcome, not a throw', async () => {
      const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_guarded'], column: 'created_at', olderThanDays: 0 }), NOW);
      expect(outcome.status).toBe('error');
      expect(outcome.summary).toMatch(/^nothing was deleted: olderThanDays: Too small/);
      expect(await counts('rd_guarded')).toEqual({ old: 50, recent: 5 });
    });
  });

  describe('several tables: each checked, deleted from and reported on its own', () => {
    it('two backlogs → both deleted and audited per table; one clause, one details row and progress lines per table, in the order written', async () => {
      await eventsTable('rd_many_a', 2500, 10);
      await eventsTable('rd_many_b', 300, 5);
      const { ctx, lines } = taskContext(deps);
      const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_many_a', 'rd_many_b'], column: 'created_at' }), NOW);
      expect(outcome).toMatchObject({ status: 'ok', value: 2800, unit: 'rows' });
      expect(outcome.summary).toMatch(/^2 tables, 2800 rows deleted: deleted 2500 "public"\."rd_many_a" rows with "created_at" before .* in 3 batch\(es\), [^;]*; deleted 300 "public"\."rd_many_b" rows .* in 1 batch\(es\), /);
      expect(outcome.details).toMatchObject([
        { table: '"public"."rd_many_a"', deleted: 2500, batches: 3 },
        { table: '"public"."rd_many_b"', deleted: 300, batches: 1 },
      ]);
      expect(lines).toEqual([
        'retention-delete "public"."rd_many_a": batch 1 deleted 1000 (1000 so far)',
        'retention-delete "public"."rd_many_a": batch 2 deleted 1000 (2000 so far)',
        'retention-delete "public"."rd_many_a": batch 3 deleted 500 (2500 so far)',
        'retention-delete "public"."rd_many_b": batch 1 deleted 300 (300 so far)',
      ]);
      expect([await counts('rd_many_a'), await counts('rd_many_b')]).toEqual([
        { old: 0, recent: 10 },
        { old: 0, recent: 5 },
      ]);
      expect((await auditRows('"public"."rd_many_a"')).map((a) => a.after.deleted)).toEqual([1000, 1000, 500]);
      expect((await auditRows('"public"."rd_many_b"')).map((a) => a.after.deleted)).toEqual([300]);
    });

    it('maxBatches is per table: the first table’s long backlog does not use up the second’s batches', async () => {
      await eventsTable('rd_per_a', 2500, 0);
      await eventsTable('rd_per_b', 2300, 0);
      const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_per_a', 'rd_per_b'], column: 'created_at', maxBatches: 2 }), NOW);
      expect(outcome).toMatchObject({ status: 'warn', value: 4000 });
      expect(outcome.summary).toMatch(/"rd_per_a" rows .*stopped after maxBatches \(2\), more remain: 500; deleted 2000 "public"\."rd_per_b" rows .*stopped after maxBatches \(2\), more remain: 300$/);
      expect(outcome.details).toMatchObject([{ deleted: 2000, remaining: '500' }, { deleted: 2000, remaining: '300' }]);
      expect(outcome.hint?.text).toMatch(/next runs/);
      expect([(await counts('rd_per_a')).old, (await counts('rd_per_b')).old]).toEqual([500, 300]);
    });

    it('no time left in the item’s limit → no table starts a batch, and each says what remains', async () => {
      await eventsTable('rd_late_a', 20, 0);
      await eventsTable('rd_late_b', 7, 0);
      const { ctx, lines } = taskContext(deps, { timeoutMs: 0 });
      const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_late_a', 'rd_late_b'], column: 'created_at' }), NOW);
      expect(outcome).toMatchObject({ status: 'warn', value: 0 });
      expect(outcome.summary).toMatch(/"rd_late_a" .*stopped before the time limit, more remain: 20; .*"rd_late_b" .*stopped before the time limit, more remain: 7$/);
      expect(lines).toEqual([]);
      expect([(await counts('rd_late_a')).old, (await counts('rd_late_b')).old]).toEqual([20, 7]);
    });

    it('the same table written twice (rd_twice, public.rd_twice) → deleted from once, reported as one table', async () => {
      await eventsTable('rd_twice', 30, 0);
      const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_twice', 'public.rd_twice'], column: 'created_at' }), NOW);
      expect(outcome).toMatchObject({ status: 'ok', value: 30 });
      expect(outcome.summary).toMatch(/^deleted 30 "public"\."rd_twice" rows/);
      expect(await auditRows('"public"."rd_twice"')).toHaveLength(1);
    });

    it.each([
      { name: 'a missing table', arrange: async () => undefined, bad: 'rd_gone', problem: '"rd_gone": no table "public"."rd_gone"' },
      {
        name: 'a table whose column is text, not a date',
        arrange: async () => void (await h.db.batch([{ text: 'CREATE TABLE rd_textual (id int PRIMARY KEY, created_at text)' }, { text: `INSERT INTO rd_textual VALUES (1, '2020-01-01')` }], { readOnly: false })),
        bad: 'rd_textual',
        problem: '"public"."rd_textual"."created_at" is text, not a date or timestamp column',
      },
      {
        name: 'a table without the column',
        arrange: async () => void (await h.db.batch([{ text: 'CREATE TABLE rd_undated (id int PRIMARY KEY)' }], { readOnly: false })),
        bad: 'rd_undated',
        problem: '"public"."rd_undated" has no column "created_at"',
      },
    ])('$name between two good tables → refused for that table by name (the item is an error); the good tables are still cleaned', async ({ arrange, bad, problem }) => {
      const [before, after] = [`rd_ok1_${bad}`, `rd_ok2_${bad}`];
      await eventsTable(before, 40, 2);
      await eventsTable(after, 60, 3);
      await arrange();
      const outcome = await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: [before, bad, after], column: 'created_at' }), NOW);
      expect(outcome).toMatchObject({ status: 'error', value: 100 });
      expect(outcome.summary).toMatch(new RegExp(`^3 tables, 100 rows deleted, 1 refused: deleted 40 "public"\\."${before}" rows [^;]*; refused: ${problem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; deleted 60 "public"\\."${after}" rows `));
      expect(outcome.details?.[1]).toEqual({ table: expect.stringContaining(bad), problem });
      expect([await counts(before), await counts(after)]).toEqual([
        { old: 0, recent: 2 },
        { old: 0, recent: 3 },
      ]);
    });

    it('dry run → a clause per table (what would go, what is refused and why), nothing deleted anywhere', async () => {
      await eventsTable('rd_dry_a', 1200, 1);
      await eventsTable('rd_dry_b', 0, 4);
      const { ctx, lines } = taskContext(deps, { dryRun: true });
      const outcome = await retentionDeleteTask.run(ctx, params({ tables: ['rd_dry_a', 'rd_dry_missing', 'rd_dry_b'], column: 'created_at' }), NOW);
      expect(outcome).toMatchObject({ status: 'error', value: 1200 });
      expect(outcome.summary).toMatch(
        /^dry run: 3 tables, 1200 rows to delete, 1 refused: would delete 1200 "public"\."rd_dry_a" rows .* in 2 batch\(es\) of up to 1000; oldest [^;]*; refused: "rd_dry_missing": no table "public"\."rd_dry_missing"; nothing to delete: no "public"\."rd_dry_b" rows /,
      );
      expect(outcome.details).toMatchObject([{ table: '"public"."rd_dry_a"', rows: 1200 }, { table: 'rd_dry_missing' }, { table: '"public"."rd_dry_b"', rows: 0 }]);
      expect(lines).toEqual([]);
      expect(await counts('rd_dry_a')).toEqual({ old: 1200, recent: 1 });
      expect(await auditRows('"public"."rd_dry_a"')).toEqual([]);
    });
  });

  it('its audit rows are append-only afterwards: UPDATE and DELETE are refused by the trigger', async () => {
    await eventsTable('rd_audited', 10, 0);
    await retentionDeleteTask.run(taskContext(deps).ctx, params({ tables: ['rd_audited'], column: 'created_at' }), NOW);
    expect(await auditRows('"public"."rd_audited"')).toHaveLength(1);
    await expect(h.db.query(`UPDATE opsbook.audit_log SET result = 'forged' WHERE target = '"public"."rd_audited"'`)).rejects.toThrow(/append-only/);
    await expect(h.db.query(`DELETE FROM opsbook.audit_log WHERE target = '"public"."rd_audited"'`)).rejects.toThrow(/append-only/);
    expect(await auditRows('"public"."rd_audited"')).toMatchObject([{ result: 'ok', after: { deleted: 10 } }]);
  });
});
