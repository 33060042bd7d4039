import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/users/lock.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const CONFIG = { app: { users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } } } };

describe.each(['pg', 'neon'] as const)('POST /api/admin/users/lock over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('tcp')]);
    await h.database!.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false, password_hash text)`);
    await useAdminDeps(h.db, r.redis, CONFIG);
  });
  beforeEach(async () => {
    await h.database!.admin.query(`TRUNCATE users; INSERT INTO users VALUES (1, 'a@example.com', false, 'hash-SECRET-1'), (2, 'b@example.com', true, 'hash-SECRET-2')`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const lock = (body: unknown, extra: Parameters<typeof adminRequest>[1] = {}) => POST(adminRequest('/api/admin/users/lock', { body, ...extra }));

  it('locks a user, with an audit row holding before and after (sensitive columns masked)', async () => {
    const res = await lock({ userId: '1', locked: true, reason: 'suspicious logins' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'users.lock', status: 'ok', dryRun: false, count: 1 });
    const { rows } = await h.database!.admin.query(`SELECT locked FROM users WHERE id = 1`);
    expect(rows[0].locked).toBe(true);
    const audit = await h.database!.admin.query(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ actor: 'bootstrap', role: 'admin', action: 'users.lock', target: 'user:1', result: 'ok', user_agent: 'opsbook-tests' });
    expect(audit.rows[0].before).toMatchObject({ id: 1, locked: false });
    expect(audit.rows[0].after).toMatchObject({ id: 1, locked: true });
    expect(JSON.stringify(audit.rows[0])).not.toContain('hash-SECRET');
    expect(JSON.stringify(body)).not.toContain('hash-SECRET');
  });

  it('locking a locked user is a no-op, still audited', async () => {
    const body = await (await lock({ userId: '2', locked: true })).json();
    expect(body).toMatchObject({ status: 'noop', count: 0 });
  });

  it('dry run shows what would change and changes nothing', async () => {
    const body = await (await lock({ userId: '1', locked: true, dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, count: 1 });
    const { rows } = await h.database!.admin.query(`SELECT locked FROM users WHERE id = 1`);
    expect(rows[0].locked).toBe(false);
  });

  it.each([
    ['an unknown field', { userId: '1', locked: true, extra: 1 }],
    ['a missing field', { userId: '1' }],
    ['a non-numeric id for an integer column', { userId: 'abc', locked: true }],
    ['an over-long id', { userId: 'x'.repeat(200), locked: true }],
    ['SQL in the id', { userId: "1; DROP TABLE users; --", locked: true }],
  ])('%s → 400 in the error shape, nothing changed', async (_name, body) => {
    const res = await lock(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM users WHERE locked`);
    expect(rows[0].n).toBe(1);
  });

  it.each([false, true])('an unknown user (dry run %s) → 404 NOT_FOUND in the error shape, nothing changed', async (dryRun) => {
    const res = await lock({ userId: '999', locked: true, dryRun });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: 'No user 999.' }, requestId: expect.any(String) });
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM users WHERE locked`);
    expect(rows[0].n).toBe(1);
  });

  it('the audit insert failing rolls the change back', async () => {
    await h.database!.admin.query(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_force_fail CHECK (action <> 'users.lock') NOT VALID`);
    try {
      const res = await lock({ userId: '1', locked: true });
      expect(res.status).toBe(500);
      const { rows } = await h.database!.admin.query(`SELECT locked FROM users WHERE id = 1`);
      expect(rows[0].locked).toBe(false);
    } finally {
      await h.database!.admin.query(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_force_fail`);
    }
  });

  it('Idempotency-Key: a retry replays the stored answer; the same key with another body → 409', async () => {
    const key = `k-${driver}-${Date.now()}`;
    const first = await (await lock({ userId: '1', locked: true }, { headers: { 'idempotency-key': key } })).json();
    const replay = await lock({ userId: '1', locked: true }, { headers: { 'idempotency-key': key } });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(await replay.json()).toEqual(first);
    const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.audit_log WHERE request_id = $1`, [first.requestId]);
    expect(rows[0].n).toBe(1);
    expect((await lock({ userId: '1', locked: false }, { headers: { 'idempotency-key': key } })).status).toBe(409);
  });

  it('a request that failed validation does not store its key', async () => {
    const key = `v-${driver}-${Date.now()}`;
    expect((await lock({ userId: '1' }, { headers: { 'idempotency-key': key } })).status).toBe(400);
    expect((await lock({ userId: '1', locked: true }, { headers: { 'idempotency-key': key } })).status).toBe(200);
  });
});
