// Every admin action, fed arbitrary and hostile input through its real route module, against real
// Postgres (pg) and Redis (TCP): never a 5xx, always the error shape when not 200, and no change to the
// app's tables or Opsbook's settings without an audit row for that very request.
import { createHash, randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionDefinition } from '../../lib/admin/action.js';
import { ACTIONS } from '../../lib/admin/registry.js';
import { createToken } from '../../lib/admin/tokens.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { ERROR_CODES } from '../../lib/errors.js';
import { toSchema } from '../../lib/openapi.js';
import { discoverRoutes } from '../../lib/runner/routes.js';
import { resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { REDIS_URL } from '../support/services.js';

/** Fixed, so a failure replays: fast-check prints the seed and path of the counterexample. */
const SEED = 20_261_122;
const RUNS_PER_ACTION = 25;
/**
 * Actions allowed a 5xx, and which. Empty: REDIS_URL is set to the real TCP Redis, so queue actions
 * (BullMQ) have what they need. An entry here needs a reason.
 */
const ALLOWED_5XX: Record<string, number[]> = {};

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES = discoverRoutes(join(ROOT, 'api'));
const PREFIX = `opsbook-fuzz-${randomBytes(3).toString('hex')}`;

const CONFIG = {
  app: {
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', locked: 'locked', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason', deletedAt: 'deleted_at' },
    },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at', createdAt: 'created_at' } },
  },
  checks: { queues: { prefix: PREFIX } },
};

const SQL_INJECTION = [
  "'; DROP TABLE users; --",
  "1; DELETE FROM opsbook.audit_log; --",
  "1' OR '1'='1",
  "' UNION SELECT hash FROM opsbook.tokens --",
  '$1',
  '\\',
  '%',
  '_',
  '*',
  '"users"',
  'pg_sleep(10)',
];
const ODD_STRINGS = ['', ' ', '\u0000', 'a\u0000b', '\u202Eevil', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'Ünïcödé ✓', '🙂'.repeat(40), '\ud800', 'null', 'true', '0', '-1', '1e309', 'NaN', '9'.repeat(40), '__proto__', 'constructor'];
/** Over the 64 KB body limit on its own. */
const HUGE = 'x'.repeat(70_000);

const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom(...SQL_INJECTION, ...ODD_STRINGS), weight: 4 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 1 },
  { arbitrary: fc.constantFrom('x'.repeat(5000), HUGE), weight: 1 },
);
const nestedArrays = fc.letrec((tie) => ({ node: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.string({ maxLength: 5 }), fc.array(tie('node'), { maxLength: 4 })) })).node;

type J = Record<string, any>;

const REALISTIC = ['1', '2', '3', '999', 'user1@example.com', 'default', 'emails', 'users', 'session:*', 'FEATURE_X', 'fuzz-token', 'public.users'];

/** What a careful client sends: values of the right type, within the schema's bounds and pattern. */
function plausible(schema: J | undefined): fc.Arbitrary<unknown> {
  if (!schema) return fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.boolean());
  const variants = (schema.anyOf ?? schema.oneOf) as J[] | undefined;
  if (variants?.length) return fc.oneof(...variants.map(plausible));
  if (Array.isArray(schema.enum)) return fc.constantFrom(...(schema.enum as unknown[]));
  if (schema.const !== undefined) return fc.constant(schema.const);
  switch (schema.type) {
    case 'string': {
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? 60;
      const fits = (v: string) => v.length >= min && v.length <= max && (!schema.pattern || new RegExp(schema.pattern as string, 'u').test(v));
      if (schema.format === 'date-time') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString());
      if (schema.format === 'date') return fc.date({ min: new Date('2020-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10));
      const real = REALISTIC.filter(fits);
      const free = schema.pattern ? fc.stringMatching(new RegExp(schema.pattern as string)).filter(fits) : fc.string({ minLength: min, maxLength: Math.min(max, 30) });
      return real.length ? fc.oneof({ arbitrary: fc.constantFrom(...real), weight: 3 }, { arbitrary: free, weight: 1 }) : free;
    }
    case 'integer':
    case 'number': {
      const min = schema.minimum ?? (schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : -3);
      const max = Math.min(schema.maximum ?? 1000, 100_000);
      return fc.oneof({ arbitrary: fc.integer({ min, max: Math.min(max, min + 10) }), weight: 3 }, { arbitrary: fc.integer({ min, max }), weight: 1 });
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(plausible(schema.items as J | undefined), { maxLength: 5 });
    case 'object':
      return schema.properties ? bodyFor(schema) : fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 4 });
    default:
      return fc.anything();
  }
}

