import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET } from '../../api/diagnostics.js';
import { PLAYBOOKS } from '../../lib/diagnostics/playbooks.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { ADMIN_TOKEN, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const get = (query = '', headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}` }) =>
  GET(new Request(`http://localhost/api/diagnostics${query}`, { headers }));

describe('GET /api/diagnostics', () => {
  let h: DbHarness;
  let r: RedisHarness;
  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('neon'), openRedis('tcp')]);
    await useAdminDeps(h.db, r.redis, { checks: { requiredEnv: ['PATH'] } });
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: 'Bearer wrong-token-0123456789abcdef' }],
  ])('%s → 401 in the error shape', async (_n, headers) => {
    const res = await get('', headers);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { code: 'UNAUTHORIZED' }, requestId: expect.any(String) });
  });

  it('runs every check and answers {status, startedAt, durationMs, checks} within two Postgres round trips', async () => {
    await get('?only=postgres.connections'); // warm: Opsbook's schema exists, as on a warm instance
    h.neon!.resetCount();
    const res = await get();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toMatchObject({ status: expect.any(String), startedAt: expect.any(String), durationMs: expect.any(Number) });
    const ids = body.checks.map((c: { id: string }) => c.id);
    for (const id of ['postgres.connections', 'postgres.slow-queries', 'postgres.sequences', 'redis.ping', 'queues.backlog', 'env.required']) expect(ids).toContain(id);
    expect(body.postgresRoundTrips).toBeLessThanOrEqual(2);
    expect(h.neon!.requests).toBeLessThanOrEqual(2);
    for (const c of body.checks) expect(['ok', 'warn', 'fail', 'skipped', 'error']).toContain(c.status);
  });

  it('?only= selects checks and families', async () => {
    const body = await (await get('?only=redis,postgres.connections')).json();
    expect(body.checks.map((c: { id: string }) => c.id).sort()).toEqual(['postgres.connections', 'redis.clients', 'redis.dbsize', 'redis.hit-rate', 'redis.memory', 'redis.ping', 'redis.slowlog']);
  });

  it.each([
    ['an unknown check id', '?only=nope', /Unknown check/],
    ['an unknown parameter', '?bogus=1', /bogus|Unrecognized|unrecognized/],
    ['an unknown format', '?format=xml', /format/],
    ['an unknown playbook', '?playbook=nope', /playbook/],
    ['a parameter given twice', '?only=redis&only=postgres', /twice/],
  ])('%s → 400 naming the problem', async (_n, q, message) => {
    const res = await get(q);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error.code).toBe('BAD_REQUEST');
    expect(body.error.message).toMatch(message);
  });

  it('?format=text gives the verdict first, problems before passes', async () => {
    const res = await get('?format=text&only=postgres.connections,env');
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text.split('\n')[0]).toMatch(/diagnostics — .* — (OK|WARN|FAIL|ERROR) \(\d+ fail/);
    expect(text).toContain('postgres.connections');
  });

  it.each(Object.keys(PLAYBOOKS))('?playbook=%s answers its steps in the runbook order, with suggested dry-run actions', async (name) => {
    const body = await (await get(`?playbook=${name}`)).json();
    expect(body.playbook).toBe(name);
    expect(body.steps.map((s: { step: number }) => s.step)).toEqual(PLAYBOOKS[name]!.steps.map((_, i) => i + 1));
    for (const a of body.suggestedActions) if (a.action) expect(a.action.body.dryRun).toBe(true);
  });

  it('?snapshot=1 stores sizes, query stats and queue counts for trends', async () => {
    const before = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.snapshots`);
    const body = await (await get('?snapshot=1&only=postgres.database-size,postgres.slow-queries,queues.backlog')).json();
    expect(body.snapshotStored).toBe(true);
    const { rows } = await h.database!.admin.query(`SELECT DISTINCT kind FROM opsbook.snapshots`);
    expect(rows.map((x) => x.kind)).toEqual(expect.arrayContaining(['database_size', 'pg_stat_statements']));
    const after = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.snapshots`);
    expect(after.rows[0].n).toBeGreaterThan(before.rows[0].n);
  });
});
