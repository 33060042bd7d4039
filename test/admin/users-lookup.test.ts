import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET } from '../../api/admin/users.js';
import { POST as suspendRoute } from '../../api/admin/users/suspend.js';
import { createToken } from '../../lib/admin/tokens.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { discoverRoutes, matchRoute } from '../../lib/runner/routes.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const CONFIG: OpsbookConfigInput = {
  app: {
    users: { table: 'users', columns: { id: 'id', email: 'email', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason' }, sensitive: ['phone'] },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at' } },
  },
};

describe('GET /api/admin/users routing', () => {
  it('api/admin/users.ts serves /api/admin/users beside the api/admin/users/ folder', () => {
    const routes = discoverRoutes(join(process.cwd(), 'api'));
    expect(matchRoute(routes, '/api/admin/users')?.route.file).toBe(join(process.cwd(), 'api/admin/users.ts'));
    expect(matchRoute(routes, '/api/admin/users/lock')?.route.file).toBe(join(process.cwd(), 'api/admin/users/lock.ts'));
    expect(matchRoute(routes, '/api/admin/users/suspend')?.route.file).toBe(join(process.cwd(), 'api/admin/users/suspend.ts'));
  });
});

describe.each(['pg', 'neon', 'pglite'] as const)('GET /api/admin/users over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const q = async (text: string, params: unknown[] = []) => (h.database ? h.database.admin.query(text, params) : h.db.query<any>(text, params));
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await exec(`CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, status text NOT NULL DEFAULT 'ACTIVE', suspended_at timestamptz, suspension_reason text,
        password_hash text, "passwordSalt" text, reset_token text, totp_secret text, phone text, created_at timestamptz NOT NULL DEFAULT '2024-01-01T00:00:00Z');
      CREATE TABLE api_keys (id uuid PRIMARY KEY, user_id int NOT NULL, key_hash text NOT NULL, revoked_at timestamptz);
      INSERT INTO users (id, email, password_hash, "passwordSalt", reset_token, totp_secret, phone) VALUES
        (1, 'Alice@Example.com', '$argon2id$SECRET-1', 'salt-SECRET-1', 'reset-SECRET-1', 'totp-SECRET-1', '+1-555-0001'),
        (2, 'bob@example.com', '$argon2id$SECRET-2', NULL, NULL, NULL, NULL),
        (3, 'BOB@example.com', '$argon2id$SECRET-3', NULL, NULL, NULL, NULL);
      INSERT INTO api_keys VALUES
        ('00000000-0000-0000-0000-000000000001', 1, 'kh-SECRET-1', NULL),
        ('00000000-0000-0000-0000-000000000002', 1, 'kh-SECRET-2', NULL),
        ('00000000-0000-0000-0000-000000000003', 1, 'kh-SECRET-3', '2024-02-02T00:00:00Z'),
        ('00000000-0000-0000-0000-000000000004', 2, 'kh-SECRET-4', NULL)`);
  });
  beforeEach(async () => {
    await useAdminDeps(h.db, r.redis, CONFIG);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const lookup = (query: Record<string, string>, extra: Parameters<typeof adminRequest>[1] = {}) => GET(adminRequest('/api/admin/users', { method: 'GET', query, ...extra }));
  const snapshot = async () => ({ users: (await q(`SELECT * FROM users ORDER BY id`)).rows, keys: (await q(`SELECT * FROM api_keys ORDER BY id`)).rows });

  it('by email, case-insensitively: the user with the password hash and every secret-looking column masked, and their key counts', async () => {
    const res = await lookup({ email: 'alice@EXAMPLE.COM' });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'users.lookup', status: 'ok', count: 1 });
    expect(body.data.users).toEqual([
      {
        user: { id: 1, email: 'Alice@Example.com', status: 'ACTIVE', suspended_at: null, suspension_reason: null, created_at: expect.any(String) },
        apiKeys: { total: 3, active: 2 },
      },
    ]);
    expect(JSON.stringify(body)).not.toMatch(/SECRET|555-000|argon2|password_hash|passwordSalt|reset_token|totp_secret|phone/);
  });

  it('by id, cast to the id column type', async () => {
    const body = await (await lookup({ id: '2' })).json();
    expect(body).toMatchObject({ status: 'ok', count: 1, data: { users: [{ user: { id: 2, email: 'bob@example.com' }, apiKeys: { total: 1, active: 1 } }] } });
  });

  it('an email held in two cases returns both rows', async () => {
    const body = await (await lookup({ email: 'Bob@Example.com' })).json();
    expect(body.count).toBe(2);
    expect(body.data.users.map((u: { user: { id: number } }) => u.user.id)).toEqual([2, 3]);
    expect(body.data.users[1].apiKeys).toEqual({ total: 0, active: 0 });
  });

  it('no match → 404 NOT_FOUND in the error shape, so curl -f fails', async () => {
    for (const [query, message] of [[{ email: 'nobody@example.com' }, 'No user with email nobody@example.com.'], [{ id: '404' }, 'No user with id 404.']] as const) {
      const res = await lookup(query);
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message }, requestId: expect.any(String) });
    }
  });

  it('without app.apiKeys mapped there is no key count; configured sensitive columns are still masked', async () => {
    setConfig(parseConfig({ app: { users: CONFIG.app!.users } }));
    const body = await (await lookup({ id: '1' })).json();
    expect(body.data.users[0].apiKeys).toBeUndefined();
    expect(JSON.stringify(body)).not.toMatch(/SECRET|555-000/);
  });

  it('is read-only: no audit row, nothing changed', async () => {
    const before = await snapshot();
    const audits = (await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n;
    await lookup({ id: '1' });
    expect((await q(`SELECT count(*)::int AS n FROM opsbook.audit_log`)).rows[0].n).toBe(audits);
    expect(await snapshot()).toEqual(before);
  });

  it.each([
    ['neither email nor id', {}],
    ['both email and id', { email: 'bob@example.com', id: '2' }],
    ['an unknown parameter', { id: '1', fields: '*' }],
    ['dryRun (lookups have none)', { id: '1', dryRun: 'true' }],
    ['an empty email', { email: '' }],
    ['a 321-character email', { email: `${'a'.repeat(309)}@example.com` }],
    ['a 129-character id', { id: '1'.repeat(129) }],
    ['a non-numeric id for an integer column', { id: 'abc' }],
    ['an id out of the integer range', { id: '99999999999' }],
    ['a NUL in the email', { email: 'bob@example.com\u0000' }],
  ])('%s → 400', async (_name, query) => {
    const res = await lookup(query);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
  });

  it.each(["'; DROP TABLE users; --", '" OR 1=1 --', "x' OR '1'='1", '$1', '%', '_ob@example.com', 'Ünïcødé 用户 🙂', 'a'.repeat(320)])(
    'hostile email %j → 404 not found, never 5xx, tables intact',
    async (evil) => {
      const before = await snapshot();
      const res = await lookup({ email: evil });
      expect(res.status).toBe(404);
      expect((await res.json()).error.code).toBe('NOT_FOUND');
      expect(await snapshot()).toEqual(before);
    },
  );

  it.each(["1; DROP TABLE users; --", '1 OR 1=1', '$1', '１'])('hostile id %j → 400, never 5xx, tables intact', async (evil) => {
    const before = await snapshot();
    expect((await lookup({ id: evil })).status).toBe(400);
    expect(await snapshot()).toEqual(before);
  });

  it('a read token can look up, but gets 403 on suspend; a heartbeat token gets 403 on lookup; no token → 401', async () => {
    const reader = await createToken(h.db, { name: `lookup-reader-${driver}`, role: 'read', createdBy: 'tests' });
    const pinger = await createToken(h.db, { name: `lookup-heartbeat-${driver}`, role: 'heartbeat', createdBy: 'tests' });
    expect(await (await lookup({ id: '1' }, { token: reader.token })).json()).toMatchObject({ status: 'ok', count: 1 });
    const suspend = await suspendRoute(adminRequest('/api/admin/users/suspend', { body: { userId: '1', reason: 'x' }, token: reader.token }));
    expect(suspend.status).toBe(403);
    expect((await q(`SELECT status FROM users WHERE id = 1`)).rows[0].status).toBe('ACTIVE');
    expect((await lookup({ id: '1' }, { token: pinger.token })).status).toBe(403);
    expect((await lookup({ id: '1' }, { token: null })).status).toBe(401);
  });

  it('a mapping naming a missing column → 500 MISCONFIGURED naming the path', async () => {
    setConfig(parseConfig({ app: { users: { table: 'users', columns: { id: 'id', email: 'mail' } } } }));
    const res = await lookup({ email: 'bob@example.com' });
    expect(res.status).toBe(500);
    expect((await res.json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('app.users.columns.email = "mail"') });
  });

  it('an apiKeys mapping naming a missing column → 500 MISCONFIGURED naming app.apiKeys', async () => {
    setConfig(parseConfig({ app: { users: CONFIG.app!.users, apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'owner_id' } } } }));
    const res = await lookup({ id: '1' });
    expect(res.status).toBe(500);
    expect((await res.json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('app.apiKeys.columns.userId = "owner_id"') });
  });
});