/** A hostile value of roughly the right kind: injection strings where text goes, odd numbers where numbers go. */
function hostile(schema: J | undefined): fc.Arbitrary<unknown> {
  const type = schema?.type ?? (schema?.anyOf as J[] | undefined)?.[0]?.type;
  if (type === 'integer' || type === 'number') return fc.oneof(fc.integer(), fc.constantFrom(2 ** 53, -(2 ** 31), 1e300, 0.5, -0, 0), fc.double(), hostileString);
  if (type === 'boolean') return fc.oneof(fc.constantFrom('true', 1, 0, null), hostileString);
  if (type === 'array') return fc.oneof(fc.array(hostileString, { maxLength: 5 }), fc.array(fc.integer(), { minLength: 500, maxLength: 2000 }), nestedArrays);
  return fc.oneof({ arbitrary: hostileString, weight: 4 }, { arbitrary: fc.anything(), weight: 1 });
}

/** An object for the schema: required keys present, optional ones sometimes. */
function bodyFor(schema: J): fc.Arbitrary<J> {
  const props = (schema.properties ?? {}) as Record<string, J>;
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [k, s] of Object.entries(props)) model[k] = plausible(s);
  return fc.record(model, { requiredKeys: (schema.required ?? []).filter((k: string) => k in props) }) as fc.Arbitrary<J>;
}

/** A well-formed body with one field hostile (so the hostile value reaches the action, not just the schema). */
function withHostileField(schema: J): fc.Arbitrary<J> {
  const props = (schema.properties ?? {}) as Record<string, J>;
  const keys = Object.keys(props);
  if (keys.length === 0) return bodyFor(schema);
  return fc.constantFrom(...keys).chain((key) => fc.tuple(bodyFor(schema), hostile(props[key])).map(([body, value]) => ({ ...body, [key]: value })));
}

/** A well-formed body with one thing wrong: a field dropped, a field of the wrong type, an unknown field, a __proto__ key. */
function mutated(schema: J): fc.Arbitrary<J> {
  const keys = Object.keys(schema.properties ?? {});
  return fc.tuple(bodyFor(schema), fc.nat(), fc.constantFrom('drop', 'retype', 'extra', 'proto'), fc.anything(), fc.string({ maxLength: 12 })).map(([body, n, how, value, extraKey]) => {
    const out: J = { ...body };
    const key = keys.length ? keys[n % keys.length]! : 'x';
    if (how === 'drop') delete out[key];
    else if (how === 'retype') out[key] = value;
    else if (how === 'extra') out[extraKey || 'extra'] = value;
    else Object.defineProperty(out, '__proto__', { value: { admin: true }, enumerable: true });
    return out;
  });
}

interface FuzzInput {
  body: { kind: 'json'; value: unknown } | { kind: 'raw'; text: string };
  dryRun: unknown;
  confirm: string | undefined;
  idempotencyKey: string | undefined;
}

