import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET, POST } from '../../api/admin/flags.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { createFlagReader } from '../../lib/flags-reader.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

/** Strings that must only ever be data: SQL, globs, quotes, JSON, path tricks. */
const HOSTILE = [
  "'; DROP TABLE opsbook.settings; --",
  '" OR 1=1 --',
  'flag:%',
  '*',
  '[a-z]*',
  '$1',
  '../../etc/passwd',
  '\\',
  '{"enabled":true}',
  'PLAID_ENABLED\n',
  'x'.repeat(300),
];

describe.each(['pg', 'neon', 'pglite'] as const)('feature flags over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  const tokens = new Map<Role, string>();
  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await useAdminDeps(h.db, r.redis);
    for (const role of ['read', 'operate', 'admin'] as Role[]) {
      tokens.set(role, (await createToken(h.db, { name: `flags-${role}-${randomBytes(3).toString('hex')}`, role, createdBy: 'tests' })).token);
    }
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const set = (body: unknown, role: Role = 'operate', extra: Parameters<typeof adminRequest>[1] = {}) =>
    POST(adminRequest('/api/admin/flags', { body, token: tokens.get(role), ...extra }));
  const list = (query: Record<string, string> = {}, role: Role = 'read') => GET(adminRequest('/api/admin/flags', { method: 'GET', query, token: tokens.get(role) }));
  const stored = async (name: string) => (await h.db.query<{ value: unknown; updated_by: string }>(`SELECT value, updated_by FROM opsbook.settings WHERE key = $1`, [`flag:${name}`])).rows[0];

  it('turning a flag off stores {enabled:false} under flag:<NAME>, with an audit row in the same statement', async () => {
    const res = await set({ name: 'PLAID_ENABLED', enabled: false });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ action: 'flags.set', status: 'ok', dryRun: false, count: 1, sample: [{ name: 'PLAID_ENABLED', before: null, after: { enabled: false } }] });
    expect(await stored('PLAID_ENABLED')).toMatchObject({ value: { enabled: false } });
    const audit = await h.db.query<Record<string, unknown>>(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'flags.set', target: 'flag:PLAID_ENABLED', result: 'ok', before: null, after: { enabled: false } });
    expect(String(audit.rows[0]!.actor)).toMatch(/^flags-operate-/);
  });

  it('setting a flag to the value it has is a no-op, still audited', async () => {
    await set({ name: 'SAME_FLAG', enabled: true });
    const body = await (await set({ name: 'SAME_FLAG', enabled: true })).json();
    expect(body).toMatchObject({ status: 'noop', count: 0 });
    const audit = await h.db.query<{ result: string }>(`SELECT result FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]!.result).toBe('noop');
  });

  it('dry run says what would change and changes nothing', async () => {
    const body = await (await set({ name: 'DRY_FLAG', enabled: true, dryRun: true })).json();
    expect(body).toMatchObject({ status: 'ok', dryRun: true, count: 1, sample: [{ name: 'DRY_FLAG', before: null, after: { enabled: true } }] });
    expect(await stored('DRY_FLAG')).toBeUndefined();
  });

  it('GET lists the flags with who set them; ?name= answers one, an unset one is not-found', async () => {
    await set({ name: 'LIST_ME', enabled: true });
    const all = await (await list()).json();
    expect(all.status).toBe('ok');
    expect(all.data.flags).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'LIST_ME', enabled: true, updatedBy: expect.stringMatching(/^flags-operate-/) })]));
    const one = await (await list({ name: 'LIST_ME' })).json();
    expect(one.data.flags).toHaveLength(1);
    expect(await (await list({ name: 'NEVER_SET' })).json()).toMatchObject({ status: 'not-found', count: 0 });
  });

  it('roles: read may list but not set; operate may set', async () => {
    expect((await set({ name: 'ROLE_FLAG', enabled: true }, 'read')).status).toBe(403);
    expect((await list({}, 'read')).status).toBe(200);
    expect((await set({ name: 'ROLE_FLAG', enabled: true }, 'operate')).status).toBe(200);
  });

  it.each([
    ['lower case', 'plaid_enabled'],
    ['a leading digit', '1FLAG'],
    ['65 characters', `A${'B'.repeat(64)}`],
    ['a dash', 'PLAID-ENABLED'],
    ...HOSTILE.map((s) => [`hostile ${JSON.stringify(s.slice(0, 30))}`, s] as [string, string]),
  ])('a flag name with %s → 400, nothing stored', async (_what, name) => {
    const res = await set({ name, enabled: false });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
    const res2 = await list({ name });
    expect(res2.status).toBe(400);
    const { rows } = await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.settings WHERE key = $1`, [`flag:${name}`]);
    expect(rows[0]!.n).toBe(0);
  });

  it('the audit insert failing rolls the flag change back', async () => {
    await set({ name: 'ROLLBACK_FLAG', enabled: true });
    await h.db.query(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_flags_fail CHECK (action <> 'flags.set') NOT VALID`);
    try {
      expect((await set({ name: 'ROLLBACK_FLAG', enabled: false })).status).toBe(500);
      expect(await stored('ROLLBACK_FLAG')).toMatchObject({ value: { enabled: true } });
    } finally {
      await h.db.query(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_flags_fail`);
    }
  });

  it("the app's reader sees a flag set through the API; unset and invalid names get the caller's default", async () => {
    const reader = createFlagReader((sql, params) => h.db.query(sql, params), { cacheMs: 0 });
    await set({ name: 'READER_FLAG', enabled: false });
    expect(await reader.isEnabled('READER_FLAG', true)).toBe(false);
    await set({ name: 'READER_FLAG', enabled: true });
    expect(await reader.isEnabled('READER_FLAG', false)).toBe(true);
    expect(await reader.isEnabled('NOT_SET_ANYWHERE', true)).toBe(true);
    expect(await reader.isEnabled('NOT_SET_ANYWHERE', false)).toBe(false);
    expect(await reader.isEnabled("x'; DROP TABLE x; --", true)).toBe(true);
  });

  it('the reader caches for cacheMs: a change shows after the cache time, not before', async () => {
    let clock = 1_000_000;
    let queries = 0;
    const reader = createFlagReader(
      (sql, params) => {
        queries++;
        return h.db.query(sql, params);
      },
      { cacheMs: 5000, now: () => clock },
    );
    await set({ name: 'CACHED_FLAG', enabled: false });
    expect(await reader.isEnabled('CACHED_FLAG', true)).toBe(false);
    await set({ name: 'CACHED_FLAG', enabled: true });
    clock += 4999;
    expect(await reader.isEnabled('CACHED_FLAG', false)).toBe(false);
    expect(queries).toBe(1);
    clock += 1;
    expect(await reader.isEnabled('CACHED_FLAG', false)).toBe(true);
    expect(queries).toBe(2);
  });
});

