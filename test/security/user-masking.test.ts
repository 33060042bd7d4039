// Issue 10: every admin action that reads a row of the app's users or API key table masks the same
// way, in its answer and in its audit row. The actions are found by walking the registry (and every
// action file that resolves the app's tables), so a new user or key action is covered here without a
// new test: its parameters are built from its schema, and only a parameter name never seen before
// needs a value in VALUES.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { ActionDefinition } from '../../lib/admin/action.js';
import { adminRoute } from '../../lib/admin/handler.js';
import { ACTIONS } from '../../lib/admin/registry.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Secret-looking columns of the planted users table, each holding a canary. */
const USER_SECRETS = [
  'password_hash', 'reset_token', 'totp_secret', 'api_key', 'refresh_token', 'otp_seed', 'session_secret', '"passwordSalt"',
  '"recoveryCodes"', 'encrypted_password', 'remember_digest', 'confirmation_token', '"webauthnCredential"', 'private_key', '"oauthAccessToken"',
];
/** …and of the API key table. */
const KEY_SECRETS = ['key', 'key_hash', '"hashedKey"', 'secret', '"signingSecret"', 'token', 'signature', 'private_pem'];
const bare = (c: string) => c.replace(/"/g, '');

const CONFIG = {
  app: {
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', locked: 'locked', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason', deletedAt: 'deleted_at' },
      // Only `phone` is listed: every other column above is masked by its name alone.
      sensitive: ['phone'],
    },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at', createdAt: 'created_at' } },
  },
};

const K = (n: number) => `00000000-0000-0000-0000-00000000000${n}`;

/**
 * Values for each parameter name an action may take; every combination is run. Both users (an active,
 * unlocked one and a suspended, locked one) and both directions of lock, so each action both changes a
 * row and finds it already changed.
 */
const VALUES: Record<string, unknown[]> = {
  userId: ['1', '2'],
  keyId: [K(1), K(3)],
  id: ['1', '2'],
  email: ['VISIBLE-1@example.com'],
  locked: [true, false],
  reason: ['masking test'],
};

/** Action ids declared in files that resolve the app's users or API key table. */
function rowReadingIds(): string[] {
  const dir = join(ROOT, 'lib/actions');
  const ids: string[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.ts'))) {
    const src = readFileSync(join(dir, f), 'utf8');
    if (!/\b(usersTable|apiKeysTable|resolveTable|inspectTable)\(/.test(src)) continue;
    for (const m of src.matchAll(/^\s+id: '([^']+)'/gm)) ids.push(m[1]!);
  }
  return ids;
}

const readers = rowReadingIds();
/** Every registered action that reads a user or key row: found by its code, or by its route. */
const COVERED: ActionDefinition<any>[] = ACTIONS.filter((a) => readers.includes(a.id) || /^\/api\/admin\/(users|api-keys)(\/|$)/.test(a.path));

/** Parameter sets from the schema: the required fields, with each optional field in turn (one of `email`/`id`). */
function paramSets(def: ActionDefinition<any>): Array<Record<string, unknown>> {
  const shape = (def.schema as z.ZodObject).shape as Record<string, z.ZodType>;
  const required = Object.keys(shape).filter((k) => !shape[k]!.safeParse(undefined).success);
  const optional = Object.keys(shape).filter((k) => !required.includes(k));
  const groups = optional.length ? optional.map((o) => [...required, o]) : [required];
  const out: Array<Record<string, unknown>> = [];
  for (const keys of groups) {
    let combos: Array<Record<string, unknown>> = [{}];
    for (const k of keys) {
      const values = VALUES[k];
      if (!values) throw new Error(`${def.id}: no test value for parameter "${k}": add it to VALUES in test/security/user-masking.test.ts`);
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [k]: v })));
    }
    out.push(...combos);
  }
  return out;
}

