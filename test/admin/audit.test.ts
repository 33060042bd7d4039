import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET as auditRoute } from '../../api/admin/audit.js';
import { POST as createRoute } from '../../api/admin/tokens.js';
import { POST as lockRoute } from '../../api/admin/users/lock.js';
import { sinceInstant } from '../../lib/actions/audit-query.js';
import { createToken } from '../../lib/admin/tokens.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const CONFIG = { app: { users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } } } };
const freshIp = () => `2001:db8:a:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;
const uniqueName = (base: string) => `${base}-${randomBytes(4).toString('hex')}`;

/** 130 rows an hour apart, newest at BASE, from three actors over two actions. */
const BASE = Date.parse('2026-06-30T12:00:00Z');
const SEEDED = 130;

describe.each(['pg', 'neon'] as const)('GET /api/admin/audit over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const tokens: Record<'admin' | 'read' | 'operate' | 'heartbeat', string> = { admin: '', read: '', operate: '', heartbeat: '' };
  let readerCalls = 0;
  let readers: string[] = [];

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('tcp')]);
    await ensureSchema(h.db);
    await h.database!.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false, password_hash text)`);
    await h.database!.admin.query(`INSERT INTO users VALUES (1, 'a@example.com', false, 'hash-SECRET-1')`);
    await h.database!.admin.query(
      `INSERT INTO opsbook.audit_log (at, actor, role, action, target, params, result, request_id)
       SELECT $1::timestamptz - make_interval(hours => i), (ARRAY['alice', 'bob', 'carol'])[1 + i % 3], 'operate',
              (ARRAY['users.lock', 'cache.delete'])[1 + i % 2], 'user:' || i, jsonb_build_object('n', i), 'ok', 'seed-' || i
       FROM generate_series(0, $2 - 1) AS i`,
      [new Date(BASE).toISOString(), SEEDED],
    );
    await useAdminDeps(h.db, r.redis, CONFIG);
    for (const role of Object.keys(tokens) as Array<keyof typeof tokens>) {
      tokens[role] = (await createToken(h.db, { name: uniqueName(`audit-${role}`), role, createdBy: 'test' })).token;
    }
    // Several readers, so the many queries here stay under the per-token limit (60/min).
    readers = await Promise.all(Array.from({ length: 4 }, async () => (await createToken(h.db, { name: uniqueName('audit-reader'), role: 'read', createdBy: 'test' })).token));
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const query = (q: Record<string, string>, token?: string | null) =>
    auditRoute(adminRequest('/api/admin/audit', { method: 'GET', query: q, token: token === undefined ? readers[readerCalls++ % readers.length] : token, ip: freshIp() }));
  const rowsOf = async (res: Response) => {
    expect(res.status).toBe(200);
    return (await res.json()).data.rows as Array<Record<string, any>>;
  };
  /** Only the seeded rows (the tests' own actions add more). */
  const seeded = (rows: Array<Record<string, any>>) => rows.filter((x) => String(x.requestId).startsWith('seed-'));

  it('newest first, 100 rows by default, and says when more match', async () => {
    const res = await query({ actor: '*', target: 'user:*' });
    const body = await res.clone().json();
    const rows = await rowsOf(res);
    expect(rows).toHaveLength(100);
    expect(body).toMatchObject({ action: 'audit.query', status: 'ok', count: 100, data: { limit: 100, more: true } });
    const times = rows.map((x) => Date.parse(x.at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(rows[0]).toMatchObject({ actor: 'alice', action: 'users.lock', target: 'user:0', params: { n: 0 }, result: 'ok', requestId: 'seed-0' });
  });

  it.each([
    ['1', 1],
    ['500', SEEDED],
    ['130', SEEDED],
  ])('limit=%s → at most that many rows', async (limit, expected) => {
    expect(seeded(await rowsOf(await query({ limit, target: 'user:*' })))).toHaveLength(expected);
  });

  it.each([
    ['limit above 500', { limit: '501' }],
    ['limit 0', { limit: '0' }],
    ['a negative limit', { limit: '-5' }],
    ['a fractional limit', { limit: '2.5' }],
    ['a non-numeric limit', { limit: 'all' }],
    ['since that is not ISO', { since: 'yesterday' }],
    ['since on a day that does not exist', { since: '2026-02-30' }],
    ['an unknown parameter', { actors: 'alice' }],
    ['an over-long actor', { actor: 'a'.repeat(201) }],
    ['an empty action', { action: '' }],
  ])('%s → 400 in the error shape', async (_what, q) => {
    const res = await query(q);
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(typeof body.requestId).toBe('string');
  });

  it('a parameter given twice → 400', async () => {
    const req = adminRequest('/api/admin/audit?limit=1&limit=2', { method: 'GET', token: tokens.read, ip: freshIp() });
    expect((await auditRoute(req)).status).toBe(400);
  });

  it.each([
    ['since as a timestamp', { since: new Date(BASE - 9 * 3600_000).toISOString() }, 10],
    ['since with an offset', { since: '2026-06-30T05:00:00+02:00' }, 10],
    ['since as a date (midnight UTC)', { since: '2026-06-30' }, 13],
    ['actor', { actor: 'bob' }, 43],
    ['action', { action: 'cache.delete' }, 65],
    ['action prefix', { action: 'cache.*' }, 65],
    ['target', { target: 'user:7' }, 1],
    ['target prefix', { target: 'user:12*' }, 11],
    ['target without its kind (7 finds user:7)', { target: '7' }, 1],
    ['target prefix without its kind', { target: '12*' }, 11],
    ['a kind alone is not an id', { target: 'user' }, 0],
    ['actor and action together', { actor: 'alice', action: 'users.lock', limit: '500' }, 22],
  ])('filter by %s', async (_what, q, expected) => {
    expect(seeded(await rowsOf(await query({ limit: '500', ...q })))).toHaveLength(expected);
  });

  it.each([
    ['30m', 1],
    ['1h', 1],
    ['1d', 2],
    ['7d', 3],
    ['2w', 3],
  ])('since=%s counts back from the request time', async (since, expected) => {
    const rel = (rows: Array<Record<string, any>>) => rows.filter((x) => String(x.requestId).startsWith(`rel-${driver}-`));
    if (!(await h.database!.admin.query(`SELECT 1 FROM opsbook.audit_log WHERE request_id LIKE $1`, [`rel-${driver}-%`])).rowCount) {
      await h.database!.admin.query(
        `INSERT INTO opsbook.audit_log (at, actor, role, action, target, params, result, request_id) VALUES
           (now() - interval '10 minutes', 'dave', 'operate', 'users.lock', 'user:r1', '{}', 'ok', $1 || '1'),
           (now() - interval '3 hours', 'dave', 'operate', 'users.lock', 'user:r2', '{}', 'ok', $1 || '2'),
           (now() - interval '3 days', 'dave', 'operate', 'users.lock', 'user:r3', '{}', 'ok', $1 || '3')`,
        [`rel-${driver}-`],
      );
    }
    expect(rel(await rowsOf(await query({ since, actor: 'dave', limit: '500' })))).toHaveLength(expected);
  });

  it.each(['1x', '0h', '1.5h', '-1h', 'h', '1 h', '1H'])('since=%s → 400 saying what since accepts', async (since) => {
    const res = await query({ since });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringMatching(/since: .*ISO time.*30m, 1h, 7d/) });
  });

  it('LIKE wildcards in a filter are literal; SQL in a filter is only a value', async () => {
    expect(await rowsOf(await query({ action: 'users_lock' }))).toHaveLength(0);
    expect(await rowsOf(await query({ action: '%*' }))).toHaveLength(0);
    expect(await rowsOf(await query({ target: "user:1' OR '1'='1" }))).toHaveLength(0);
    expect(await rowsOf(await query({ actor: "'; DROP TABLE opsbook.audit_log; --" }))).toHaveLength(0);
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.audit_log WHERE request_id LIKE 'seed-%'`);
    expect(rows[0].n).toBe(SEEDED);
  });

  it('rows are as stored: a real action\'s row with before/after, sensitive columns masked, a created token never shown', async () => {
    const lock = await lockRoute(adminRequest('/api/admin/users/lock', { body: { userId: '1', locked: true, reason: 'audit test' }, token: tokens.operate, ip: freshIp() }));
    expect(lock.status).toBe(200);
    const name = uniqueName('made');
    const made = await (await createRoute(adminRequest('/api/admin/tokens', { body: { name, role: 'read' }, token: tokens.admin, ip: freshIp() }))).json();
    const secret: string = made.data.token;

    const [lockRow] = await rowsOf(await query({ action: 'users.lock', target: 'user:1', since: new Date(BASE + 3600_000).toISOString() }));
    expect(lockRow).toMatchObject({ action: 'users.lock', role: 'operate', result: 'ok', params: { userId: '1', locked: true, reason: 'audit test' }, userAgent: 'opsbook-tests' });
    expect(lockRow!.before).toMatchObject({ id: 1, locked: false });
    expect(lockRow!.after).toMatchObject({ id: 1, locked: true });
    expect(JSON.stringify(lockRow)).not.toContain('hash-SECRET');

    const res = await query({ action: 'tokens.*' });
    const text = await res.clone().text();
    const [tokenRow] = await rowsOf(res);
    expect(tokenRow).toMatchObject({ action: 'tokens.create', target: `token:${name}`, params: { name, role: 'read', prefix: secret.slice(0, 10) } });
    expect(text).not.toContain(secret.slice(10));
  });

  it('reading the audit log writes nothing to it', async () => {
    const count = async () => (await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n;
    const before = await count();
    await query({ limit: '5' });
    expect(await count()).toBe(before);
  });

  it.each([
    ['no token', null, 401],
    ['a heartbeat token', 'heartbeat', 403],
    ['a read token', 'read', 200],
    ['an operate token', 'operate', 200],
    ['an admin token', 'admin', 200],
  ] as const)('%s → %i', async (_what, role, status) => {
    expect((await query({ limit: '1' }, role === null ? null : tokens[role])).status).toBe(status);
  });
});

describe('sinceInstant', () => {
  const NOW = new Date('2026-06-30T12:00:00Z');
  it.each([
    ['30m', '2026-06-30T11:30:00.000Z'],
    ['1h', '2026-06-30T11:00:00.000Z'],
    ['7d', '2026-06-23T12:00:00.000Z'],
    ['90s', '2026-06-30T11:58:30.000Z'],
    ['1w', '2026-06-23T12:00:00.000Z'],
    ['2026-06-01', '2026-06-01T00:00:00.000Z'],
    ['2026-06-30T05:00:00+02:00', '2026-06-30T03:00:00.000Z'],
  ])('%s before the injected now → %s', (since, at) => {
    expect(sinceInstant(since, NOW).toISOString()).toBe(at);
  });
});
