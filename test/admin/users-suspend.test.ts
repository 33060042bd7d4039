import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST as suspendRoute } from '../../api/admin/users/suspend.js';
import { POST as reinstateRoute } from '../../api/admin/users/reinstate.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createToken } from '../../lib/admin/tokens.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

/** Runbook 000 (VIVIM, Prisma): camelCase columns, quoted, and a text status. */
const VIVIM: OpsbookConfigInput = {
  app: {
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', status: 'status', suspendedAt: 'suspendedAt', suspensionReason: 'suspensionReason' },
      sensitive: ['phone'],
    },
  },
};

const INJECTIONS = ["'; DROP TABLE users; --", '" OR 1=1 --', '$1', "1' OR '1'='1", 'Ünïcødé 用户 🙂 \u202e', 'x'.repeat(128)];

describe.each(['pg', 'neon', 'pglite'] as const)('users suspend / reinstate over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  /** Arrange and inspect through the test database's own connection (or PGlite itself). */
  const q = async (text: string, params: unknown[] = []) => (h.database ? h.database.admin.query(text, params) : h.db.query<any>(text, params));
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));

  beforeAll(async () => {
    // In-memory Redis: the rate limits are per deps instance, renewed per test (many requests per test here).
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    // A session time zone far from UTC: "suspendedAt" (timestamp without time zone, Prisma's DateTime) must still get UTC.
    if (h.database) await h.database.admin.query(`ALTER DATABASE "${h.database.name}" SET timezone TO 'Pacific/Auckland'`);
    else await h.db.exec(`SET timezone TO 'Pacific/Auckland'`);
    await exec(`CREATE TABLE users (id text PRIMARY KEY, email text NOT NULL, status text NOT NULL DEFAULT 'ACTIVE', "suspendedAt" timestamp(3),
      "suspensionReason" text, "passwordHash" text, "apiToken" text, phone text);
      CREATE SCHEMA app; CREATE TYPE app."MemberStatus" AS ENUM ('ACTIVE', 'SUSPENDED', 'BANNED');
      CREATE TABLE app.members (id int PRIMARY KEY, status app."MemberStatus" NOT NULL, suspended_at timestamptz, suspension_reason varchar(40));
      CREATE TYPE app."OtherStatus" AS ENUM ('ON', 'OFF');
      CREATE TABLE app.others (id int PRIMARY KEY, status app."OtherStatus" NOT NULL, suspended_at timestamptz, suspension_reason text)`);
  });
  beforeEach(async () => {
    await useAdminDeps(h.db, r.redis, VIVIM);
    await exec(`TRUNCATE users; INSERT INTO users VALUES
      ('u1', 'a@example.com', 'ACTIVE', NULL, NULL, 'hash-SECRET-1', 'tok-SECRET-1', '+1-555-0001'),
      ('u2', 'b@example.com', 'SUSPENDED', '2024-01-02 03:04:05.678', 'chargeback', 'hash-SECRET-2', 'tok-SECRET-2', '+1-555-0002'),
      ('u3', 'c@example.com', 'BANNED', NULL, NULL, 'hash-SECRET-3', NULL, NULL)`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const suspend = (body: unknown, extra: Parameters<typeof adminRequest>[1] = {}) => suspendRoute(adminRequest('/api/admin/users/suspend', { body, ...extra }));
  const reinstate = (body: unknown, extra: Parameters<typeof adminRequest>[1] = {}) => reinstateRoute(adminRequest('/api/admin/users/reinstate', { body, ...extra }));
  const user = async (id: string) => (await q(`SELECT status, "suspensionReason" AS reason, extract(epoch FROM "suspendedAt") * 1000 AS at_ms FROM users WHERE id = $1`, [id])).rows[0];
  const snapshot = async () => (await q(`SELECT * FROM users ORDER BY id`)).rows;

  it('suspends a user: status SUSPENDED, "suspendedAt" = now (UTC), "suspensionReason"; audited with before/after, secrets masked', async () => {
    const t0 = Date.now();
    const res = await suspend({ userId: 'u1', reason: 'Violation' }, { ip: '203.0.113.9', headers: { 'x-request-id': `req-suspend-${driver}` } });
    const t1 = Date.now();
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'users.suspend', status: 'ok', dryRun: false, count: 1, requestId: expect.any(String) });
    // A client's x-request-id is kept beside Opsbook's own id, never instead of it.
    expect(body.requestId).not.toBe(`req-suspend-${driver}`);
    expect(body.sample[0]).toMatchObject({ id: 'u1', status: 'SUSPENDED', suspensionReason: 'Violation' });
    const u = await user('u1');
    expect(u).toMatchObject({ status: 'SUSPENDED', reason: 'Violation' });
    expect((await h.db.query<{ tz: string }>(`SELECT current_setting('TimeZone') AS tz`)).rows[0]!.tz).toBe('Pacific/Auckland');
    expect(Number(u.at_ms)).toBeGreaterThanOrEqual(t0 - 1);
    expect(Number(u.at_ms)).toBeLessThanOrEqual(t1 + 1);

    const audit = (await q(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0];
    expect(audit).toMatchObject({
      actor: 'bootstrap',
      role: 'admin',
      action: 'users.suspend',
      target: 'user:u1',
      result: 'ok',
      request_id: body.requestId,
      client_request_id: `req-suspend-${driver}`,
      ip: '203.0.113.9',
      user_agent: 'opsbook-tests',
      params: { userId: 'u1', reason: 'Violation' },
    });
    expect(audit.before).toMatchObject({ id: 'u1', status: 'ACTIVE', suspendedAt: null, suspensionReason: null });
    expect(audit.after).toMatchObject({ id: 'u1', status: 'SUSPENDED', suspensionReason: 'Violation' });
    for (const leaked of [JSON.stringify(audit), JSON.stringify(body)]) {
      expect(leaked).not.toMatch(/SECRET|555-000/);
      expect(leaked).not.toMatch(/passwordHash|apiToken|phone/);
    }
  });

  it('suspending a suspended user is a no-op: the first time and reason stay, still audited', async () => {
    const before = await user('u2');
    const body = await (await suspend({ userId: 'u2', reason: 'another reason' })).json();
    expect(body).toMatchObject({ status: 'noop', count: 0 });
    expect(await user('u2')).toEqual(before);
    const audit = (await q(`SELECT result, before, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0];
    expect(audit).toMatchObject({ result: 'noop', before: { suspensionReason: 'chargeback' }, after: { suspensionReason: 'chargeback' } });
  });

  it('dry run shows the row and what would be set, and changes nothing (no audit row)', async () => {
    const auditsBefore = (await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n;
    const body = await (await suspend({ userId: 'u1', reason: 'Violation', dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, count: 1, sample: [{ id: 'u1', status: 'ACTIVE' }], data: { set: { status: 'SUSPENDED', suspensionReason: 'Violation' } } });
    expect(JSON.stringify(body)).not.toContain('SECRET');
    expect(await user('u1')).toMatchObject({ status: 'ACTIVE', reason: null });
    expect((await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n).toBe(auditsBefore);
    expect(await (await suspend({ userId: 'u2', reason: 'x', dryRun: true })).json()).toMatchObject({ status: 'noop', dryRun: true, count: 0 });
    const missing = await suspend({ userId: 'nobody', reason: 'x', dryRun: true });
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toMatchObject({ code: 'NOT_FOUND', message: 'No user nobody.' });
  });

  it('reinstates a suspended user: ACTIVE, time and reason cleared; a repeat is a no-op, still audited', async () => {
    const body = await (await reinstate({ userId: 'u2' })).json();
    expect(body).toMatchObject({ action: 'users.reinstate', status: 'ok', count: 1 });
    expect(await user('u2')).toEqual({ status: 'ACTIVE', reason: null, at_ms: null });
    const audit = (await q(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0];
    expect(audit).toMatchObject({ action: 'users.reinstate', target: 'user:u2', result: 'ok', before: { status: 'SUSPENDED', suspensionReason: 'chargeback' }, after: { status: 'ACTIVE', suspendedAt: null, suspensionReason: null } });
    expect(JSON.stringify(audit)).not.toContain('SECRET');

    const again = await (await reinstate({ userId: 'u2' })).json();
    expect(again).toMatchObject({ status: 'noop', count: 0 });
    expect((await q(`SELECT result FROM opsbook.audit_log WHERE id = $1`, [again.auditId])).rows[0].result).toBe('noop');
  });

  it('reinstate dry run changes nothing', async () => {
    expect(await (await reinstate({ userId: 'u2', dryRun: true })).json()).toMatchObject({ status: 'ok', dryRun: true, count: 1, data: { set: { status: 'ACTIVE', suspendedAt: null, suspensionReason: null } } });
    expect(await user('u2')).toMatchObject({ status: 'SUSPENDED', reason: 'chargeback' });
  });

  it('reinstate only lifts a suspension: a BANNED user → 409, unchanged, the attempt audited as refused', async () => {
    const res = await reinstate({ userId: 'u3' });
    expect(res.status).toBe(409);
    const body = await res.json();
    expect(body.error).toMatchObject({ code: 'CONFLICT' });
    expect(body.error.message).toContain('"BANNED"');
    expect(await user('u3')).toMatchObject({ status: 'BANNED' });
    const { rows } = await q(`SELECT result FROM opsbook.audit_log WHERE action = 'users.reinstate' AND target = 'user:u3'`);
    expect(rows.map((x: { result: string }) => x.result)).toEqual(['refused']);
    expect((await reinstate({ userId: 'u3', dryRun: true })).status).toBe(409);
  });

  it('suspend then reinstate round-trips to the original row', async () => {
    const before = await snapshot();
    expect((await suspend({ userId: 'u1', reason: 'temporary' })).status).toBe(200);
    expect((await reinstate({ userId: 'u1' })).status).toBe(200);
    expect(await snapshot()).toEqual(before);
  });

  it('an unknown user → 404 NOT_FOUND in the error shape, audited, nothing changed', async () => {
    const before = await snapshot();
    const res = await suspend({ userId: 'u404', reason: 'x' });
    expect(res.status).toBe(404);
    const body = await res.json();
    expect(body.error).toMatchObject({ code: 'NOT_FOUND', message: 'No user u404.' });
    expect((await q(`SELECT result FROM opsbook.audit_log WHERE id = $1`, [body.error.details.auditId])).rows[0].result).toBe('not-found');
    expect(await snapshot()).toEqual(before);
  });

  it('an enum status (Prisma) in another schema, snake_case columns and an integer id work; a non-numeric id → 400', async () => {
    await exec(`TRUNCATE app.members; INSERT INTO app.members VALUES (1, 'ACTIVE', NULL, NULL)`);
    setConfig(parseConfig({ app: { users: { schema: 'app', table: 'members', columns: { id: 'id', email: 'id', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason' } } } }));
    expect(await (await suspend({ userId: '1', reason: 'abuse' })).json()).toMatchObject({ status: 'ok', sample: [{ id: 1, status: 'SUSPENDED', suspension_reason: 'abuse' }] });
    expect((await q(`SELECT status::text FROM app.members WHERE id = 1`)).rows[0].status).toBe('SUSPENDED');
    const bad = await suspend({ userId: 'one', reason: 'abuse' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('BAD_REQUEST');
    expect(await (await reinstate({ userId: '1' })).json()).toMatchObject({ status: 'ok', sample: [{ id: 1, status: 'ACTIVE', suspended_at: null }] });
    // A reason longer than the column's varchar(40) is the caller's error, never a silent truncation.
    const long = await suspend({ userId: '1', reason: 'r'.repeat(41) });
    expect(long.status).toBe(400);
    expect((await q(`SELECT status::text FROM app.members WHERE id = 1`)).rows[0].status).toBe('ACTIVE');
  });

  it('an enum status without SUSPENDED → 500 MISCONFIGURED naming app.users.columns.status', async () => {
    await exec(`TRUNCATE app.others; INSERT INTO app.others VALUES (1, 'ON', NULL, NULL)`);
    setConfig(parseConfig({ app: { users: { schema: 'app', table: 'others', columns: { id: 'id', email: 'id', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason' } } } }));
    const res = await suspend({ userId: '1', reason: 'abuse' });
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error.code).toBe('MISCONFIGURED');
    expect(body.error.message).toContain('app.users.columns.status');
    expect((await q(`SELECT status::text FROM app.others WHERE id = 1`)).rows[0].status).toBe('ON');
  });

  it.each([
    ['a mapped column that does not exist', { suspendedAt: 'suspended_at' }, 'app.users.columns.suspendedAt = "suspended_at"'],
    ['a column the action needs, unmapped', { suspensionReason: undefined }, 'app.users.columns.suspensionReason'],
  ])('%s → 500 MISCONFIGURED with a message naming the config path', async (_name, columns, path) => {
    setConfig(parseConfig({ app: { users: { table: 'users', columns: { ...VIVIM.app!.users!.columns, ...columns } } } }));
    const res = await suspend({ userId: 'u1', reason: 'x' });
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body.error.code).toBe('MISCONFIGURED');
    expect(body.error.message).toContain(path);
    expect(await user('u1')).toMatchObject({ status: 'ACTIVE' });
  });

  it('no users mapping at all → 500 MISCONFIGURED naming app.users', async () => {
    setConfig(parseConfig({}));
    const res = await reinstate({ userId: 'u2' });
    expect(res.status).toBe(500);
    expect((await res.json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('app.users') });
  });

  it.each([
    ['an unknown field', { userId: 'u1', reason: 'x', status: 'ACTIVE' }],
    ['a missing reason', { userId: 'u1' }],
    ['an empty reason', { userId: 'u1', reason: '' }],
    ['a 501-character reason', { userId: 'u1', reason: 'r'.repeat(501) }],
    ['a 129-character id', { userId: 'u'.repeat(129), reason: 'x' }],
    ['a 500-character id', { userId: 'u'.repeat(500), reason: 'x' }],
    ['a number for the id', { userId: 1, reason: 'x' }],
  ])('suspend with %s → 400, nothing changed', async (_name, body) => {
    const before = await snapshot();
    const res = await suspend(body);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    expect(await snapshot()).toEqual(before);
  });

  describe.each(INJECTIONS)('hostile input %j', (evil) => {
    it('as the userId: never 5xx, nothing changed, tables intact', async () => {
      const before = await snapshot();
      for (const res of [await suspend({ userId: evil, reason: 'x' }), await reinstate({ userId: evil })]) {
        expect(res.status).toBeLessThan(500);
        const body = await res.json();
        expect(res.status).not.toBe(200);
        if (res.status === 404) expect(body.error.code).toBe('NOT_FOUND');
      }
      expect(await snapshot()).toEqual(before);
    });

    it('as the reason: stored verbatim on the target only, tables intact', async () => {
      const others = (await snapshot()).filter((u: { id: string }) => u.id !== 'u1');
      const res = await suspend({ userId: 'u1', reason: evil.slice(0, 500) });
      expect(res.status).toBe(200);
      expect((await user('u1')).reason).toBe(evil.slice(0, 500));
      expect((await snapshot()).filter((u: { id: string }) => u.id !== 'u1')).toEqual(others);
      const audit = (await q(`SELECT params FROM opsbook.audit_log WHERE id = $1`, [(await res.json()).auditId])).rows[0];
      expect(audit.params.reason).toBe(evil.slice(0, 500));
    });
  });

  it.each([
    ['a NUL character in the userId', { userId: 'u1\u0000', reason: 'x' }, 400],
    ['a NUL character in the reason', { userId: 'u1', reason: 'evil\u0000; DROP TABLE users' }, 400],
    ['a lone surrogate in the userId', { userId: 'u1\ud800', reason: 'x' }, 400],
    ['a lone surrogate in the reason', { userId: 'u1', reason: '\udc00x' }, 400],
  ])('%s → 400 (no Postgres text can hold it), nothing changed', async (_name, body, status) => {
    const before = await snapshot();
    const res = await suspend(body);
    expect(res.status).toBe(status);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    expect(await snapshot()).toEqual(before);
  });

  it('a 500-character reason of SQL is stored verbatim', async () => {
    const reason = "'); DELETE FROM users; --".repeat(20).slice(0, 500);
    expect((await suspend({ userId: 'u1', reason })).status).toBe(200);
    expect((await user('u1')).reason).toBe(reason);
    expect((await q(`SELECT count(*)::int AS n FROM users`)).rows[0].n).toBe(3);
  });

  it('a read token → 403 on suspend and reinstate; an operate token may suspend and is the audited actor', async () => {
    const reader = await createToken(h.db, { name: `reader-${driver}`, role: 'read', createdBy: 'tests' });
    const operator = await createToken(h.db, { name: `operator-${driver}`, role: 'operate', createdBy: 'tests' });
    for (const res of [await suspend({ userId: 'u1', reason: 'x' }, { token: reader.token }), await reinstate({ userId: 'u2' }, { token: reader.token })]) {
      expect(res.status).toBe(403);
      expect((await res.json()).error.code).toBe('FORBIDDEN');
    }
    expect(await user('u1')).toMatchObject({ status: 'ACTIVE' });
    const body = await (await suspend({ userId: 'u1', reason: 'x' }, { token: operator.token })).json();
    expect(body.status).toBe('ok');
    expect((await q(`SELECT actor, role FROM opsbook.audit_log WHERE id = $1`, [body.auditId])).rows[0]).toEqual({ actor: `operator-${driver}`, role: 'operate' });
  });

  it('no token → 401', async () => {
    expect((await suspend({ userId: 'u1', reason: 'x' }, { token: null })).status).toBe(401);
  });

  it.each([
    ['users.suspend', () => suspend({ userId: 'u1', reason: 'x' }), 'u1', 'ACTIVE'],
    ['users.reinstate', () => reinstate({ userId: 'u2' }), 'u2', 'SUSPENDED'],
  ])('%s: the audit insert failing rolls the change back', async (action, call, id, status) => {
    await q(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_force_fail CHECK (action <> '${action}') NOT VALID`);
    try {
      const res = await call();
      expect(res.status).toBe(500);
      expect(await user(id)).toMatchObject({ status });
    } finally {
      await q(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_force_fail`);
    }
  });
});