describe('every user and API key action masks secret-looking columns, in its answer and its audit rows', () => {
  let h: DbHarness;
  let r: RedisHarness;
  const q = (text: string, params: unknown[] = []) => h.database!.admin.query(text, params);

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('memory')]);
    await ensureSchema(h.db);
    await q(`CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, status text NOT NULL, locked boolean NOT NULL, suspended_at timestamptz,
        suspension_reason text, deleted_at timestamptz, phone text, ${USER_SECRETS.map((c) => `${c} text`).join(', ')});
      CREATE TABLE api_keys (id uuid PRIMARY KEY, user_id int NOT NULL, name text NOT NULL, revoked_at timestamptz, created_at timestamptz NOT NULL,
        ${KEY_SECRETS.map((c) => `${c} text`).join(', ')})`);
  });
  beforeEach(async () => {
    await useAdminDeps(h.db, r.redis, CONFIG);
    const userRow = (id: number, status: string, locked: boolean) =>
      `(${id}, 'VISIBLE-${id}@example.com', '${status}', ${locked}, NULL, NULL, NULL, 'CANARY-phone-${id}', ${USER_SECRETS.map((c) => `'CANARY-${bare(c)}-${id}'`).join(', ')})`;
    const keyRow = (n: number, user: number) => `('${K(n)}', ${user}, 'VISIBLE-key-${n}', NULL, '2024-01-0${n}T00:00:00Z', ${KEY_SECRETS.map((c) => `'CANARY-${bare(c)}-${n}'`).join(', ')})`;
    await q(`TRUNCATE users, api_keys, opsbook.audit_log;
      INSERT INTO users VALUES ${userRow(1, 'ACTIVE', false)}, ${userRow(2, 'SUSPENDED', true)};
      INSERT INTO api_keys VALUES ${keyRow(1, 1)}, ${keyRow(2, 1)}, ${keyRow(3, 2)}`);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  it('the walk finds the user and key actions (users.lock among them), and each declared reader is registered', () => {
    const ids = COVERED.map((a) => a.id);
    expect(ids).toEqual(expect.arrayContaining(['users.lock', 'users.suspend', 'users.reinstate', 'users.delete', 'users.lookup', 'api-keys.revoke']));
    for (const id of readers) expect(ACTIONS.map((a) => a.id), `${id} is declared in lib/actions but not registered`).toContain(id);
  });

  /** The answer and every audit row, as text, hold no canary and no secret column's name. */
  const expectMasked = async (what: string, text: string) => {
    const audit = JSON.stringify((await q(`SELECT * FROM opsbook.audit_log ORDER BY id`)).rows);
    for (const [where, t] of [['answer', text], ['audit log', audit]] as const) {
      expect(t, `${what}: ${where}`).not.toContain('CANARY');
      for (const c of [...USER_SECRETS, ...KEY_SECRETS, 'phone']) expect(t, `${what}: ${where} names ${bare(c)}`).not.toMatch(new RegExp(`"${bare(c)}"`));
    }
    return audit;
  };

  describe.each(COVERED.map((def) => [def.id, def] as const))('%s', (_id, def) => {
    const route = adminRoute(def);
    const call = (params: Record<string, unknown>) =>
      route(def.method === 'GET' ? adminRequest(def.path, { method: 'GET', query: Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)])) }) : adminRequest(def.path, { body: params }));

    it.each(paramSets(def).map((p) => [JSON.stringify(p), p] as const))('%s: dry run and confirmed run show rows, never a secret column', async (label, params) => {
      if (!def.mutates) {
        const res = await call(params);
        const text = await res.text();
        expect(res.status, text).toBe(200);
        expect(text).toContain('VISIBLE');
        await expectMasked(`${def.id} ${label}`, text);
        return;
      }
      const dry = await call({ ...params, dryRun: true });
      const dryText = await dry.text();
      expect(dry.status, dryText).toBe(200);
      expect(dryText).toContain('VISIBLE');
      await expectMasked(`${def.id} ${label} dry run`, dryText);
      const token = JSON.parse(dryText).confirmToken as string | undefined;
      const real = await call({ ...params, ...(token ? { confirm: token } : {}) });
      const realText = await real.text();
      expect(real.status, realText).toBe(200);
      const audit = await expectMasked(`${def.id} ${label}`, realText);
      // The audit row holds the row it acted on (masked), so the check above read real rows.
      expect(audit).toContain('VISIBLE');
    });
  });
});