function inputsFor(def: ActionDefinition<any>): fc.Arbitrary<FuzzInput> {
  const schema = toSchema(def.schema);
  const json = (a: fc.Arbitrary<unknown>) => a.map((value) => ({ kind: 'json' as const, value }));
  const forgedConfirm = fc.constantFrom(`${Date.parse('2100-01-01T00:00:00Z').toString(36)}.forged-signature-0123456789abcdef`, 'not-a-confirm-token-at-all');
  // Well-formed requests: the action runs (or is refused for its own reasons).
  const careful = fc.record({
    body: fc.oneof({ arbitrary: json(bodyFor(schema)), weight: 2 }, { arbitrary: json(withHostileField(schema)), weight: 3 }),
    dryRun: fc.constantFrom(undefined, true, false),
    confirm: fc.option(forgedConfirm, { nil: undefined, freq: 4 }),
    idempotencyKey: fc.option(fc.uuid(), { nil: undefined, freq: 2 }),
  });
  // Anything at all: wrong shapes, wrong JSON, bad headers.
  const wild = fc.record({
    body: fc.oneof(
      { arbitrary: json(mutated(schema)), weight: 3 },
      { arbitrary: json(fc.anything()), weight: 1 },
      { arbitrary: json(fc.object()), weight: 1 },
      { arbitrary: json(nestedArrays), weight: 1 },
      { arbitrary: fc.oneof(fc.string({ maxLength: 60 }), fc.constantFrom('{', '{"a":', 'null', '[]', '"str"', '{"__proto__":{"x":1}}', HUGE)).map((text) => ({ kind: 'raw' as const, text })), weight: 1 },
    ),
    dryRun: fc.oneof(fc.constantFrom(undefined, true, false, 'true', 1, null), fc.anything()),
    confirm: fc.option(fc.oneof(fc.string({ maxLength: 40 }), hostileString), { nil: undefined }),
    idempotencyKey: fc.option(fc.oneof(fc.uuid(), fc.string({ maxLength: 20 }), fc.constant('k'.repeat(300))), { nil: undefined }),
  });
  return fc.oneof({ arbitrary: careful, weight: 3 }, { arbitrary: wild, weight: 2 });
}

/** The request for one input: body for POST, query for GET (values as a client would write them). */
function requestFor(def: ActionDefinition<any>, input: FuzzInput, token: string, requestId: string): Request {
  const url = new URL(`http://localhost${def.path}`);
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'x-forwarded-for': `2001:db8:f:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`,
    'x-request-id': requestId,
    'user-agent': 'opsbook-fuzz',
  };
  if (input.idempotencyKey !== undefined) headers['idempotency-key'] = input.idempotencyKey.replace(/[\r\n\0]/g, '');
  let value = input.body.kind === 'json' ? input.body.value : undefined;
  if (def.mutates && value && typeof value === 'object' && !Array.isArray(value)) {
    value = { ...value };
    if (input.dryRun !== undefined) (value as J).dryRun = input.dryRun;
    if (input.confirm !== undefined) (value as J).confirm = input.confirm;
  }
  if (def.method === 'GET') {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v) ?? 'undefined');
    } else if (input.body.kind === 'raw') url.search = encodeURIComponent(input.body.text).slice(0, 2000);
    return new Request(url, { method: 'GET', headers });
  }
  headers['content-type'] = 'application/json';
  const text = input.body.kind === 'raw' ? input.body.text : JSON.stringify(value) ?? '';
  return new Request(url, { method: 'POST', headers, body: text });
}

/** Refused by the pipeline before the action ran: body too large, not JSON, or not matching the schema. */
function atTheDoor(status: number, body: J): boolean {
  if (status === 413) return true;
  return status === 400 && /^(Invalid request:|The body is not valid JSON|The body must be JSON|Idempotency-Key must|Query parameter)/.test(String(body.error?.message));
}

