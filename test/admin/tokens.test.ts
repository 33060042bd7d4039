import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as createRoute } from '../../api/admin/tokens.js';
import { POST as revokeRoute } from '../../api/admin/tokens/revoke.js';
import { GET as auditRoute } from '../../api/admin/audit.js';
import { POST as lockRoute } from '../../api/admin/users/lock.js';
import { GET as diagnosticsRoute } from '../../api/diagnostics.js';
import { GET as latestReportRoute } from '../../api/reports/latest.js';
import { POST as pingRoute } from '../../api/heartbeats/[name].js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const CONFIG = {
  app: { users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } } },
  heartbeats: [{ name: 'nightly-backup', periodSeconds: 3600 }],
  checks: { requiredEnv: ['PATH'] },
};

/** A client address of its own (random, so reruns within the rate-limit windows do not add up). */
const freshIp = () => `2001:db8:7:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;
/** Token names unique per run, so the per-token limit and name uniqueness never cross tests. */
const uniqueName = (base: string) => `${base}-${randomBytes(4).toString('hex')}`;

describe.each(['pg', 'neon'] as const)('stored tokens over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  /** An admin stored token per test file run: the bootstrap token's per-token limit is shared with other files. */
  let admin: string;

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('tcp')]);
    await h.database!.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false)`);
    await h.database!.admin.query(`INSERT INTO users VALUES (1, 'a@example.com', false)`);
    await useAdminDeps(h.db, r.redis, CONFIG);
    admin = (await createToken(h.db, { name: uniqueName('tokens-admin'), role: 'admin', createdBy: 'test' })).token;
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const post = (route: (r: Request) => Promise<Response>, path: string, body: unknown, token: string | null = admin) =>
    route(adminRequest(path, { body, token, ip: freshIp() }));
  const create = (body: unknown, token: string | null = admin) => post(createRoute, '/api/admin/tokens', body, token);
  const revoke = (body: unknown, token: string | null = admin) => post(revokeRoute, '/api/admin/tokens/revoke', body, token);
  const audit = (query: Record<string, string>, token: string = admin) => auditRoute(adminRequest('/api/admin/audit', { method: 'GET', query, token, ip: freshIp() }));
  async function newToken(role: Role, base = role): Promise<{ token: string; name: string; id: number }> {
    const name = uniqueName(base);
    const res = await create({ name, role });
    expect(res.status).toBe(200);
    const body = await res.json();
    return { token: body.data.token, name, id: body.data.id };
  }
  const auditRow = async (id: number) => (await h.database!.admin.query(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [id])).rows[0];

  it('create → the token once (ops_ + 256 random bits); only its SHA-256 and prefix are stored; the audit row has name, role, prefix and never the token', async () => {
    const name = uniqueName('deployer');
    const res = await create({ name, role: 'operate' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'tokens.create', status: 'ok', dryRun: false, count: 1, data: { name, role: 'operate' } });
    const token: string = body.data.token;
    expect(token).toMatch(/^ops_[A-Za-z0-9_-]+$/);
    expect(Buffer.from(token.slice(4), 'base64url').length * 8).toBeGreaterThanOrEqual(128);
    expect(body.data.prefix).toBe(token.slice(0, 10));
    expect(JSON.stringify(body.sample)).not.toContain(token);

    const { rows } = await h.database!.admin.query(`SELECT * FROM opsbook.tokens WHERE name = $1`, [name]);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ role: 'operate', prefix: token.slice(0, 10), hash: createHash('sha256').update(token).digest('hex'), revoked_at: null });
    expect(JSON.stringify(rows[0])).not.toContain(token.slice(10));

    const row = await auditRow(body.auditId);
    expect(row).toMatchObject({ action: 'tokens.create', target: `token:${name}`, result: 'ok', params: { name, role: 'operate', prefix: token.slice(0, 10) } });
    expect(row.after).toMatchObject({ name, role: 'operate', prefix: token.slice(0, 10) });
    expect(JSON.stringify(row)).not.toContain(token.slice(10));
  });

  it('create with an Idempotency-Key: the token is never kept in the idempotency table; a replay answers without it', async () => {
    const name = uniqueName('idem');
    const key = `idem-${name}`;
    const first = await (await createRoute(adminRequest('/api/admin/tokens', { body: { name, role: 'read' }, token: admin, ip: freshIp(), headers: { 'idempotency-key': key } }))).json();
    const token: string = first.data.token;
    expect(token).toMatch(/^ops_/);
    const stored = await h.database!.admin.query(`SELECT body FROM opsbook.idempotency_keys WHERE key = $1`, [key]);
    expect(JSON.stringify(stored.rows)).not.toContain(token.slice(4));
    const replay = await createRoute(adminRequest('/api/admin/tokens', { body: { name, role: 'read' }, token: admin, ip: freshIp(), headers: { 'idempotency-key': key } }));
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    const again = await replay.json();
    expect(JSON.stringify(again)).not.toContain(token.slice(4));
    expect(again.data).toMatch(/shown once/);
  });

  it('two creates of one name: the second → 409 CONFLICT while the first is active; after revoking it the name is free again', async () => {
    const name = uniqueName('ci');
    expect((await create({ name, role: 'read' })).status).toBe(200);
    const again = await create({ name, role: 'admin' });
    expect(again.status).toBe(409);
    expect((await again.json()).error.code).toBe('CONFLICT');
    expect((await create({ name, role: 'read', dryRun: true })).status).toBe(409);
    expect((await revoke({ name })).status).toBe(200);
    expect((await create({ name, role: 'admin' })).status).toBe(200);
    const { rows } = await h.database!.admin.query(`SELECT role, revoked_at IS NULL AS active FROM opsbook.tokens WHERE name = $1 ORDER BY id`, [name]);
    expect(rows).toEqual([{ role: 'read', active: false }, { role: 'admin', active: true }]);
  });

  it('concurrent creates of one name: exactly one wins', async () => {
    const name = uniqueName('race');
    const statuses = (await Promise.all(Array.from({ length: 4 }, () => create({ name, role: 'read' })))).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409, 409, 409]);
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.tokens WHERE name = $1 AND revoked_at IS NULL`, [name]);
    expect(rows[0].n).toBe(1);
  });

  it('a dry run of create stores nothing and shows no token', async () => {
    const name = uniqueName('dry');
    const body = await (await create({ name, role: 'read', dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, count: 1 });
    expect(body.data).toBeUndefined();
    expect(JSON.stringify(body)).not.toMatch(/ops_/);
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.tokens WHERE name = $1`, [name]);
    expect(rows[0].n).toBe(0);
  });

  it.each([
    ['an unknown role', { name: 'x1', role: 'root' }],
    ['no role', { name: 'x2' }],
    ['the reserved name bootstrap', { name: 'Bootstrap', role: 'read' }],
    ['a name with spaces', { name: 'my token', role: 'read' }],
    ['a name with a colon (cli: actors)', { name: 'cli:root', role: 'read' }],
    ['an over-long name', { name: 'n'.repeat(64), role: 'read' }],
    ['an unknown field', { name: 'x3', role: 'read', token: 'ops_chosen_by_caller_0000000000000' }],
  ])('create with %s → 400, nothing stored', async (_what, body) => {
    const before = (await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.tokens`)).rows[0].n;
    const res = await create(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    expect((await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.tokens`)).rows[0].n).toBe(before);
  });

  it.each(['heartbeat', 'read', 'operate'] as const)('a %s token cannot create or revoke tokens → 403', async (role) => {
    const weak = await newToken(role);
    expect((await create({ name: uniqueName('escalate'), role: 'admin' }, weak.token)).status).toBe(403);
    expect((await revoke({ name: weak.name }, weak.token)).status).toBe(403);
  });

  it('the new token works with its role at once: read → audit 200, users.lock 403', async () => {
    const reader = await newToken('read');
    expect((await audit({ limit: '1' }, reader.token)).status).toBe(200);
    expect((await post(lockRoute, '/api/admin/users/lock', { userId: '1', locked: true }, reader.token)).status).toBe(403);
  });

  it('revoke by name → revoked_at set, audited; the token → 401 at once on admin routes', async () => {
    const op = await newToken('operate');
    expect((await post(lockRoute, '/api/admin/users/lock', { userId: '1', locked: false }, op.token)).status).toBe(200);
    const res = await revoke({ name: op.name });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'tokens.revoke', status: 'ok', count: 1 });
    const { rows } = await h.database!.admin.query(`SELECT revoked_at FROM opsbook.tokens WHERE name = $1`, [op.name]);
    expect(rows[0].revoked_at).not.toBeNull();
    const row = await auditRow(body.auditId);
    expect(row).toMatchObject({ action: 'tokens.revoke', target: `token:${op.name}`, result: 'ok', params: { name: op.name } });
    expect(row.before[0]).toMatchObject({ name: op.name, revokedAt: null });
    expect(row.after[0].revokedAt).not.toBeNull();
    expect(JSON.stringify(row)).not.toContain(op.token.slice(10));

    const after = await post(lockRoute, '/api/admin/users/lock', { userId: '1', locked: false }, op.token);
    expect(after.status).toBe(401);
    expect(after.headers.get('www-authenticate')).toBe('Bearer');
  });

  it('revoke by id works the same; revoking a revoked token is a no-op, still audited', async () => {
    const t = await newToken('read');
    expect(await (await revoke({ id: t.id })).json()).toMatchObject({ status: 'ok', count: 1 });
    const again = await (await revoke({ id: t.id })).json();
    expect(again).toMatchObject({ status: 'noop', count: 0 });
    expect((await auditRow(again.auditId)).result).toBe('noop');
    expect((await audit({ limit: '1' }, t.token)).status).toBe(401);
  });

  it('revoke dry run changes nothing; an unknown name → 404 in the error shape, dry run or not, the attempt audited', async () => {
    const t = await newToken('read');
    expect(await (await revoke({ name: t.name, dryRun: true })).json()).toMatchObject({ status: 'ok', dryRun: true, count: 1 });
    expect((await audit({ limit: '1' }, t.token)).status).toBe(200);
    for (const dryRun of [true, false]) {
      const missing = await revoke({ name: uniqueName('nobody'), dryRun });
      expect(missing.status).toBe(404);
      const body = await missing.json();
      expect(body.error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/^No token "/) });
      if (!dryRun) expect((await auditRow(body.error.details.auditId)).result).toBe('not-found');
    }
  });

  it.each([
    ['neither name nor id', {}],
    ['both name and id', { name: 'a', id: 1 }],
    ['an id that is not a positive integer', { id: -3 }],
    ['an id as text', { id: '1; DROP TABLE opsbook.tokens' }],
  ])('revoke with %s → 400', async (_what, body) => {
    const res = await revoke(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
  });

  it('read routes and heartbeat pings accept stored tokens of their role, and refuse them once revoked', async () => {
    const reader = await newToken('read');
    const pinger = await newToken('heartbeat');
    const get = (route: (r: Request) => Promise<Response>, path: string, token: string, query: Record<string, string> = {}) =>
      route(adminRequest(path, { method: 'GET', token, query, ip: freshIp() }));
    const ping = (token: string) => pingRoute(adminRequest('/api/heartbeats/nightly-backup', { token, query: { name: 'nightly-backup' }, ip: freshIp() }));

    expect((await get(diagnosticsRoute, '/api/diagnostics', reader.token, { only: 'env' })).status).toBe(200);
    const report = await get(latestReportRoute, '/api/reports/latest', reader.token, { checklist: 'daily' });
    expect(report.status).toBe(404);
    expect((await ping(pinger.token)).status).toBe(200);
    // Roles stay apart: a reader cannot ping, a pinger cannot read.
    expect((await ping(reader.token)).status).toBe(403);
    expect((await get(diagnosticsRoute, '/api/diagnostics', pinger.token)).status).toBe(403);

    await revoke({ name: reader.name });
    await revoke({ name: pinger.name });
    expect((await get(diagnosticsRoute, '/api/diagnostics', reader.token, { only: 'env' })).status).toBe(401);
    expect((await get(latestReportRoute, '/api/reports/latest', reader.token, { checklist: 'daily' })).status).toBe(401);
    expect((await ping(pinger.token)).status).toBe(401);
  });

  it('a stored token records when it was last used', async () => {
    const t = await newToken('read');
    const before = (await h.database!.admin.query(`SELECT last_used_at FROM opsbook.tokens WHERE id = $1`, [t.id])).rows[0].last_used_at;
    expect(before).toBeNull();
    await audit({ limit: '1' }, t.token);
    const after = (await h.database!.admin.query(`SELECT last_used_at FROM opsbook.tokens WHERE id = $1`, [t.id])).rows[0].last_used_at;
    expect(after).not.toBeNull();
  });
});
