import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET, HEAD } from '../../api/health.js';
import { createDeps, setDeps } from '../../lib/deps.js';
import { createPgDb } from '../../lib/db/pg.js';
import { parseEnv } from '../../lib/env.js';
import { openDb, openRedis, DEFAULT_LIMITS, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { recordingReporter } from '../support/checklists.js';
import { ensureSchema } from '../../lib/db/schema.js';

const ADMIN = 'admin-token-for-tests-0123456789';

describe('GET /api/health', () => {
  let pgH: DbHarness;
  let redisH: RedisHarness;
  let deadPort: number;
  const env = parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, HEALTH_BUDGET_MS: '1500' });

  beforeAll(async () => {
    [pgH, redisH, deadPort] = await Promise.all([openDb('pg'), openRedis('tcp'), closedPort()]);
  });
  afterAll(async () => {
    setDeps(undefined);
    await Promise.allSettled([pgH.close(), redisH.close()]);
  });

  async function use(db = pgH.db) {
    setDeps(await createDeps(env, { db, redis: redisH.redis }));
  }
  const req = (headers: Record<string, string> = {}, method = 'GET') => new Request('http://localhost/api/health', { method, headers });

  it('healthy → 200 with the runbook shape, no-store, and nothing else', async () => {
    await use();
    const res = await GET(req());
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(Object.keys(body).sort()).toEqual(['checks', 'status', 'timestamp']);
    expect(body).toMatchObject({ status: 'healthy', checks: { database: 'healthy', redis: 'healthy' } });
    expect(new Date(body.timestamp).toISOString()).toBe(body.timestamp);
  });

  it('the shared pool held by three long queries (diagnostics, a checklist run) → health still answers healthy, on its own connection', async () => {
    // The deliberate fault: every shared connection busy for a minute; health's budget is 10 s. Waiting
    // for the shared pool would need the full minute, so no machine slowness can pass for the fix.
    const long = { statementTimeoutMs: 120_000, lockTimeoutMs: 2000, callTimeoutMs: 120_000 };
    const db = createPgDb(pgH.database!.url, long, { applicationName: 'health-lane-test' });
    const marker = `health_lane_${Date.now()}`;
    const hogs = [1, 2, 3].map(() => db.query(`SELECT pg_sleep(60) AS ${marker}`).catch(() => undefined));
    try {
      for (let i = 0; i < 200; i++) {
        const { rows } = await pgH.database!.admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, [marker]);
        if (rows[0].n === 3) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      setDeps(await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, HEALTH_BUDGET_MS: '10000' }), { db, redis: redisH.redis }));
      const res = await GET(req({ authorization: `Bearer ${ADMIN}` }));
      const body = await res.json();
      expect(res.status, JSON.stringify(body)).toBe(200);
      expect(body.checks.database).toBe('healthy');
      // Bounded: the three shared connections plus health's one, nothing more.
      const { rows } = await pgH.database!.admin.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = 'opsbook/health-lane-test'`, [pgH.database!.name]);
      expect(rows[0].n).toBeLessThanOrEqual(4);
    } finally {
      await pgH.database!.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' AND pid <> pg_backend_pid()`, [marker]);
      await Promise.all(hogs);
      await db.close();
    }
  });

  it('database down → 503 unhealthy, and the public answer has no error text, host or version', async () => {
    const db = createPgDb(`postgres://postgres:pw-SECRET-987@127.0.0.1:${deadPort}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 1000 });
    await use(db);
    const res = await GET(req());
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ status: 'unhealthy', checks: { database: 'unhealthy', redis: 'healthy' } });
    for (const leak of ['127.0.0.1', String(deadPort), 'ECONNREFUSED', 'pw-SECRET-987', 'error', 'PostgreSQL', 'node']) {
      expect(text).not.toContain(leak);
    }
    await db.close();
  });

  it('a valid admin token adds each check latency and error message, without the password', async () => {
    const db = createPgDb(`postgres://postgres:pw-SECRET-987@127.0.0.1:${deadPort}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 1000 });
    await use(db);
    const res = await GET(req({ authorization: `Bearer ${ADMIN}` }));
    const body = await res.json();
    expect(body.details.database).toMatchObject({ status: 'unhealthy', driver: 'pg' });
    expect(typeof body.details.database.latencyMs).toBe('number');
    expect(body.details.database.error).toMatch(/ECONNREFUSED|connect/);
    expect(body.details.redis).toMatchObject({ status: 'healthy', driver: 'tcp' });
    expect(JSON.stringify(body)).not.toContain('pw-SECRET-987');
    await db.close();
  });

  it.each([
    ['a wrong token', { authorization: 'Bearer not-the-admin-token-xxxxxxxx' }],
    ['a token in the wrong scheme', { authorization: `Basic ${ADMIN}` }],
    ['no token', {}],
  ])('%s → the public answer, never details', async (_name, headers) => {
    await use();
    const body = await (await GET(req(headers))).json();
    expect(body.details).toBeUndefined();
  });

  it('database down and a stored-token-shaped caller → the health answer (503 unhealthy), never an error body', async () => {
    const db = createPgDb(`postgres://postgres@127.0.0.1:${deadPort}/postgres`, { ...DEFAULT_LIMITS, callTimeoutMs: 1000 });
    await use(db);
    const res = await GET(req({ authorization: `Bearer ops_${'x'.repeat(43)}` }));
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ status: 'unhealthy', checks: { database: 'unhealthy' } });
    await db.close();
  });

  it('HEAD answers the same status with no body', async () => {
    await use();
    const res = await HEAD(req({}, 'HEAD'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });

  it('an invalid environment → 500 in the error shape naming the variable, never its value', async () => {
    setDeps(undefined);
    const saved = process.env.REDIS_URL;
    process.env.REDIS_URL = 'http://not-redis-SECRET';
    const { resetEnvCache } = await import('../../lib/env.js');
    resetEnvCache();
    try {
      const res = await GET(req());
      expect(res.status).toBe(500);
      const body = await res.json();
      expect(body.error.code).toBe('MISCONFIGURED');
      expect(body.error.message).toContain('REDIS_URL');
      expect(JSON.stringify(body)).not.toContain('not-redis-SECRET');
      expect(typeof body.requestId).toBe('string');
    } finally {
      if (saved === undefined) delete process.env.REDIS_URL;
      else process.env.REDIS_URL = saved;
      resetEnvCache();
    }
  });

  it('a missed checklist run → degraded, and the alert is raised once, after the answer (waitUntil), by health', async () => {
    const errors = recordingReporter();
    setDeps(await createDeps(env, { db: pgH.db, redis: redisH.redis, errors }));
    await ensureSchema(pgH.db);
    // The default config's daily checklist ran ten days ago, and not since.
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    await pgH.db.query(`INSERT INTO opsbook.job_runs (job, period, status, started_at, finished_at) VALUES ('daily', $1, 'ok', $2, $2)`, [
      tenDaysAgo.toISOString().slice(0, 10),
      tenDaysAgo.toISOString(),
    ]);
    const deferred: Promise<unknown>[] = [];
    const context = { waitUntil: (p: Promise<unknown>) => void deferred.push(p) };
    const res = await GET(req({ authorization: `Bearer ${ADMIN}` }), context);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.checks.checklists).toBe('degraded');
    expect(body.details.checklists.missed.map((m: { checklist: string }) => m.checklist)).toContain('daily');
    expect(deferred).toHaveLength(1);
    await Promise.all(deferred);
    const raised = await pgH.db.query<{ raised_by: string }>(`SELECT raised_by FROM opsbook.missed_alerts WHERE checklist = 'daily'`);
    expect(raised.rows).toEqual([{ raised_by: 'health' }]);
    expect(errors.calls.filter((c) => c.tags?.alert === 'missed-run' && c.tags?.checklist === 'daily')).toHaveLength(1);

    // Asked again (another instance, another poll): the claim is taken, nothing is sent twice.
    const again: Promise<unknown>[] = [];
    await GET(req(), { waitUntil: (p) => void again.push(p) });
    await Promise.all(again);
    expect(errors.calls.filter((c) => c.tags?.alert === 'missed-run' && c.tags?.checklist === 'daily')).toHaveLength(1);
    await pgH.db.query(`DELETE FROM opsbook.job_runs WHERE job = 'daily'`);
  });
});
