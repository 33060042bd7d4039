import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET } from '../../api/cron/[job].js';
import { createDeps, setDeps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { runDaily, dailyPeriod } from '../../cron/daily.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';

const SECRET = 'cron-secret-for-tests-abcdef012345';
const call = (headers: Record<string, string> = {}, job = 'daily') =>
  GET(new Request(`http://localhost/api/cron/${job}?job=${job}`, { headers }));

describe('GET /api/cron/<job> authentication', () => {
  let h: DbHarness;
  const logs: string[] = [];
  beforeAll(async () => {
    h = await openDb('pg');
  });
  afterAll(async () => {
    setDeps(undefined);
    await h.close();
  });
  async function use(vars: Record<string, string>) {
    logs.length = 0;
    setDeps(await createDeps(parseEnv(vars), { db: h.db, redis: createMemoryRedis(), log: (_l, m) => logs.push(m) }));
  }

  it.each([
    ['no Authorization header', {}],
    ['a wrong secret of the same length', { authorization: `Bearer ${SECRET.replace(/.$/, 'X')}` }],
    ['a secret of a different length', { authorization: `Bearer ${SECRET}extra` }],
    ['a prefix of the secret', { authorization: `Bearer ${SECRET.slice(0, 10)}` }],
    ['the secret without the Bearer scheme', { authorization: SECRET }],
    ['the secret in the query string', {}],
  ])('%s → 401 in the error shape', async (_name, headers) => {
    await use({ CRON_SECRET: SECRET });
    const res = await GET(new Request(`http://localhost/api/cron/daily?job=daily&secret=${SECRET}`, { headers }));
    expect(res.status).toBe(401);
    const body = await res.json();
    expect(body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(typeof body.requestId).toBe('string');
  });

  it('an unknown job with the right secret → 404; with no secret → 401 (the name reveals nothing)', async () => {
    await use({ CRON_SECRET: SECRET });
    expect((await call({ authorization: `Bearer ${SECRET}` }, 'nope')).status).toBe(404);
    expect((await call({}, 'nope')).status).toBe(401);
  });

  it.each([
    ['production', { VERCEL_ENV: 'production' }, /production/],
    ['development', {}, /not set/],
  ])('CRON_SECRET unset in %s → every call refused, and the log says why', async (_name, vars, why) => {
    await use(vars as Record<string, string>);
    const res = await call({ authorization: 'Bearer anything-at-all-1234567890' });
    expect(res.status).toBe(401);
    expect(logs.join('\n')).toMatch(why);
  });

  it('the right secret runs the job → 200 with its result', async () => {
    await use({ CRON_SECRET: SECRET });
    const res = await call({ authorization: `Bearer ${SECRET}` });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ job: 'daily', status: expect.stringMatching(/ok|already-ran/) });
  });
});

describe.each(DB_DRIVERS)('daily job over %s', (driver) => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb(driver);
  });
  afterAll(async () => {
    await h.close();
  });

  it('records its run in Postgres, once per UTC day', async () => {
    const now = new Date('2026-03-01T09:00:00Z');
    const first = await runDaily({ db: h.db }, now);
    expect(first).toMatchObject({ status: 'ok', period: '2026-03-01' });
    const second = await runDaily({ db: h.db }, new Date('2026-03-01T21:00:00Z'));
    expect(second).toMatchObject({ status: 'already-ran', period: '2026-03-01' });
    const { rows } = await h.db.query<{ status: string; n: number }>(
      "SELECT status, count(*)::int AS n FROM opsbook.job_runs WHERE job = 'daily' AND period = '2026-03-01' GROUP BY status",
    );
    expect(rows).toEqual([{ status: 'ok', n: 1 }]);
  });

  it('10 concurrent deliveries of one event → exactly one run', async () => {
    const now = new Date('2026-03-02T09:00:00Z');
    const results = await Promise.all(Array.from({ length: 10 }, () => runDaily({ db: h.db }, now)));
    expect(results.filter((r) => r.status === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'already-ran')).toHaveLength(9);
  });
});

describe('daily period', () => {
  it.each([
    ['2026-11-22T23:59:59Z', '2026-11-22'],
    ['2026-11-23T00:01:00Z', '2026-11-23'],
    ['2028-02-29T12:00:00Z', '2028-02-29'],
    ['2026-12-31T23:59:00Z', '2026-12-31'],
  ])('a run at %s belongs to %s (UTC)', (at, period) => {
    expect(dailyPeriod(new Date(at))).toBe(period);
  });
});
