// Neon outages are dependency failures (issue 10, §3): the Neon HTTP driver's errors for an endpoint that
// cannot reach its compute (HTTP 5xx), an endpoint that cannot be reached at all (`fetch failed`) and a
// server that cannot serve now (class-08, 57P0x, 53300 SQLSTATEs) answer 503 DEPENDENCY_UNAVAILABLE on
// every route, while a genuine SQL error through the same driver stays a 500. Real Postgres behind the
// local Neon peer, the unmodified driver, faults made on the wire by TCP proxies.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET as cronGET } from '../../api/cron/[job].js';
import { POST as flagsPOST } from '../../api/admin/flags.js';
import { createNeonDb } from '../../lib/db/neon.js';
import type { Db } from '../../lib/db/types.js';
import { errorResponse } from '../../lib/errors.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { startNeonPeer, type NeonPeer } from '../peers/neon-http.js';
import { ADMIN_TOKEN, adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { DEFAULT_LIMITS } from '../support/drivers.js';
import { startProxy, type FaultProxy } from '../support/faults.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { PG_ADMIN_URL } from '../support/services.js';

const CRON_SECRET = 'cron-secret-neon-outage-0123456789';
const CHECKLIST = 'neon-daily';

let database: TestDatabase;
/** Between the Neon peer and Postgres: the database (the endpoint's compute) goes down behind the endpoint. */
let computeProxy: FaultProxy;
/** Between the driver and the Neon peer: the endpoint itself cannot be reached. */
let endpointProxy: FaultProxy;
let neon: NeonPeer;
let db: Db;

const cron = () => cronGET(new Request(`http://localhost/api/cron/${CHECKLIST}?job=${CHECKLIST}`, { headers: { authorization: `Bearer ${CRON_SECRET}` } }));
let flagCount = 0;
const setFlag = () => flagsPOST(adminRequest('/api/admin/flags', { token: ADMIN_TOKEN, body: { name: `NEON_OUTAGE_${++flagCount}`, enabled: true } }));

/** The error the driver rejects with for `text`, and how the one error handler classifies it. */
async function classify(work: Promise<unknown>): Promise<{ status: number; code: string; err: unknown }> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'the call failed').toBeDefined();
  const res = errorResponse(err, 'req-neon', () => undefined);
  return { status: res.status, code: (await res.json()).error.code, err };
}

describe('Neon driver: an outage answers 503 DEPENDENCY_UNAVAILABLE, a SQL error stays 500', () => {
  beforeAll(async () => {
    const pg = new URL(PG_ADMIN_URL);
    [database, computeProxy] = await Promise.all([createTestDatabase(), startProxy(Number(pg.port || 5432), pg.hostname)]);
    neon = await startNeonPeer({ upstream: `postgres://postgres@127.0.0.1:${computeProxy.port}/postgres` });
    endpointProxy = await startProxy(Number(new URL(neon.fetchEndpoint).port));
    db = createNeonDb(neon.connectionString(database.name), { ...DEFAULT_LIMITS, callTimeoutMs: 3000 }, { fetchEndpoint: `http://127.0.0.1:${endpointProxy.port}/sql` });
    await useAdminDeps(
      db,
      createMemoryRedis(),
      { checklists: [{ id: CHECKLIST, title: 'Neon morning', schedule: { type: 'daily', at: '00:00' }, items: [{ manual: 'Look at the dashboards' }] }] },
      { CRON_SECRET },
    );
    // A warm deployment: schema in place, one run done, one flag set.
    expect((await cron()).status).toBe(200);
    expect((await setFlag()).status).toBe(200);
  }, 60_000);

  afterAll(async () => {
    resetAdminDeps();
    await db?.close();
    await Promise.allSettled([endpointProxy?.close(), computeProxy?.close()]);
    await neon?.close();
    await database?.drop();
  });

  it.each([
    ['the database down behind the Neon endpoint (HTTP 500 "Couldn\'t connect to compute node")', () => computeProxy.setMode('refuse'), () => computeProxy.setMode('pass')],
    ['the Neon endpoint unreachable (fetch failed, ECONNREFUSED)', () => endpointProxy.setMode('refuse'), () => endpointProxy.setMode('pass')],
    ['the Neon endpoint answering 503', async () => neon.setFault(503), async () => neon.setFault(null)],
  ])('%s → GET /api/cron/<checklist> and an admin action answer 503 DEPENDENCY_UNAVAILABLE, then recover', async (_name, inject, remove) => {
    await database.admin.query(`DELETE FROM opsbook.job_runs WHERE job = $1`, [CHECKLIST]);
    await inject();
    try {
      const [run, action] = await Promise.all([cron(), setFlag()]);
      expect([run.status, action.status]).toEqual([503, 503]);
      expect((await run.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
      expect((await action.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
    } finally {
      await remove();
    }
    // Same deployment, same clients: the next invocation runs the period the outage refused.
    const again = await cron();
    expect(again.status).toBe(200);
    expect(await again.json()).toMatchObject({ status: 'completed' });
    expect((await setFlag()).status).toBe(200);
  });

  it.each([
    ['a syntax error (42601)', () => db.query('SELEC 1'), '42601'],
    ['an unknown table (42P01)', () => db.query('SELECT * FROM no_such_table'), '42P01'],
    ['a constraint violation (23505)', () => db.query(`INSERT INTO opsbook.settings SELECT * FROM opsbook.settings LIMIT 1`), '23505'],
  ])('a genuine SQL error through Neon, %s → 500 INTERNAL, not an outage', async (_name, work, sqlstate) => {
    const { status, code, err } = await classify(work());
    expect(err).toMatchObject({ name: 'NeonDbError', code: sqlstate });
    expect([status, code]).toEqual([500, 'INTERNAL']);
  });

  it('the backend terminated by an administrator mid-query through Neon (57P01) → 503', async () => {
    // classify() takes the rejection at once: the query fails while the loop below is still awaiting.
    const sleeping = classify(db.query(`SELECT pg_sleep(30) AS neon_outage_sleep`));
    // The peer's backend for that request, found on the real server and terminated there.
    for (let i = 0; i < 100; i++) {
      const { rows } = await database.admin.query(`SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%neon_outage_sleep%' AND pid <> pg_backend_pid()`, [database.name]);
      if (rows.length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const { status, code, err } = await sleeping;
    expect(err).toMatchObject({ name: 'NeonDbError', code: '57P01' });
    expect([status, code]).toEqual([503, 'DEPENDENCY_UNAVAILABLE']);
  });
});
