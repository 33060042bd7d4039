// Opsbook shares a Redis politely: every key it writes is under `redisKeyPrefix` and expires. The whole
// route table (every file under api/, every method it exports) is driven with and without a valid token
// over both Redis transports the README recommends (TCP and Upstash REST through the local peer), then
// the keyspace is SCANned: every key the run created starts with the configured prefix and has a TTL.
// cache/delete, judging each key SCAN found, never deletes one of them.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as cacheDelete } from '../../api/admin/cache/delete.js';
import { limitFailedAuthentication } from '../../lib/admin/ratelimit.js';
import { parseConfig, setConfigSource, type OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { RedisClient } from '../../lib/redis/index.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import { discoverRoutes } from '../../lib/runner/routes.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { ADMIN_TOKEN, adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { redisUrlFor } from '../support/services.js';

/**
 * This file's own Redis database, which nothing else in the suite uses (3, 9 and 12 are taken): the
 * SCAN below must see only the keys this file's requests created, not those of files running beside it.
 */
const DB_URL = redisUrlFor(13);
const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES = discoverRoutes(join(ROOT, 'api'));
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const CRON_SECRET = 'cron-secret-for-the-redis-keys-test-0123456789';
const HEARTBEAT = 'redis-keys-job';
/** A value for each dynamic segment of the route table; a new one fails the walk until it is named here. */
const PARAMS: Record<string, string> = { job: 'nightly', id: '1', name: HEARTBEAT, action: 'start' };
/** Keys of another run of this file (someone else's, at the same time) are theirs to check: `acme-ops:<8 hex>:`. */
const ANY_RUN = /^acme-ops:[0-9a-f]{8}:/;

const config = (prefix: string): OpsbookConfigInput => ({
  redisKeyPrefix: prefix,
  heartbeats: [{ name: HEARTBEAT, periodSeconds: 3600 }],
  checks: { requiredEnv: ['PATH'] },
  checklists: [{ id: 'nightly', title: 'Nightly', schedule: { type: 'daily', at: '03:00' }, items: [{ check: 'env' }] }],
});

const freshIp = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::${randomBytes(2).toString('hex')}`;

async function keysIn(raw: IORedis): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const keys of raw.scanStream({ count: 1000 })) for (const k of keys as string[]) out.add(k);
  return out;
}

type Handler = (request: Request) => Promise<Response>;
async function handlersOf(file: string): Promise<Array<[string, Handler]>> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  return METHODS.filter((m) => typeof mod[m] === 'function').map((m) => [m, mod[m] as Handler]);
}

/** A request to a route, its dynamic segments filled in from PARAMS (in the path and the query, as Vercel does). */
function requestFor(route: (typeof ROUTES)[number], method: string, authorization: string | undefined): Request {
  const query = new URLSearchParams();
  const path = route.segments
    .map((s) => {
      if (s.kind === 'static') return s.value;
      const value = PARAMS[s.name];
      if (value === undefined) throw new Error(`${route.pattern}: add a value for [${s.name}] to PARAMS`);
      query.set(s.name, value);
      return value;
    })
    .join('/');
  const headers: Record<string, string> = { 'x-forwarded-for': freshIp(), 'user-agent': 'opsbook-redis-keys' };
  if (authorization) headers.authorization = authorization;
  const body = method === 'GET' || method === 'HEAD' ? undefined : JSON.stringify({ dryRun: true });
  if (body) headers['content-type'] = 'application/json';
  return new Request(`http://localhost/${path}?${query}`, { method, headers, body });
}

interface Transport {
  redis: RedisClient;
  peer?: UpstashPeer;
}
const TRANSPORTS: Record<'tcp' | 'upstash', () => Promise<Transport>> = {
  tcp: async () => ({ redis: createTcpRedis(DB_URL, { callTimeoutMs: 5000 }) }),
  upstash: async () => {
    const peer = await startUpstashPeer({ upstream: DB_URL });
    return { redis: createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 5000 }), peer };
  },
};

let h: DbHarness;
let raw: IORedis;
beforeAll(async () => {
  h = await openDb('pg');
  await ensureSchema(h.db);
  raw = new IORedis(DB_URL);
});
afterAll(async () => {
  resetAdminDeps();
  raw.disconnect();
  await h.close();
});

