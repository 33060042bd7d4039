import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/users/lock.js';
import { POST as reinstateRoute } from '../../api/admin/users/reinstate.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
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

describe.each(['pg', 'pglite'] as const)('users.lock on a status column over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const q = async (text: string, params: unknown[] = []) => (h.database ? h.database.admin.query(text, params) : h.db.query<any>(text, params));
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));
  /** Lock and suspend share one status column, as in most apps with a `status` enum. */
  const STATUS: OpsbookConfigInput = {
    app: {
      users: {
        table: 'accounts',
        columns: { id: 'id', email: 'email', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason' },
        locked: { column: 'status', value: 'LOCKED' },
      },
    },
  };

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await exec(`CREATE TYPE "AccountStatus" AS ENUM ('ACTIVE', 'LOCKED', 'SUSPENDED', 'BANNED');
      CREATE TABLE accounts (id text PRIMARY KEY, email text NOT NULL, status "AccountStatus" NOT NULL, suspended_at timestamptz, suspension_reason text, reset_token text);
      CREATE TYPE "NoLock" AS ENUM ('ACTIVE', 'SUSPENDED');
      CREATE TABLE plain (id text PRIMARY KEY, email text NOT NULL, status "NoLock" NOT NULL)`);
  });
  beforeEach(async () => {
    await useAdminDeps(h.db, r.redis, STATUS);
    await exec(`TRUNCATE accounts; INSERT INTO accounts VALUES
      ('a', 'a@example.com', 'ACTIVE', NULL, NULL, 'reset-SECRET-a'),
      ('s', 's@example.com', 'SUSPENDED', '2024-01-01T00:00:00Z', 'chargeback', 'reset-SECRET-s'),
      ('b', 'b@example.com', 'BANNED', NULL, NULL, NULL)`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const lock = (body: unknown) => POST(adminRequest('/api/admin/users/lock', { body }));
  const reinstate = (body: unknown) => reinstateRoute(adminRequest('/api/admin/users/reinstate', { body }));
  const status = async (id: string) => (await q(`SELECT status::text AS s FROM accounts WHERE id = $1`, [id])).rows[0].s;

  it("locks by writing status 'LOCKED' and unlocks back to 'ACTIVE'; repeats are no-ops; all audited, secrets masked", async () => {
    const dry = await (await lock({ userId: 'a', locked: true, dryRun: true })).json();
    expect(dry).toMatchObject({ status: 'ok', dryRun: true, count: 1, data: { set: { status: 'LOCKED' } } });
    expect(await status('a')).toBe('ACTIVE');
    const locked = await (await lock({ userId: 'a', locked: true })).json();
    expect(locked).toMatchObject({ status: 'ok', count: 1, sample: [{ id: 'a', status: 'LOCKED' }] });
    expect(await status('a')).toBe('LOCKED');
    expect((await (await lock({ userId: 'a', locked: true })).json()).status).toBe('noop');
    const unlocked = await (await lock({ userId: 'a', locked: false })).json();
    expect(unlocked).toMatchObject({ status: 'ok', sample: [{ status: 'ACTIVE' }] });
    expect(await status('a')).toBe('ACTIVE');
    expect((await (await lock({ userId: 'a', locked: false })).json()).status).toBe('noop');
    const audits = (await q(`SELECT result, before, after FROM opsbook.audit_log WHERE action = 'users.lock' AND target = 'user:a' ORDER BY id`)).rows;
    expect(audits.map((x: { result: string }) => x.result)).toEqual(['ok', 'noop', 'ok', 'noop']);
    expect(audits[0]).toMatchObject({ before: { status: 'ACTIVE' }, after: { status: 'LOCKED' } });
    expect(JSON.stringify([audits, locked, dry])).not.toMatch(/SECRET|reset_token/);
  });

  it.each([
    ['locking a suspended user', 's', true, 'SUSPENDED'],
    ['unlocking a suspended user (it would lift the suspension)', 's', false, 'SUSPENDED'],
    ['locking a banned user', 'b', true, 'BANNED'],
    ['unlocking a banned user', 'b', false, 'BANNED'],
  ])('%s → 409 naming its status, unchanged, the attempt audited as refused', async (_what, id, locked, was) => {
    expect((await lock({ userId: id, locked, dryRun: true })).status).toBe(409);
    const res = await lock({ userId: id, locked });
    expect(res.status).toBe(409);
    const body = await res.json();
    expect(body.error).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining(`"${was}"`) });
    expect(await status(id)).toBe(was);
    expect((await q(`SELECT result FROM opsbook.audit_log WHERE id = $1`, [body.error.details.auditId])).rows[0].result).toBe('refused');
  });

  it('reinstate does not unlock: a LOCKED user → 409, still LOCKED', async () => {
    await lock({ userId: 'a', locked: true });
    const res = await reinstate({ userId: 'a' });
    expect(res.status).toBe(409);
    expect((await res.json()).error.message).toContain('"LOCKED"');
    expect(await status('a')).toBe('LOCKED');
  });

  it('a boolean state given as users.locked { column, value: true } flips it, never refuses', async () => {
    await exec(`CREATE TABLE IF NOT EXISTS flagged (id text PRIMARY KEY, email text NOT NULL, is_locked boolean); TRUNCATE flagged; INSERT INTO flagged VALUES ('f', 'f@example.com', NULL)`);
    setConfig(parseConfig({ app: { users: { table: 'flagged', locked: { column: 'is_locked', value: true } } } }));
    expect(await (await lock({ userId: 'f', locked: true })).json()).toMatchObject({ status: 'ok', sample: [{ is_locked: true }] });
    expect(await (await lock({ userId: 'f', locked: false })).json()).toMatchObject({ status: 'ok', sample: [{ is_locked: false }] });
  });

  it.each([
    ['an enum without the lock value', { table: 'plain', locked: { column: 'status', value: 'LOCKED' } }, "app.users.locked: its type \"NoLock\" has no value 'LOCKED'"],
    ['a state column that does not exist', { table: 'accounts', locked: { column: 'state', value: 'LOCKED' } }, 'app.users.locked.column = "state"'],
    ['no lock mapping at all', { table: 'accounts' }, 'app.users.locked'],
  ])('%s → 500 MISCONFIGURED naming the config path, nothing changed', async (_what, users, message) => {
    setConfig(parseConfig({ app: { users } }));
    const res = await lock({ userId: 'a', locked: true });
    expect(res.status).toBe(500);
    expect((await res.json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining(message) });
    expect(await status('a')).toBe('ACTIVE');
  });

  it('users.locked and users.columns.locked together are refused by the config schema', () => {
    expect(() => parseConfig({ app: { users: { table: 'accounts', columns: { locked: 'is_locked' }, locked: { column: 'status', value: 'LOCKED' } } } })).toThrow(/users\.locked.*not both/);
  });
});
