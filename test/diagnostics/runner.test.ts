import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { createPgAccess } from '../../lib/checks/pg-access.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Check, CheckContext } from '../../lib/checks/types.js';
import { executeChecks, selectChecks } from '../../lib/diagnostics/run.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { depsFor } from '../support/diagnostics.js';

const NOW = new Date('2026-11-22T09:00:00Z');
const check = (id: string, run: Check['run']): Check => ({ id, title: id, family: id.split('.')[0]!, severity: 'P3', needs: [], run });

describe('running checks', () => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb('neon');
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    await h.close();
  });
  async function ctx(timeoutMs = 2000): Promise<CheckContext & { pg: ReturnType<typeof createPgAccess> }> {
    const deps = await depsFor(h.db);
    const pg = createPgAccess(h.db);
    return { deps, config: parseConfig({}), pg, store: pg, timeoutMs, snapshot: new Map() };
  }

  it('a check that throws becomes error with its (redacted) message; its neighbours still answer', async () => {
    const c = await ctx();
    const results = await executeChecks(
      [
        check('a.boom', async () => {
          throw new Error('connect failed postgres://user:hunter2-pw@db.internal/app');
        }),
        check('a.fine', async () => ({ status: 'ok', summary: 'fine' })),
      ],
      c,
      NOW,
    );
    expect(results[0]).toMatchObject({ id: 'a.boom', status: 'error' });
    expect(results[0]!.summary).not.toContain('hunter2-pw');
    expect(results[1]).toMatchObject({ id: 'a.fine', status: 'ok' });
  });

  it('a check that never settles becomes error "did not finish" at its timeout; the run still answers', async () => {
    const c = await ctx(200);
    const results = await executeChecks([check('a.hang', () => new Promise(() => undefined)), check('a.fine', async () => ({ status: 'ok', summary: 'x' }))], c, NOW);
    expect(results[0]).toMatchObject({ status: 'error', summary: 'did not finish within 200 ms' });
    expect(results[1]!.status).toBe('ok');
  });

  it('Postgres batches of many checks in one tick cost one round trip after the capabilities probe', async () => {
    const c = await ctx();
    h.neon!.resetCount();
    const pgCheck = (id: string, sql: string): Check =>
      check(id, async (cx) => {
        await cx.pg.caps();
        const [r] = await cx.pg.batch([{ text: sql }]);
        return { status: 'ok', summary: String(r!.rows[0]!.v) };
      });
    const results = await executeChecks([pgCheck('p.one', 'SELECT 1 AS v'), pgCheck('p.two', 'SELECT 2 AS v'), pgCheck('p.three', 'SELECT 3 AS v')], c, NOW);
    expect(results.map((r) => r.summary)).toEqual(['1', '2', '3']);
    expect(c.pg.roundTrips).toBe(2);
    expect(h.neon!.requests).toBe(2);
  });

  it('one check with a broken statement fails alone: the merged batch is retried per check', async () => {
    const c = await ctx();
    const results = await executeChecks(
      [
        check('p.good', async (cx) => {
          await cx.pg.caps();
          const [r] = await cx.pg.batch([{ text: 'SELECT 42 AS v' }]);
          return { status: 'ok', summary: String(r!.rows[0]!.v) };
        }),
        check('p.bad', async (cx) => {
          await cx.pg.caps();
          await cx.pg.batch([{ text: 'SELECT * FROM no_such_relation' }]);
          return { status: 'ok', summary: 'unreachable' };
        }),
      ],
      c,
      NOW,
    );
    expect(results[0]).toMatchObject({ status: 'ok', summary: '42' });
    expect(results[1]).toMatchObject({ status: 'error' });
    expect(results[1]!.summary).toMatch(/no_such_relation/);
  });

  it('capabilities: the superuser can monitor and pg_stat_statements is available', async () => {
    const c = await ctx();
    const caps = await c.pg.caps();
    expect(caps).toMatchObject({ canMonitor: true, isReplica: false, pgStatStatements: 'available' });
    expect(caps.maxConnections).toBeGreaterThan(0);
  });
});

describe('selecting checks', () => {
  const checks = [check('postgres.connections', async () => ({ status: 'ok', summary: '' })), check('http.site', async () => ({ status: 'ok', summary: '' }))];
  checks[0]!.family = 'postgres.activity';
  it.each([
    [['postgres'], ['postgres.connections']],
    [['postgres.activity'], ['postgres.connections']],
    [['http.site'], ['http.site']],
    [[], ['postgres.connections', 'http.site']],
  ])('only=%j → %j', (only, ids) => {
    expect(selectChecks(checks, only).map((c) => c.id)).toEqual(ids);
  });
  it('an unknown id is a 400 that lists the known ids', () => {
    expect(() => selectChecks(checks, ['nope'])).toThrow(expect.objectContaining({ code: 'BAD_REQUEST', details: { known: ['postgres.connections', 'http.site'] } }));
  });
  it('a prefix that is not a whole segment does not select', () => {
    expect(() => selectChecks(checks, ['post'])).toThrow(/Unknown check/);
  });
});
