// A deployed function whose opsbook.config.ts check-config rejects: validated at the instance's cold
// start (getConfig), health says so, cron and admin refuse, and Sentry hears about it once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET as health } from '../../api/health.js';
import { GET as cron } from '../../api/cron/[job].js';
import { POST as createToken } from '../../api/admin/tokens.js';
import { setConfigSource } from '../../lib/config/index.js';
import { createDeps, setDeps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const ADMIN = 'admin-token-for-misconfigured-0123';
const SECRET = 'cron-secret-for-misconfigured-0123';
/** What check-config rejects: an item naming no check, and a schedule that is no time of day. */
const INVALID = {
  checklists: [
    { id: 'daily', title: 'Morning', schedule: { type: 'daily', at: '00:00' }, items: [{ check: 'no-such-check' }] },
    { id: 'weekly', title: 'Weekly', schedule: { type: 'daily', at: '09:00' }, items: [{ check: 'postgres.nothing' }] },
  ],
};

describe('a function whose config is invalid', () => {
  let h: DbHarness;
  let sink: SentrySink;
  beforeAll(async () => {
    [h, sink] = await Promise.all([openDb('pg'), startSentrySink()]);
    const env = parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN, CRON_SECRET: SECRET, SENTRY_DSN: sink.dsn });
    // The reporter is the production one, from the environment, talking to the local Sentry sink.
    setDeps(await createDeps(env, { db: h.db, redis: createMemoryRedis() }));
    setConfigSource(INVALID);
  });
  afterAll(async () => {
    setConfigSource(undefined);
    setDeps(undefined);
    await Promise.allSettled([h.close(), sink.close()]);
  });

  const auth = (token: string) => ({ authorization: `Bearer ${token}` });

  it('health, publicly → 503 "misconfigured" with one generic line, no problem named', async () => {
    const res = await health(new Request('http://localhost/api/health'));
    expect(res.status).toBe(503);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ status: 'misconfigured', timestamp: expect.any(String), message: expect.stringMatching(/configuration is invalid/) });
    expect(text).not.toMatch(/no-such-check|checklists\./);
  });

  it('health, to an admin token → 503 with every problem by its path', async () => {
    const res = await health(new Request('http://localhost/api/health', { headers: auth(ADMIN) }));
    expect(res.status).toBe(503);
    const body = await res.json();
    expect(body.status).toBe('misconfigured');
    expect(body.problems).toEqual(['checklists.0.items.0.check: no check or family "no-such-check"', 'checklists.1.items.0.check: no check or family "postgres.nothing"']);
  });

  it.each([
    ['cron, with the secret', () => cron(new Request('http://localhost/api/cron/daily?job=daily', { headers: auth(SECRET) }))],
    [
      'an admin action, with the admin token',
      () => createToken(new Request('http://localhost/api/admin/tokens', { method: 'POST', headers: { ...auth(ADMIN), 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', role: 'read' }) })),
    ],
  ])('%s → refused with MISCONFIGURED saying where the problems are, and nothing runs', async (_name, call) => {
    const res = await call();
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error.code).toBe('MISCONFIGURED');
    expect(body.error.message).toMatch(/config .* is invalid \(2 problems\).*check-config/);
    expect(JSON.stringify(body)).not.toContain('no-such-check');
    const runs = await h.db.query(`SELECT to_regclass('opsbook.job_runs') AS t`);
    if (runs.rows[0]!.t) expect((await h.db.query(`SELECT 1 FROM opsbook.job_runs`)).rows).toEqual([]);
  });

  it('Sentry gets one event for the instance, naming the problems, however many requests were refused', async () => {
    await sink.waitFor((items) => items.some((i) => i.type === 'event'));
    const events = sink.events().filter((e) => e.tags?.opsbook === 'misconfigured');
    expect(events).toHaveLength(1);
    expect(JSON.stringify(events[0])).toContain('no check or family \\"no-such-check\\"');
    expect(sink.events()).toHaveLength(1);
  });
});