describe('the flag reader fails safe', () => {
  it.each([
    ['the query throws', () => Promise.reject(new Error('connection refused'))],
    ['the table does not exist', () => Promise.reject(Object.assign(new Error('relation "opsbook.settings" does not exist'), { code: '42P01' }))],
    ['the query never answers', () => new Promise<never>(() => undefined)],
    ['a value is malformed', () => Promise.resolve({ rows: [{ key: 'flag:BROKEN', value: 'not json' }, { key: 'maintenance', value: { enabled: 'yes' } }] })],
  ])('%s → the default, and maintenance off', async (_what, query) => {
    const errors: unknown[] = [];
    const reader = createFlagReader(query as never, { timeoutMs: 20, onError: (e) => errors.push(e) });
    expect(await reader.isEnabled('BROKEN', true)).toBe(true);
    expect(await reader.isEnabled('BROKEN', false)).toBe(false);
    expect(await reader.maintenance()).toEqual({ enabled: false, message: null, until: null });
  });

  it('a plain array of rows (Neon) is read like {rows}', async () => {
    const reader = createFlagReader(async () => [{ key: 'flag:ARRAY_FLAG', value: { enabled: true } }]);
    expect(await reader.isEnabled('ARRAY_FLAG', false)).toBe(true);
  });

  it('concurrent reads share one query', async () => {
    let queries = 0;
    const reader = createFlagReader(async () => {
      queries++;
      return { rows: [{ key: 'flag:ONE', value: '{"enabled":false}' }] };
    });
    const answers = await Promise.all([reader.isEnabled('ONE', true), reader.isEnabled('ONE', true), reader.maintenance()]);
    expect(answers.slice(0, 2)).toEqual([false, false]);
    expect(queries).toBe(1);
  });
});