describe('fuzzing every admin action against real Postgres and Redis', () => {
  let h: DbHarness;
  let r: RedisHarness;
  let n = 0;

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('tcp')]);
    await ensureSchema(h.db);
    await h.database!.admin.query(`
      CREATE TABLE users (id int PRIMARY KEY, email text NOT NULL, locked boolean NOT NULL DEFAULT false, status text NOT NULL DEFAULT 'active',
        suspended_at timestamptz, suspension_reason text, deleted_at timestamptz, password_hash text);
      CREATE TABLE api_keys (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users(id), revoked_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(), secret text);
      INSERT INTO users (id, email, password_hash) SELECT i, 'user' || i || '@example.com', 'hash-SECRET-' || i FROM generate_series(1, 5) i;
      INSERT INTO api_keys (id, user_id, secret) SELECT i, 1 + i % 5, 'key-SECRET-' || i FROM generate_series(1, 8) i;`);
    await useAdminDeps(h.db, r.redis, CONFIG, { REDIS_URL });
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  /** The state a request may only change with an audit row: the app's tables, settings, tokens (minus last use). */
  async function checksum(): Promise<string> {
    const { rows } = await h.database!.admin.query(`SELECT
      (SELECT coalesce(string_agg(t::text, '|' ORDER BY t.id), '') FROM users t) ||
      (SELECT coalesce(string_agg(t::text, '|' ORDER BY t.id), '') FROM api_keys t) ||
      (SELECT coalesce(string_agg(t::text, '|' ORDER BY t.key), '') FROM opsbook.settings t) ||
      (SELECT coalesce(string_agg(concat_ws(',', id, name, role, hash, revoked_at), '|' ORDER BY id), '') FROM opsbook.tokens) AS state`);
    return createHash('sha256').update(rows[0].state).digest('hex');
  }

  /** A live admin token for this action (fuzzed revokes may hit it: then a new one). */
  let current: { id: number; token: string } | undefined;
  async function liveToken(): Promise<string> {
    if (current) {
      const { rows } = await h.database!.admin.query(`SELECT revoked_at IS NULL AS active FROM opsbook.tokens WHERE id = $1`, [current.id]);
      if (rows[0]?.active) return current.token;
    }
    const made = await createToken(h.db, { name: `fuzz-${randomBytes(6).toString('hex')}`, role: 'admin', createdBy: 'fuzz' });
    current = { id: made.stored.id, token: made.token };
    return made.token;
  }

  it('covers every action in the registry', () => {
    expect(ACTIONS.length).toBeGreaterThan(0);
    for (const def of ACTIONS) expect(ROUTES.some((route) => route.pattern === def.path), def.path).toBe(true);
  });

  it.each(ACTIONS.map((a) => [a.id, a] as const))(
    '%s: arbitrary and hostile input → never a 5xx, the error shape when not 200, no change without an audit row',
    async (id, def) => {
      const mod = (await import(pathToFileURL(ROUTES.find((route) => route.pattern === def.path)!.file).href)) as Record<string, (r: Request) => Promise<Response>>;
      const handler = mod[def.method]!;
      current = undefined;
      const seen = new Map<number, number>();
      let reachedAction = 0;
      await fc.assert(
        fc.asyncProperty(inputsFor(def), async (input) => {
          const requestId = `fuzz-${id}-${++n}-${randomBytes(3).toString('hex')}`;
          const token = await liveToken();
          const before = await checksum();
          const res = await handler(requestFor(def, input, token, requestId));
          const text = await res.text();
          seen.set(res.status, (seen.get(res.status) ?? 0) + 1);

          if (res.status >= 500) expect(ALLOWED_5XX[id] ?? [], `${id} answered ${res.status}: ${text.slice(0, 300)}`).toContain(res.status);
          const body = JSON.parse(text);
          if (res.status === 200) {
            // Opsbook's own request id answers; the client's x-request-id is only kept beside it.
            expect(body).toMatchObject({ action: id, requestId: expect.any(String) });
            expect(body.requestId).not.toBe(requestId);
          } else {
            expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
            expect(typeof body.requestId).toBe('string');
            expect(body.requestId).not.toBe(requestId);
            expect(Object.keys(ERROR_CODES)).toContain(body.error.code);
            expect(ERROR_CODES[body.error.code as keyof typeof ERROR_CODES]).toBe(res.status);
            expect(typeof body.error.message).toBe('string');
          }
          if (!atTheDoor(res.status, body)) reachedAction++;
          expect(text).not.toMatch(/hash-SECRET|key-SECRET/);

          if ((await checksum()) !== before) {
            const { rows } = await h.database!.admin.query(`SELECT count(*)::int AS n FROM opsbook.audit_log WHERE client_request_id = $1`, [requestId]);
            expect(rows[0].n, `${id} changed state without an audit row (status ${res.status})`).toBeGreaterThan(0);
          }
        }),
        { numRuns: RUNS_PER_ACTION, seed: SEED + [...id].reduce((a, c) => a + c.charCodeAt(0), 0), endOnFailure: true },
      );
      // Not all rejected at the door: some inputs got through validation to the action itself.
      expect(reachedAction, `${id}: every input was refused by the pipeline's validation (${[...seen].map(([s, c]) => `${c}× ${s}`).join(', ')})`).toBeGreaterThan(0);
    },
  );
});
