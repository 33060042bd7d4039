// Confirm tokens and idempotency keys belong to one token (its id, never its name), to one plan (what the
// dry run showed) and, for confirms, to one use. Every call goes through the real admin route modules.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as apiKeysRevokeRoute } from '../../api/admin/api-keys/revoke.js';
import { POST as cacheDeleteRoute } from '../../api/admin/cache/delete.js';
import { POST as tokensCreateRoute } from '../../api/admin/tokens.js';
import { POST as tokensRevokeRoute } from '../../api/admin/tokens/revoke.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Role } from '../../lib/auth.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

/** This file's Redis keys, under a prefix of their own on the shared test Redis. */
const P = `opsbook-t-confirm-${randomBytes(4).toString('hex')}`;
const CONFIG = { app: { apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at' } } } };
const freshIp = () => `2001:db8:c0:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;

let h: DbHarness;
let r: RedisHarness;

beforeAll(async () => {
  [h, r] = await Promise.all([openDb('pg'), openRedis('tcp')]);
  await ensureSchema(h.db);
  await h.database!.admin.query(`CREATE TABLE api_keys (id int PRIMARY KEY, user_id int NOT NULL, key_hash text NOT NULL, revoked_at timestamptz)`);
  await useAdminDeps(h.db, r.redis, CONFIG);
});
afterAll(async () => {
  resetAdminDeps();
  await Promise.allSettled([h.close(), r.close()]);
});

type Route = (request: Request) => Promise<Response>;
const call = (route: Route, path: string, body: unknown, token?: string, headers: Record<string, string> = {}) =>
  route(adminRequest(path, { body, token, headers, ip: freshIp() }));
const cacheDelete = (body: unknown, token?: string, headers?: Record<string, string>) => call(cacheDeleteRoute, '/api/admin/cache/delete', body, token, headers);
const apiKeysRevoke = (body: unknown) => call(apiKeysRevokeRoute, '/api/admin/api-keys/revoke', body);

/** A stored token made through the real route (by the bootstrap admin). */
async function createTokenNamed(name: string, role: Role): Promise<{ token: string; id: number }> {
  const res = await call(tokensCreateRoute, '/api/admin/tokens', { name, role });
  expect(res.status).toBe(200);
  const { data } = await res.json();
  return { token: data.token, id: data.id };
}
async function revokeTokenNamed(name: string): Promise<void> {
  const res = await call(tokensRevokeRoute, '/api/admin/tokens/revoke', { name });
  expect(await res.json()).toMatchObject({ status: 'ok' });
}

async function setKeys(prefix: string, n: number): Promise<void> {
  await r.redis.pipeline(Array.from({ length: n }, (_, i) => ['SET', `${prefix}${i}`, 'v']));
}
async function keysUnder(prefix: string): Promise<string[]> {
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, keys] = await r.redis.command<[string, string[]]>(['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000]);
    cursor = next;
    for (const k of keys) found.add(k);
  } while (cursor !== '0');
  return [...found].sort();
}

describe('a confirm token and an idempotent replay belong to the token id, not its name', () => {
  it("token A revoked, token B created with A's name → A's confirm token is refused for B (428), the keys survive", async () => {
    const name = `ops-${randomBytes(4).toString('hex')}`;
    const prefix = `${P}:rename-confirm:`;
    await setKeys(prefix, 5);
    const a = await createTokenNamed(name, 'operate');
    const dry = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true }, a.token)).json();
    expect(dry).toMatchObject({ status: 'ok', count: 5, confirmToken: expect.any(String) });

    await revokeTokenNamed(name);
    const b = await createTokenNamed(name, 'operate');
    expect(b.id).not.toBe(a.id);

    const res = await cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken }, b.token);
    expect(res.status).toBe(428);
    expect((await res.json()).error.code).toBe('CONFIRMATION_REQUIRED');
    expect(await keysUnder(prefix)).toHaveLength(5);
    // B's own dry run gives B a confirm token that works.
    const own = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true }, b.token)).json();
    expect(await (await cacheDelete({ pattern: `${prefix}*`, confirm: own.confirmToken }, b.token)).json()).toMatchObject({ status: 'ok', count: 5 });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it("token A revoked, token B created with A's name, same Idempotency-Key and body → B's request runs (no replay of A's answer)", async () => {
    const name = `ops-${randomBytes(4).toString('hex')}`;
    const key = `${P}:rename-idem:one`;
    const idem = { 'idempotency-key': `idem-${randomBytes(6).toString('hex')}` };
    const a = await createTokenNamed(name, 'operate');
    await r.redis.command(['SET', key, 'v']);
    const first = await cacheDelete({ pattern: key }, a.token, idem);
    expect(await first.json()).toMatchObject({ status: 'ok', count: 1 });
    // A's own retry is a replay: the key stays as it is now.
    await r.redis.command(['SET', key, 'v']);
    const retry = await cacheDelete({ pattern: key }, a.token, idem);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await keysUnder(key)).toEqual([key]);

    await revokeTokenNamed(name);
    const b = await createTokenNamed(name, 'operate');
    const res = await cacheDelete({ pattern: key }, b.token, idem);
    expect(res.status).toBe(200);
    expect(res.headers.get('idempotent-replayed')).toBeNull();
    expect(await res.json()).toMatchObject({ status: 'ok', count: 1 });
    expect(await keysUnder(key)).toEqual([]);
  });
});

describe('a confirm token is spent once and binds the plan its dry run showed', () => {
  it('a confirm token used twice → the second is refused (428 "already used"), even for the very same plan; nothing deleted', async () => {
    const prefix = `${P}:twice:`;
    await setKeys(prefix, 3);
    const dry = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true })).json();
    expect(await (await cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken })).json()).toMatchObject({ status: 'ok', count: 3 });
    // The same three keys again: the plan is what the dry run showed, only the token is spent.
    await setKeys(prefix, 3);
    const again = await cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken });
    expect(again.status).toBe(428);
    expect((await again.json()).error).toMatchObject({ code: 'CONFIRMATION_REQUIRED', message: expect.stringContaining('already used') });
    expect(await keysUnder(prefix)).toHaveLength(3);
  });

  it('two concurrent requests with one confirm token → exactly one runs', async () => {
    const prefix = `${P}:race:`;
    await setKeys(prefix, 4);
    const dry = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true })).json();
    const answers = await Promise.all([1, 2, 3].map(() => cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken })));
    expect(answers.map((a) => a.status).filter((s) => s === 200)).toHaveLength(1);
  });

  it('cache keys added between the dry run and the confirm → 409 "has changed since the dry run", nothing deleted; a new dry run confirms', async () => {
    const prefix = `${P}:grown:`;
    await setKeys(prefix, 3);
    const dry = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true })).json();
    expect(dry).toMatchObject({ count: 3 });
    await r.redis.command(['SET', `${prefix}new`, 'v']);
    const res = await cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken });
    expect(res.status).toBe(409);
    expect((await res.json()).error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/what this would change has changed since the dry run; run it again/i) });
    expect(await keysUnder(prefix)).toHaveLength(4);

    const fresh = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true })).json();
    expect(await (await cacheDelete({ pattern: `${prefix}*`, confirm: fresh.confirmToken })).json()).toMatchObject({ status: 'ok', count: 4 });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it("one cache key replaced by another (same count) between the dry run and the confirm → 409, nothing deleted", async () => {
    const prefix = `${P}:swapped:`;
    await setKeys(prefix, 3);
    const dry = await (await cacheDelete({ pattern: `${prefix}*`, dryRun: true })).json();
    await r.redis.pipeline([['DEL', `${prefix}0`], ['SET', `${prefix}other`, 'v']]);
    expect((await cacheDelete({ pattern: `${prefix}*`, confirm: dry.confirmToken })).status).toBe(409);
    expect(await keysUnder(prefix)).toHaveLength(3);
  });

  it("a user's key rows changed between the dry run and the confirm (a key added, another revoked) → 409, no key revoked", async () => {
    const live = async () => (await h.database!.admin.query(`SELECT id FROM api_keys WHERE user_id = 42 AND revoked_at IS NULL ORDER BY id`)).rows.map((x) => x.id);
    await h.database!.admin.query(`INSERT INTO api_keys VALUES (1, 42, 'kh-1', NULL), (2, 42, 'kh-2', NULL)`);
    const dry = await (await apiKeysRevoke({ userId: '42', dryRun: true })).json();
    expect(dry).toMatchObject({ status: 'ok', count: 2 });

    await h.database!.admin.query(`INSERT INTO api_keys VALUES (3, 42, 'kh-3', NULL)`);
    const grown = await apiKeysRevoke({ userId: '42', confirm: dry.confirmToken });
    expect(grown.status).toBe(409);
    expect(await live()).toEqual([1, 2, 3]);

    // Back to two rows, but not the same two: still another plan.
    await h.database!.admin.query(`UPDATE api_keys SET revoked_at = now() WHERE id = 1`);
    expect((await apiKeysRevoke({ userId: '42', confirm: dry.confirmToken })).status).toBe(409);
    expect(await live()).toEqual([2, 3]);
  });
});
