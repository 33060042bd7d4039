import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/users/delete.js';
import { createToken } from '../../lib/admin/tokens.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

/** Runbook 001 (VocaVision): snake_case, integer ids, `deleted_at = NOW()`. */
const VOCA: OpsbookConfigInput = { app: { users: { table: 'users', columns: { id: 'id', email: 'email', deletedAt: 'deleted_at' } } } };

describe.each(['pg', 'neon', 'pglite'] as const)('POST /api/admin/users/delete over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const q = async (text: string, params: unknown[] = []) => (h.database ? h.database.admin.query(text, params) : h.db.query<any>(text, params));
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await exec(`CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, password_hash text, reset_token text, deleted_at timestamptz, last_login timestamptz);
      CREATE TABLE sessions (id int PRIMARY KEY, user_id int NOT NULL)`);
  });
  beforeEach(async () => {
    // Fresh deps per test: the in-memory rate limits start over.
    await useAdminDeps(h.db, r.redis, VOCA);
    await exec(`TRUNCATE users, sessions; INSERT INTO users VALUES
      (1, 'a@example.com', 'hash-SECRET-1', 'reset-SECRET-1', NULL, now()),
      (2, 'b@example.com', 'hash-SECRET-2', NULL, '2024-05-06T07:08:09Z', NULL),
      (3, 'c@example.com', 'hash-SECRET-3', NULL, NULL, NULL);
      INSERT INTO sessions VALUES (1, 1), (2, 3)`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const del = (body: unknown, extra: Parameters<typeof adminRequest>[1] = {}) => POST(adminRequest('/api/admin/users/delete', { body, ...extra }));
  const deletedMs = async (id: number) => {
    const v = (await q(`SELECT extract(epoch FROM deleted_at) * 1000 AS ms FROM users WHERE id = $1`, [id])).rows[0]?.ms;
    return v === null || v === undefined ? v : Number(v);
  };
  const snapshot = async () => ({ users: (await q(`SELECT * FROM users ORDER BY id`)).rows, sessions: (await q(`SELECT * FROM sessions ORDER BY id`)).rows });

  it('soft-deletes: the row stays, deleted_at = now; audited with before/after, actor, request id, ip, user agent, secrets masked', async () => {
    const t0 = Date.now();
    const res = await del({ userId: '1' }, { ip: '198.51.100.4', headers: { 'x-request-id': `req-del-${driver}`, 'user-agent': 'runbook-001' } });
    const t1 = Date.now();
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'users.delete', status: 'ok', dryRun: false, count: 1, sample: [{ id: 1, email: 'a@example.com' }] });
    expect(body.sample[0].deleted_at).not.toBeNull();
    const ms = await deletedMs(1);
    expect(ms).toBeGreaterThanOrEqual(t0 - 1);
    expect(ms).toBeLessThanOrEqual(t1 + 1);
    expect((await q(`SELECT count(*)::int AS n FROM users`)).rows[0].n).toBe(3);

    const audit = (await q(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0];
    expect(audit).toMatchObject({ actor: 'bootstrap', role: 'admin', action: 'users.delete', target: 'user:1', result: 'ok', request_id: body.requestId, client_request_id: `req-del-${driver}`, ip: '198.51.100.4', user_agent: 'runbook-001', params: { userId: '1' } });
    expect(audit.before).toMatchObject({ id: 1, deleted_at: null });
    expect(audit.after.deleted_at).not.toBeNull();
    expect(JSON.stringify([audit, body])).not.toMatch(/SECRET|password_hash|reset_token/);
  });

  it('deleting a deleted user is a no-op: the first deletion time stays, still audited', async () => {
    const before = await deletedMs(2);
    const body = await (await del({ userId: '2' })).json();
    expect(body).toMatchObject({ status: 'noop', count: 0, summary: 'User 2 was already deleted.' });
    expect(await deletedMs(2)).toBe(before);
    expect((await q(`SELECT result FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0].result).toBe('noop');
  });

  it('a repeat of a delete is a no-op', async () => {
    expect((await (await del({ userId: '3' })).json()).status).toBe('ok');
    const at = await deletedMs(3);
    expect((await (await del({ userId: '3' })).json()).status).toBe('noop');
    expect(await deletedMs(3)).toBe(at);
  });

  it('dry run shows the row and what would be set, changes nothing, writes no audit row', async () => {
    const before = await snapshot();
    const audits = (await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n;
    const body = await (await del({ userId: '1', dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, count: 1, sample: [{ id: 1, deleted_at: null }], data: { set: { deleted_at: expect.any(String) } } });
    expect(JSON.stringify(body)).not.toContain('SECRET');
    expect(await (await del({ userId: '2', dryRun: true })).json()).toMatchObject({ status: 'noop', dryRun: true, count: 0 });
    expect(await snapshot()).toEqual(before);
    expect((await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n).toBe(audits);
  });

  it('an unknown user → 404 NOT_FOUND in the error shape, nothing changed', async () => {
    const res = await del({ userId: '404' });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: 'No user 404.' } });
  });

  it.each([
    ['deletedAt unmapped', { id: 'id', email: 'email' }, 'app.users.columns.deletedAt'],
    ['deletedAt naming a missing column', { id: 'id', email: 'email', deletedAt: 'deletedAt' }, 'app.users.columns.deletedAt = "deletedAt"'],
    ['id naming a missing column', { id: 'user_id', email: 'email', deletedAt: 'deleted_at' }, 'app.users.columns.id = "user_id"'],
  ])('%s → 500 MISCONFIGURED naming the config path, nothing changed', async (_name, columns, path) => {
    setConfig(parseConfig({ app: { users: { table: 'users', columns } } }));
    const before = await snapshot();
    const res = await del({ userId: '1' });
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error.code).toBe('MISCONFIGURED');
    expect(body.error.message).toContain(path);
    expect(await snapshot()).toEqual(before);
  });

  it('a table that does not exist → 500 MISCONFIGURED naming it', async () => {
    setConfig(parseConfig({ app: { users: { table: 'accounts', columns: { deletedAt: 'deleted_at' } } } }));
    const body = await (await del({ userId: '1' })).json();
    expect(body.error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('public.accounts') });
  });

  it.each([
    ["'; DROP TABLE users; --"],
    ['" OR 1=1 --'],
    ['$1'],
    ['1 OR 1=1'],
    ['1; DELETE FROM sessions'],
    ['１'],
    ['Ünïcødé 用户 🙂'],
    ['9'.repeat(128)],
  ])('hostile id %j for an integer column → 400, never 5xx, nothing changed, tables intact', async (evil) => {
    const before = await snapshot();
    const res = await del({ userId: evil });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['an unknown field', { userId: '1', hard: true }],
    ['no userId', {}],
    ['a 500-character id', { userId: '1'.repeat(500) }],
    ['a NUL character', { userId: '1\u0000' }],
  ])('%s → 400, nothing changed', async (_name, body) => {
    const before = await snapshot();
    const res = await del(body);
    expect(res.status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });

  it('a read token → 403; an operate token may delete', async () => {
    const reader = await createToken(h.db, { name: `del-reader-${driver}`, role: 'read', createdBy: 'tests' });
    const operator = await createToken(h.db, { name: `del-operator-${driver}`, role: 'operate', createdBy: 'tests' });
    expect((await del({ userId: '1' }, { token: reader.token })).status).toBe(403);
    expect(await deletedMs(1)).toBeNull();
    expect((await (await del({ userId: '1' }, { token: operator.token })).json()).status).toBe('ok');
  });

  it('the audit insert failing rolls the change back', async () => {
    await q(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_force_fail_del CHECK (action <> 'users.delete') NOT VALID`);
    try {
      expect((await del({ userId: '1' })).status).toBe(500);
      expect(await deletedMs(1)).toBeNull();
    } finally {
      await q(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_force_fail_del`);
    }
  });
});
