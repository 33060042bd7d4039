import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { POST } from '../../api/admin/api-keys/revoke.js';
import { planHash, signConfirm } from '../../lib/admin/confirm.js';
import { confirmSecret, planOf } from '../../lib/admin/handler.js';
import { createToken } from '../../lib/admin/tokens.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

/** Runbook 001's shape with a revoked_at column: soft revoke. */
const SOFT: OpsbookConfigInput = { app: { apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at', createdAt: 'created_at' } } } };
/** Runbook 000 (VIVIM): no revokedAt, so `DELETE FROM api_keys WHERE id = …`; camelCase, text ids. */
const HARD: OpsbookConfigInput = { app: { apiKeys: { table: 'vivim_keys', columns: { id: 'id', userId: 'userId', createdAt: 'createdAt' } } } };

const K = (n: number) => `00000000-0000-0000-0000-00000000000${n}`;
const HOSTILE = ["'; DROP TABLE api_keys; --", '" OR 1=1 --', '$1', "x' OR '1'='1", 'Ünïcødé 用户 🙂', 'k'.repeat(128)];

describe.each(['pg', 'neon', 'pglite'] as const)('POST /api/admin/api-keys/revoke over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  let deps: Deps;
  const q = async (text: string, params: unknown[] = []) => (h.database ? h.database.admin.query(text, params) : h.db.query<any>(text, params));
  const exec = async (text: string) => (h.database ? void (await h.database.admin.query(text)) : h.db.exec(text));

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    await exec(`CREATE TABLE api_keys (id uuid PRIMARY KEY, user_id int NOT NULL, name text, key_hash text NOT NULL, revoked_at timestamptz, created_at timestamptz NOT NULL);
      CREATE TABLE vivim_keys (id text PRIMARY KEY, "userId" text NOT NULL, name text, key text NOT NULL, "hashedKey" text, "createdAt" timestamp(3) NOT NULL)`);
  });
  beforeEach(async () => {
    deps = await useAdminDeps(h.db, r.redis, SOFT);
    await exec(`TRUNCATE api_keys, vivim_keys;
      INSERT INTO api_keys VALUES
        ('${K(1)}', 7, 'ci', 'kh-SECRET-1', NULL, '2024-01-01T00:00:00Z'),
        ('${K(2)}', 7, 'laptop', 'kh-SECRET-2', NULL, '2024-01-02T00:00:00Z'),
        ('${K(3)}', 7, 'old', 'kh-SECRET-3', '2024-01-03T00:00:00Z', '2024-01-01T00:00:00Z'),
        ('${K(4)}', 8, 'other user', 'kh-SECRET-4', NULL, '2024-01-04T00:00:00Z');
      INSERT INTO vivim_keys VALUES
        ('key_a', 'usr_1', 'ci', 'sk_live_SECRET_a', 'hk-SECRET-a', '2024-01-01'),
        ('key_b', 'usr_1', 'cli', 'sk_live_SECRET_b', NULL, '2024-01-02'),
        ('key_c', 'usr_2', 'other user', 'sk_live_SECRET_c', NULL, '2024-01-03')`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const revoke = (body: unknown, extra: Parameters<typeof adminRequest>[1] = {}) => POST(adminRequest('/api/admin/api-keys/revoke', { body, ...extra }));
  const keys = async () => (await q(`SELECT id::text, user_id, revoked_at IS NOT NULL AS revoked FROM api_keys ORDER BY id`)).rows;
  const revokedIds = async () => (await keys()).filter((k: { revoked: boolean }) => k.revoked).map((k: { id: string }) => k.id);
  const snapshot = async () => ({ soft: (await q(`SELECT * FROM api_keys ORDER BY id`)).rows, hard: (await q(`SELECT * FROM vivim_keys ORDER BY id`)).rows });
  const audit = async (id: number) => (await q(`SELECT * FROM opsbook.audit_log WHERE id = $1`, [id])).rows[0];

  describe('soft revoke (revokedAt mapped)', () => {
    it('by keyId: revoked_at = now, audited with before/after (the key hash masked), actor, request id, ip, user agent', async () => {
      const t0 = Date.now();
      const res = await revoke({ keyId: K(1) }, { ip: '192.0.2.10', headers: { 'x-request-id': `req-revoke-${driver}` } });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ action: 'api-keys.revoke', status: 'ok', dryRun: false, count: 1, sample: [{ id: K(1), user_id: 7, name: 'ci' }] });
      expect(body.sample[0].revoked_at).not.toBeNull();
      expect(await revokedIds()).toEqual([K(1), K(3)]);
      const at = Number((await q(`SELECT extract(epoch FROM revoked_at) * 1000 AS ms FROM api_keys WHERE id = $1`, [K(1)])).rows[0].ms);
      expect(at).toBeGreaterThanOrEqual(t0 - 1);
      expect(at).toBeLessThanOrEqual(Date.now() + 1);

      const a = await audit(body.auditId);
      expect(a).toMatchObject({ actor: 'bootstrap', role: 'admin', action: 'api-keys.revoke', target: `api-key:${K(1)}`, result: 'ok', request_id: body.requestId, client_request_id: `req-revoke-${driver}`, ip: '192.0.2.10', user_agent: 'opsbook-tests', params: { keyId: K(1) } });
      expect(a.before).toMatchObject({ id: K(1), revoked_at: null });
      expect(a.after.revoked_at).not.toBeNull();
      expect(JSON.stringify([a, body])).not.toMatch(/SECRET|key_hash/);
    });

    it('an already revoked key is a no-op, still audited; a repeat too', async () => {
      const body = await (await revoke({ keyId: K(3) })).json();
      expect(body).toMatchObject({ status: 'noop', count: 0, summary: `API key ${K(3)} was already revoked.` });
      expect((await audit(body.auditId)).result).toBe('noop');
      await revoke({ keyId: K(1) });
      const before = await snapshot();
      expect((await (await revoke({ keyId: K(1) })).json()).status).toBe('noop');
      expect(await snapshot()).toEqual(before);
    });

    it('dry run by keyId shows the key and changes nothing', async () => {
      const before = await snapshot();
      expect(await (await revoke({ keyId: K(2), dryRun: true })).json()).toMatchObject({ status: 'ok', dryRun: true, count: 1, sample: [{ id: K(2), revoked_at: null }] });
      expect(await (await revoke({ keyId: K(3), dryRun: true })).json()).toMatchObject({ status: 'noop', dryRun: true, count: 0 });
      expect(await snapshot()).toEqual(before);
    });

    it('an unknown key → 404 NOT_FOUND in the error shape (dry run and real run, the attempt audited); a key id that is not a uuid → 400', async () => {
      for (const dryRun of [true, false]) {
        const res = await revoke({ keyId: K(9), dryRun });
        expect(res.status).toBe(404);
        const body = await res.json();
        expect(body).toMatchObject({ error: { code: 'NOT_FOUND', message: `No API key ${K(9)}.` }, requestId: expect.any(String) });
        if (!dryRun) expect((await audit(body.error.details.auditId)).result).toBe('not-found');
      }
      const bad = await revoke({ keyId: 'not-a-uuid' });
      expect(bad.status).toBe(400);
      expect((await bad.json()).error).toMatchObject({ code: 'BAD_REQUEST', message: 'keyId is not valid for its column type.' });
    });

    it('by userId without a confirm token → 428 CONFIRMATION_REQUIRED, nothing changed', async () => {
      const before = await snapshot();
      const res = await revoke({ userId: '7' });
      expect(res.status).toBe(428);
      expect((await res.json()).error.code).toBe('CONFIRMATION_REQUIRED');
      expect(await snapshot()).toEqual(before);
    });

    it("by userId: the dry run lists the user's live keys (sample and count) and a confirm token; with it, all of them are revoked, no one else's", async () => {
      const before = await snapshot();
      const dry = await (await revoke({ userId: '7', dryRun: true })).json();
      expect(dry).toMatchObject({ status: 'ok', dryRun: true, count: 2, confirmToken: expect.any(String), confirmExpiresAt: expect.any(String) });
      expect(dry.sample.map((k: { id: string }) => k.id)).toEqual([K(1), K(2)]);
      expect(JSON.stringify(dry)).not.toMatch(/SECRET|key_hash/);
      expect(await snapshot()).toEqual(before);

      const res = await revoke({ userId: '7', confirm: dry.confirmToken });
      expect(res.status).toBe(200);
      const body = await res.json();
      expect(body).toMatchObject({ status: 'ok', count: 2 });
      expect(body.sample).toHaveLength(2);
      expect(await revokedIds()).toEqual([K(1), K(2), K(3)]);
      const a = await audit(body.auditId);
      expect(a).toMatchObject({ action: 'api-keys.revoke', target: 'user:7', result: 'ok', params: { userId: '7' }, before: { count: 2 }, after: { count: 2 } });
      expect(a.before.keys.map((k: { id: string }) => k.id).sort()).toEqual([K(1), K(2)]);
      // The row says it ran with its confirm token (`confirmed`), and never carries the token itself.
      expect(a.confirmed).toBe(true);
      expect(JSON.stringify(a)).not.toContain(dry.confirmToken);
      expect(JSON.stringify({ ...a, confirmed: undefined })).not.toMatch(/SECRET|key_hash|confirm/);

      // The same confirm token again: refused (its plan, two keys, is gone), nothing changed.
      expect(await (await revoke({ userId: '7', confirm: dry.confirmToken })).json()).toMatchObject({ error: { code: 'CONFLICT' } });
    });

    it('a user with no live keys: the confirmed bulk revoke is a no-op', async () => {
      const dry = await (await revoke({ userId: '99', dryRun: true })).json();
      expect(dry).toMatchObject({ status: 'noop', count: 0, sample: [] });
      expect(await (await revoke({ userId: '99', confirm: dry.confirmToken })).json()).toMatchObject({ status: 'noop', count: 0 });
    });

    it.each([
      ['from another actor', async (token: string) => ({ body: { userId: '7', confirm: token }, extra: { token: (await createToken(h.db, { name: `other-admin-${driver}-${Math.random()}`, role: 'admin', createdBy: 'tests' })).token } })],
      ['replayed with other parameters', async (token: string) => ({ body: { userId: '8', confirm: token }, extra: {} })],
      ['tampered with', async (token: string) => ({ body: { userId: '7', confirm: `${token.slice(0, -2)}xx` }, extra: {} })],
      ['malformed', async () => ({ body: { userId: '7', confirm: 'not-a-token-at-all' }, extra: {} })],
    ])('a confirm token %s → 428, nothing changed', async (_name, make) => {
      const dry = await (await revoke({ userId: '7', dryRun: true })).json();
      const before = await snapshot();
      const { body, extra } = await make(dry.confirmToken);
      const res = await revoke(body, extra);
      expect(res.status).toBe(428);
      expect((await res.json()).error.code).toBe('CONFIRMATION_REQUIRED');
      expect(await snapshot()).toEqual(before);
    });

    it('an expired confirm token (signed 11 minutes ago) → 428, nothing changed', async () => {
      // Signed for the plan the dry run shows (confirm tokens are bound to it).
      const plan = planHash(planOf(await (await revoke({ userId: '7', dryRun: true })).json()));
      const old = signConfirm(confirmSecret(deps.env), { actor: 'bootstrap', action: 'api-keys.revoke', params: { userId: '7' }, plan, now: new Date(Date.now() - 11 * 60_000) });
      const fresh = signConfirm(confirmSecret(deps.env), { actor: 'bootstrap', action: 'api-keys.revoke', params: { userId: '7' }, plan, now: new Date() });
      const before = await snapshot();
      const res = await revoke({ userId: '7', confirm: old });
      expect(res.status).toBe(428);
      expect((await res.json()).error.message).toContain('expired');
      expect(await snapshot()).toEqual(before);
      // The same token signed now is accepted: only the age made the difference.
      expect((await revoke({ userId: '7', confirm: fresh })).status).toBe(200);
    });

    it('a confirm token for another action → 428', async () => {
      const plan = planHash(planOf(await (await revoke({ userId: '7', dryRun: true })).json()));
      const other = signConfirm(confirmSecret(deps.env), { actor: 'bootstrap', action: 'users.delete', params: { userId: '7' }, plan, now: new Date() });
      expect((await revoke({ userId: '7', confirm: other })).status).toBe(428);
    });

    it.each([
      ['both keyId and userId', { keyId: K(1), userId: '7' }],
      ['neither', {}],
      ['an unknown field', { keyId: K(1), all: true }],
      ['an empty keyId', { keyId: '' }],
      ['a 129-character keyId', { keyId: 'k'.repeat(129) }],
      ['a 500-character userId', { userId: '7'.repeat(500), dryRun: true }],
      ['a numeric keyId', { keyId: 1 }],
      ['a NUL in the keyId', { keyId: `${K(1)}\u0000` }],
    ])('%s → 400, nothing changed', async (_name, body) => {
      const before = await snapshot();
      const res = await revoke(body);
      expect(res.status).toBe(400);
      expect((await res.json()).error.code).toBe('BAD_REQUEST');
      expect(await snapshot()).toEqual(before);
    });

    it.each(HOSTILE)('hostile keyId / userId %j → 400 (uuid / integer columns), never 5xx, tables intact', async (evil) => {
      const before = await snapshot();
      expect((await revoke({ keyId: evil })).status).toBe(400);
      expect((await revoke({ userId: evil, dryRun: true })).status).toBe(400);
      expect(await snapshot()).toEqual(before);
    });

    it('a read token → 403; an operate token revokes one key, and all of a user\'s with the confirm token of its own dry run', async () => {
      const reader = await createToken(h.db, { name: `keys-reader-${driver}`, role: 'read', createdBy: 'tests' });
      const operator = await createToken(h.db, { name: `keys-operator-${driver}`, role: 'operate', createdBy: 'tests' });
      expect((await revoke({ keyId: K(1) }, { token: reader.token })).status).toBe(403);
      expect(await revokedIds()).toEqual([K(3)]);
      expect((await (await revoke({ keyId: K(1) }, { token: operator.token })).json()).status).toBe('ok');
      const dry = await (await revoke({ userId: '8', dryRun: true }, { token: operator.token })).json();
      const body = await (await revoke({ userId: '8', confirm: dry.confirmToken }, { token: operator.token })).json();
      expect(body).toMatchObject({ status: 'ok', count: 1 });
      expect((await audit(body.auditId))).toMatchObject({ actor: `keys-operator-${driver}`, role: 'operate' });
    });

    it.each([
      ['one key', async () => revoke({ keyId: K(1) })],
      ['all keys of a user', async () => revoke({ userId: '7', confirm: (await (await revoke({ userId: '7', dryRun: true })).json()).confirmToken })],
    ])('the audit insert failing rolls the revocation of %s back', async (_name, call) => {
      await q(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_force_fail_keys CHECK (action <> 'api-keys.revoke') NOT VALID`);
      try {
        const before = await snapshot();
        expect((await call()).status).toBe(500);
        expect(await snapshot()).toEqual(before);
      } finally {
        await q(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_force_fail_keys`);
      }
    });

    it('a mapping naming a missing column → 500 MISCONFIGURED naming the path; no apiKeys mapping → names app.apiKeys', async () => {
      setConfig(parseConfig({ app: { apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revokedAt' } } } }));
      const res = await revoke({ keyId: K(1) });
      expect(res.status).toBe(500);
      expect((await res.json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('app.apiKeys.columns.revokedAt = "revokedAt"') });
      setConfig(parseConfig({}));
      expect((await (await revoke({ keyId: K(1) })).json()).error).toMatchObject({ code: 'MISCONFIGURED', message: expect.stringContaining('app.apiKeys') });
      expect(await revokedIds()).toEqual([K(3)]);
    });
  });

  describe('hard revoke (no revokedAt: DELETE, runbook 000)', () => {
    beforeEach(() => setConfig(parseConfig(HARD)));
    const ids = async () => (await q(`SELECT id FROM vivim_keys ORDER BY id`)).rows.map((k: { id: string }) => k.id);

    it('by keyId: the row is deleted, the audit row keeps it (the key itself masked), after is null; a repeat → 404, audited', async () => {
      const body = await (await revoke({ keyId: 'key_a' })).json();
      expect(body).toMatchObject({ status: 'ok', count: 1, sample: [{ id: 'key_a', userId: 'usr_1', name: 'ci' }] });
      expect(await ids()).toEqual(['key_b', 'key_c']);
      const a = await audit(body.auditId);
      expect(a).toMatchObject({ target: 'api-key:key_a', result: 'ok', before: { id: 'key_a', userId: 'usr_1', name: 'ci' }, after: null });
      expect(JSON.stringify([a, body])).not.toMatch(/SECRET|"key"|hashedKey/);
      const again = await revoke({ keyId: 'key_a' });
      expect(again.status).toBe(404);
      const err = (await again.json()).error;
      expect(err).toMatchObject({ code: 'NOT_FOUND', message: 'No API key key_a (already deleted, or never existed).' });
      expect((await audit(err.details.auditId)).result).toBe('not-found');
    });

    it('dry run by keyId changes nothing', async () => {
      expect(await (await revoke({ keyId: 'key_b', dryRun: true })).json()).toMatchObject({ status: 'ok', count: 1, dryRun: true });
      expect(await ids()).toEqual(['key_a', 'key_b', 'key_c']);
    });

    it("by userId: dry run lists the keys, the confirmed run deletes all of that user's and no one else's", async () => {
      const dry = await (await revoke({ userId: 'usr_1', dryRun: true })).json();
      expect(dry).toMatchObject({ status: 'ok', count: 2, sample: [{ id: 'key_a' }, { id: 'key_b' }] });
      expect(JSON.stringify(dry)).not.toContain('SECRET');
      expect(await ids()).toEqual(['key_a', 'key_b', 'key_c']);
      expect((await revoke({ userId: 'usr_1' })).status).toBe(428);
      const body = await (await revoke({ userId: 'usr_1', confirm: dry.confirmToken })).json();
      expect(body).toMatchObject({ status: 'ok', count: 2 });
      expect(await ids()).toEqual(['key_c']);
      const a = await audit(body.auditId);
      expect(a).toMatchObject({ target: 'user:usr_1', before: { count: 2 }, after: null });
      expect(JSON.stringify(a)).not.toContain('SECRET');
      expect(await (await revoke({ userId: 'usr_1', confirm: dry.confirmToken })).json()).toMatchObject({ error: { code: 'CONFLICT' } });
    });

    it.each(HOSTILE)('hostile keyId / userId %j for text columns → 404 / noop, never 5xx, tables intact', async (evil) => {
      const before = await snapshot();
      const one = await revoke({ keyId: evil });
      expect(one.status).toBe(404);
      expect((await one.json()).error.code).toBe('NOT_FOUND');
      const dry = await (await revoke({ userId: evil, dryRun: true })).json();
      expect(dry).toMatchObject({ status: 'noop', count: 0 });
      expect(await (await revoke({ userId: evil, confirm: dry.confirmToken })).json()).toMatchObject({ status: 'noop', count: 0 });
      expect(await snapshot()).toEqual(before);
    });

    it('the audit insert failing rolls the DELETE back', async () => {
      await q(`ALTER TABLE opsbook.audit_log ADD CONSTRAINT opsbook_t_force_fail_hard CHECK (action <> 'api-keys.revoke') NOT VALID`);
      try {
        expect((await revoke({ keyId: 'key_a' })).status).toBe(500);
        expect(await ids()).toEqual(['key_a', 'key_b', 'key_c']);
      } finally {
        await q(`ALTER TABLE opsbook.audit_log DROP CONSTRAINT opsbook_t_force_fail_hard`);
      }
    });
  });
});
