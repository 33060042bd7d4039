import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET } from '../../api/cron/[job].js';
import { parseConfig, setConfig } from '../../lib/config/index.js';
import { createDeps, setDeps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { createResendSender } from '../../lib/email/resend.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const SECRET = 'cron-secret-for-tests-abcdef012345';
const CONFIG = parseConfig({
  service: 'CronTest',
  recipients: ['oncall@example.com'],
  checklists: [{ id: 'daily', title: 'Morning', schedule: { type: 'daily', at: '00:00' }, items: [{ manual: 'Look at the dashboards' }] }],
});
const call = (headers: Record<string, string> = {}, job = 'daily', extra = '') =>
  GET(new Request(`http://localhost/api/cron/${job}?job=${job}${extra}`, { headers }));

describe('GET /api/cron/<job>', () => {
  let h: DbHarness;
  let sink: ResendSink;
  const logs: string[] = [];
  beforeAll(async () => {
    [h, sink] = await Promise.all([openDb('pg'), startResendSink()]);
    setConfig(CONFIG);
  });
  afterAll(async () => {
    setDeps(undefined);
    setConfig(undefined);
    await Promise.allSettled([h.close(), sink.close()]);
  });
  async function use(vars: Record<string, string>) {
    logs.length = 0;
    const env = parseEnv({ ...vars, RESEND_API_KEY: 're_test_key_123' });
    setDeps(
      await createDeps(env, {
        db: h.db,
        redis: createMemoryRedis(),
        email: createResendSender('re_test_key_123', { baseUrl: sink.baseUrl, timeoutMs: 5000 }),
        log: (_l, m) => logs.push(m),
      }),
    );
  }

  it.each([
    ['no Authorization header', {}],
    ['a wrong secret of the same length', { authorization: `Bearer ${SECRET.replace(/.$/, 'X')}` }],
    ['a secret of a different length', { authorization: `Bearer ${SECRET}extra` }],
    ['a prefix of the secret', { authorization: `Bearer ${SECRET.slice(0, 10)}` }],
    ['the secret without the Bearer scheme', { authorization: SECRET }],
    ['the secret only in the query string', {}],
  ])('%s → 401 in the error shape', async (_name, headers) => {
    await use({ CRON_SECRET: SECRET });
    const res = await call(headers, 'daily', `&secret=${SECRET}`);
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

  it('10 concurrent deliveries of one event → one run row, one email, nine "already-ran"', async () => {
    await use({ CRON_SECRET: SECRET });
    sink.clear();
    const responses = await Promise.all(Array.from({ length: 10 }, () => call({ authorization: `Bearer ${SECRET}` })));
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200));
    const bodies = await Promise.all(responses.map((r) => r.json()));
    expect(bodies.filter((b) => b.status === 'completed')).toHaveLength(1);
    expect(bodies.filter((b) => b.status === 'already-ran')).toHaveLength(9);
    const { rows } = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.job_runs WHERE job = 'daily'`);
    expect(rows[0]!.n).toBe(1);
    expect(sink.emails).toHaveLength(1);
    expect(sink.emails[0]!.to).toEqual(['oncall@example.com']);
  });
});
