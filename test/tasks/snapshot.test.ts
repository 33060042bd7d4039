import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Deps } from '../../lib/deps.js';
import { snapshotTask } from '../../lib/tasks/snapshot.js';
import { depsFor } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { NOW, taskContext } from './context.js';

/** A BullMQ key prefix of this file's own, so queue discovery on the shared Redis sees only its queue. */
const PREFIX = `opsbook-snapshot-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const QUEUES = { checks: { queues: { prefix: PREFIX } } };

describe.each(DB_DRIVERS)('snapshot over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    r = await openRedis('tcp');
    deps = await depsFor(h.db, r.redis);
    // Open the database outside the tests (PGlite runs initdb on its first call).
    await h.db.query('SELECT 1');
    // One queue, as BullMQ lays it out: its meta hash and three waiting jobs.
    await r.redis.pipeline([
      ['HSET', `${PREFIX}:emails:meta`, 'version', 'bullmq:6.7.0', 'opts.maxLenEvents', '10000'],
      ['RPUSH', `${PREFIX}:emails:wait`, 'j3', 'j2', 'j1'],
    ]);
    await h.db.batch(
      [{ text: 'CREATE TABLE snap_orders (id int PRIMARY KEY, pad text)' }, { text: "INSERT INTO snap_orders SELECT g, repeat('o', 50) FROM generate_series(1, 2000) g" }],
      { readOnly: false },
    );
  });
  afterAll(async () => {
    await r?.redis.command(['DEL', `${PREFIX}:emails:meta`, `${PREFIX}:emails:wait`]);
    await r?.close();
    await h?.close();
  });

  async function storedAt(at: Date): Promise<Map<string, unknown>> {
    const present = await h.db.query<{ ok: boolean }>(`SELECT to_regclass('opsbook.snapshots') IS NOT NULL AS ok`);
    if (present.rows[0]?.ok !== true) return new Map();
    const { rows } = await h.db.query<{ kind: string; data: unknown }>('SELECT kind, data FROM opsbook.snapshots WHERE taken_at = $1 ORDER BY kind', [at.toISOString()]);
    return new Map(rows.map((r) => [r.kind, typeof r.data === 'string' ? JSON.parse(r.data) : r.data]));
  }

  it('dry run → names the checks it would run and stores nothing', async () => {
    const { ctx } = taskContext(deps, { config: QUEUES, dryRun: true });
    const outcome = await snapshotTask.run(ctx, { task: 'snapshot' }, NOW);
    expect(outcome).toMatchObject({
      status: 'ok',
      summary: 'dry run: would run postgres.database-size, postgres.largest-tables, postgres.slow-queries, queues.backlog and store what they measure in opsbook.snapshots',
    });
    expect((await storedAt(NOW)).size).toBe(0);
  });

  it('stores sizes, query stats and queue counts in opsbook.snapshots at the injected now', async () => {
    const { ctx, lines } = taskContext(deps, { config: QUEUES });
    const outcome = await snapshotTask.run(ctx, { task: 'snapshot' }, NOW);
    const stored = await storedAt(NOW);
    // pg_stat_statements is there too: the test databases and PGlite load it.
    expect([...stored.keys()]).toEqual(['database_size', 'pg_stat_statements', 'queue_counts', 'table_sizes']);
    expect(outcome.status).toBe('ok');
    expect(outcome.summary).toBe(`stored ${stored.size} snapshot kind(s): ${[...stored.keys()].join(', ')}`);
    expect((stored.get('database_size') as { bytes: number }).bytes).toBeGreaterThan(0);
    expect((stored.get('table_sizes') as Array<{ table: string }>).map((t) => t.table)).toContain('public.snap_orders');
    expect(stored.get('queue_counts')).toEqual({ emails: expect.objectContaining({ waiting: 3, active: 0 }) });
    expect(outcome.details?.map((d) => d.check).sort()).toEqual(['postgres.database-size', 'postgres.largest-tables', 'postgres.slow-queries', 'queues.backlog']);
    expect(lines).toHaveLength(4);
  });

  it('a config without queues → only the Postgres kinds, no unknown-check error', async () => {
    const at = new Date(NOW.getTime() + 60_000);
    const { ctx } = taskContext(deps, { config: { checks: { queues: { enabled: false } } } });
    const outcome = await snapshotTask.run(ctx, { task: 'snapshot' }, at);
    expect(outcome.status).toBe('ok');
    expect(outcome.details?.map((d) => d.check).sort()).toEqual(['postgres.database-size', 'postgres.largest-tables', 'postgres.slow-queries']);
    const stored = await storedAt(at);
    expect(stored.has('database_size')).toBe(true);
    expect(stored.has('queue_counts')).toBe(false);
  });

  it('neither Postgres nor queue checks enabled → skipped, saying how to enable them', async () => {
    const { ctx } = taskContext(deps, { config: { checks: { postgres: { enabled: false }, queues: { enabled: false } } } });
    const outcome = await snapshotTask.run(ctx, { task: 'snapshot' }, NOW);
    expect(outcome.status).toBe('skipped');
    expect(outcome.hint?.text).toMatch(/Enable checks\.postgres/);
  });
});