describe.each(['tcp', 'upstash'] as const)('Opsbook\'s Redis keys over %s', (driver) => {
  const prefix = `acme-ops:${randomBytes(4).toString('hex')}:`;
  let t: Transport;
  let before: Set<string>;
  let created: string[];

  beforeAll(async () => {
    t = await TRANSPORTS[driver]();
    await useAdminDeps(h.db, t.redis, config(prefix), { CRON_SECRET });
    before = await keysIn(raw);
    const statuses: string[] = [];
    for (const route of ROUTES) {
      for (const [method, handler] of await handlersOf(route.file)) {
        // No token (a failed authentication on every protected route), a wrong one, and the valid admin
        // token (past every limiter; a dry run at most); the cron route gets its secret too.
        const auths = [undefined, 'Bearer ops_not-a-real-token-0123456789', `Bearer ${ADMIN_TOKEN}`, ...(route.pattern.startsWith('/api/cron/') ? [`Bearer ${CRON_SECRET}`] : [])];
        for (const auth of auths) statuses.push(`${method} ${route.pattern} ${(await handler(requestFor(route, method, auth))).status}`);
      }
    }
    // The walk reached the writers: a heartbeat ping was accepted and admin routes got past authentication.
    expect(statuses).toContain(`POST /api/heartbeats/[name] 200`);
    expect(statuses.filter((s) => s.startsWith('POST /api/admin/') && !/ (401|403|429|503)$/.test(s)).length).toBeGreaterThan(0);
    created = [...(await keysIn(raw))].filter((k) => !before.has(k) && (k.startsWith(prefix) || !ANY_RUN.test(k)));
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled([t.redis.close(), t.peer?.close()]);
  });

  it('every key the walk created starts with the configured prefix', () => {
    expect(created.length).toBeGreaterThan(0);
    expect(created.filter((k) => !k.startsWith(prefix))).toEqual([]);
  });

  it.each([
    ['a failed authentication', 'rl:authfail:'],
    ['the per-address admin limit', 'rl:ip:'],
    ['the per-token admin limit', 'rl:token:'],
    ['a heartbeat ping', `rl:heartbeat:${HEARTBEAT}:`],
  ])('key written by %s → under the prefix (%s…), with a TTL', async (_what, family) => {
    const keys = created.filter((k) => k.startsWith(`${prefix}${family}`));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys) expect(await raw.pttl(k), k).toBeGreaterThan(0);
  });

  it('every key the walk created has a TTL (PTTL > 0: none lives forever)', async () => {
    const ttls = await Promise.all(created.map(async (k) => [k, await raw.pttl(k)] as const));
    expect(ttls.filter(([, ttl]) => !(ttl > 0))).toEqual([]);
  });

  it.each([
    ['one key under the configured prefix', (k: string) => k, 409],
    ['a glob under the configured prefix', () => `${prefix}*`, 200],
    ['a glob spelt another way (? for the prefix\'s last character)', () => `${prefix.slice(0, -1)}?*`, 200],
    ['a glob under the default prefix', () => 'opsbook:rl:*', 200],
  ])('cache/delete naming %s → refused key by key as "opsbook internal"; nothing is deleted', async (_what, patternOf, status) => {
    const [key] = created.filter((k) => k.startsWith(`${prefix}rl:heartbeat:`));
    const defaultKey = `opsbook:rl:redis-keys-${prefix.slice(9, 17)}:probe`;
    await raw.set(defaultKey, 'state', 'PX', 60_000);
    const pattern = patternOf(key!);
    const dry = await cacheDelete(adminRequest('/api/admin/cache/delete', { body: { pattern, dryRun: true } }));
    expect(dry.status).toBe(status);
    const body = await dry.json();
    if (status === 409) expect(body.error.message).toMatch(/opsbook internal/);
    else {
      expect(body).toMatchObject({ count: 0, data: { skipped: { byReason: { 'opsbook internal': expect.any(Number) } } } });
      const res = await cacheDelete(adminRequest('/api/admin/cache/delete', { body: { pattern, confirm: body.confirmToken } }));
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ count: 0 });
    }
    expect(await raw.exists(key!, defaultKey)).toBe(2);
    await raw.unlink(defaultKey);
  });

  it('cache/delete still deletes a key that only looks like the prefix (the app\'s acme-ops-cache:…)', async () => {
    const key = `${prefix.slice(0, -1)}-cache:words:apple`;
    await raw.set(key, 'v', 'PX', 60_000);
    const res = await cacheDelete(adminRequest('/api/admin/cache/delete', { body: { pattern: key } }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ count: 1 });
    expect(await raw.exists(key)).toBe(0);
  });
});

describe('the config cannot be read', () => {
  afterAll(() => {
    setConfigSource(undefined);
    resetAdminDeps();
  });

  it('a misconfigured deployment → failed authentications are still limited, under the default prefix opsbook:, with a TTL', async () => {
    const redis = createTcpRedis(DB_URL, { callTimeoutMs: 5000 });
    try {
      await useAdminDeps(h.db, redis, config('acme-ops:unused:'));
      setConfigSource({ redisKeyPrefix: 'has space', checklists: 'not a list' });
      const ip = freshIp();
      await limitFailedAuthentication(ip);
      const keys = [...(await keysIn(raw))].filter((k) => k.includes(ip));
      expect(keys).toEqual([expect.stringMatching(new RegExp(`^opsbook:rl:authfail:${ip.replace(/[.:]/g, '\\$&')}:`))]);
      expect(await raw.pttl(keys[0]!)).toBeGreaterThan(0);
    } finally {
      await redis.close();
    }
  });
});

describe('redisKeyPrefix validation', () => {
  it.each([
    ['the default', undefined, 'opsbook:'],
    ['a custom prefix', 'acme-ops:', 'acme-ops:'],
    ['punctuation Redis treats literally', 'team/ops_1.{x}|', 'team/ops_1.{x}|'],
    ['64 characters', 'p'.repeat(64), 'p'.repeat(64)],
  ])('%s → accepted as %s', (_what, value, expected) => {
    expect(parseConfig(value === undefined ? {} : { redisKeyPrefix: value }).redisKeyPrefix).toBe(expected);
  });

  it.each([
    ['empty (every key would be Opsbook\'s)', ''],
    ['65 characters', 'p'.repeat(65)],
    ['a space', 'acme ops:'],
    ['a tab', 'acme\tops:'],
    ['a non-ASCII character', 'ops·'],
    ...['*', '?', '[', ']', '\\'].map((c) => [`the glob character ${c}`, `acme${c}ops:`]),
  ])('%s → refused', (_what, value) => {
    expect(() => parseConfig({ redisKeyPrefix: value })).toThrow(/redisKeyPrefix/);
  });
});
