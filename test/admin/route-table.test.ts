// The whole route table, walked: every admin action in lib/admin/registry.ts and every file under api/.
// Each admin route is called through its real module (the file Vercel deploys), so a route that skips
// the pipeline, or a file that is in neither table, fails here.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActionDefinition } from '../../lib/admin/action.js';
import { ACTIONS } from '../../lib/admin/registry.js';
import { createToken, hashToken } from '../../lib/admin/tokens.js';
import { ROLES, roleAllows, type Role } from '../../lib/auth.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { discoverRoutes, type RouteEntry } from '../../lib/runner/routes.js';
import { ADMIN_TOKEN, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES: RouteEntry[] = discoverRoutes(join(ROOT, 'api'));
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const CRON_SECRET = 'cron-secret-for-the-route-table-0123456789';
const HEARTBEAT = 'route-table-job';

type Access = 'public' | 'cron' | Role;
interface OtherRoute {
  access: Access;
  methods: string[];
  /** A concrete URL for the pattern, and the query Vercel adds for its dynamic segments. */
  url: string;
  query?: Record<string, string>;
}

/**
 * Every route outside the admin table, with who may call it. A new file under api/ must be added to
 * the registry (admin actions) or here, with its access, or this file fails.
 */
const OTHER_ROUTES: Record<string, OtherRoute> = {
  '/api/health': { access: 'public', methods: ['GET', 'HEAD'], url: '/api/health' },
  '/api/openapi.json': { access: 'public', methods: ['GET'], url: '/api/openapi.json' },
  '/api/cron/[job]': { access: 'cron', methods: ['GET'], url: '/api/cron/no-such-job', query: { job: 'no-such-job' } },
  '/api/diagnostics': { access: 'read', methods: ['GET'], url: '/api/diagnostics', query: { only: 'env' } },
  '/api/reports/latest': { access: 'read', methods: ['GET'], url: '/api/reports/latest', query: { checklist: 'daily' } },
  '/api/reports/[id]': { access: 'read', methods: ['GET'], url: '/api/reports/1', query: { id: '1' } },
  '/api/incidents': { access: 'read', methods: ['GET'], url: '/api/incidents' },
  '/api/incidents/[id]': { access: 'read', methods: ['GET'], url: '/api/incidents/1', query: { id: '1' } },
  '/api/incidents/[id]/postmortem': { access: 'read', methods: ['GET'], url: '/api/incidents/1/postmortem', query: { id: '1' } },
  '/api/heartbeats/[name]': { access: 'heartbeat', methods: ['GET', 'POST'], url: `/api/heartbeats/${HEARTBEAT}`, query: { name: HEARTBEAT } },
  '/api/heartbeats/[name]/[action]': { access: 'heartbeat', methods: ['GET', 'POST'], url: `/api/heartbeats/${HEARTBEAT}/start`, query: { name: HEARTBEAT, action: 'start' } },
};

const CONFIG = {
  app: { users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } } },
  heartbeats: [{ name: HEARTBEAT, periodSeconds: 3600 }],
  checks: { requiredEnv: ['PATH'] },
};

const freshIp = () => `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;
const uniqueName = (base: string) => `${base}-${randomBytes(4).toString('hex')}`.slice(0, 63);

type Handler = (request: Request) => Promise<Response>;
async function handlerOf(file: string, method: string): Promise<Handler> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const h = mod[method];
  if (typeof h !== 'function') throw new Error(`${file} does not export ${method}`);
  return h as Handler;
}
async function exportedMethods(file: string): Promise<string[]> {
  const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  return HTTP_METHODS.filter((m) => typeof mod[m] === 'function');
}

function request(url: string, opts: { method: string; token?: string | null; authorization?: string; query?: Record<string, string>; body?: unknown; ip?: string }): Request {
  const u = new URL(`http://localhost${url}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) u.searchParams.set(k, v);
  const headers: Record<string, string> = { 'x-forwarded-for': opts.ip ?? freshIp(), 'user-agent': 'opsbook-route-table' };
  if (opts.authorization !== undefined) headers.authorization = opts.authorization;
  else if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const hasBody = opts.body !== undefined && opts.method !== 'GET' && opts.method !== 'HEAD';
  if (hasBody) headers['content-type'] = 'application/json';
  return new Request(u, { method: opts.method, headers, body: hasBody ? JSON.stringify(opts.body) : undefined });
}

const routeOf = (def: ActionDefinition<any>) => ROUTES.find((r) => r.pattern === def.path);
/** Roles that must be refused by a route needing `needed`. */
const weakerThan = (needed: Role) => ROLES.filter((r) => !roleAllows(r, needed));

describe('the route table: files ↔ registry ↔ access table', () => {
  const adminFiles = ROUTES.filter((r) => r.pattern.startsWith('/api/admin/') || r.pattern === '/api/admin');

  it('there are admin actions and admin route files to check', () => {
    expect(ACTIONS.length).toBeGreaterThan(0);
    expect(adminFiles.length).toBeGreaterThan(0);
  });

  it('action ids are unique, and so is each path + method; every action path is under /api/admin/', () => {
    expect(new Set(ACTIONS.map((a) => a.id)).size).toBe(ACTIONS.length);
    expect(new Set(ACTIONS.map((a) => `${a.method} ${a.path}`)).size).toBe(ACTIONS.length);
    for (const a of ACTIONS) expect(a.path, a.id).toMatch(/^\/api\/admin\/[a-z0-9/_[\]-]+$/);
  });

  it.each(ACTIONS.map((a) => [a.id, a] as const))('registry action %s has its route file', (_id, def) => {
    expect(routeOf(def), `${def.path} has no file under api/`).toBeDefined();
  });

  it.each(adminFiles.map((r) => [r.pattern, r] as const))('admin file %s is a registry action and exports exactly its methods', async (pattern, route) => {
    const defs = ACTIONS.filter((a) => a.path === pattern);
    expect(defs.map((d) => d.id), `${pattern} is under api/admin/ but no action in lib/admin/registry.ts has this path`).not.toEqual([]);
    expect((await exportedMethods(route.file)).sort()).toEqual([...new Set(defs.map((d) => d.method))].sort());
  });

  it('every file under api/ is an admin action or listed, with its access, in this test\'s table', () => {
    const admin = new Set(ACTIONS.map((a) => a.path));
    const unlisted = ROUTES.map((r) => r.pattern).filter((p) => !admin.has(p) && !(p in OTHER_ROUTES));
    expect(unlisted, 'add these to lib/admin/registry.ts or to OTHER_ROUTES here, with their access').toEqual([]);
  });

  it.each(Object.keys(OTHER_ROUTES))('listed route %s exists and exports exactly the listed methods', async (pattern) => {
    const route = ROUTES.find((r) => r.pattern === pattern);
    expect(route, `${pattern} is listed but has no file`).toBeDefined();
    expect((await exportedMethods(route!.file)).sort()).toEqual([...OTHER_ROUTES[pattern]!.methods].sort());
  });
});

describe('authentication and roles on every route', () => {
  let h: DbHarness;
  let r: RedisHarness;
  const byRole = {} as Record<Role, string>;
  let revokedAdmin: string;

  /** A fresh stored token per positive call, so the per-token limit (60/min) never interferes. */
  const tokenOf = async (role: Role) => (await createToken(h.db, { name: uniqueName(`rt-${role}`), role, createdBy: 'route-table' })).token;

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('tcp')]);
    await ensureSchema(h.db);
    await h.database!.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false)`);
    await useAdminDeps(h.db, r.redis, CONFIG, { CRON_SECRET });
    for (const role of ROLES) byRole[role] = await tokenOf(role);
    revokedAdmin = await tokenOf('admin');
    await h.database!.admin.query(`UPDATE opsbook.tokens SET revoked_at = now() WHERE hash = $1`, [hashToken(revokedAdmin)]);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  /** Who is refused, and how, on a route needing a role. */
  const refusals = (needed: Role): Array<[string, () => { token?: string | null; authorization?: string; query?: Record<string, string> }, number]> => [
    ['no token', () => ({ token: null }), 401],
    ['an unknown stored-format token', () => ({ token: `ops_${randomBytes(32).toString('base64url')}` }), 401],
    ['a wrong bootstrap token', () => ({ token: ADMIN_TOKEN.replace(/.$/, 'X') }), 401],
    ['a token without the Bearer scheme', () => ({ authorization: byRole.admin }), 401],
    ['Basic credentials', () => ({ authorization: `Basic ${Buffer.from(`admin:${byRole.admin}`).toString('base64')}` }), 401],
    ['a revoked stored admin token', () => ({ token: revokedAdmin }), 401],
    ['a valid admin token in ?token= only', () => ({ token: null, query: { token: byRole.admin } }), 401],
    ['a valid admin token in ?access_token= only', () => ({ token: null, query: { access_token: byRole.admin } }), 401],
    ...weakerThan(needed).map((role): [string, () => { token: string }, number] => [`a ${role} token (weaker than ${needed})`, () => ({ token: byRole[role] }), 403]),
  ];

  describe.each(ACTIONS.map((a) => [`${a.method} ${a.path} (${a.id}, ${a.role})`, a] as const))('%s', (_name, def) => {
    const body = def.mutates ? { dryRun: true } : {};
    const call = async (auth: { token?: string | null; authorization?: string; query?: Record<string, string> }) =>
      (await handlerOf(routeOf(def)!.file, def.method))(request(def.path, { method: def.method, body: def.method === 'POST' ? body : undefined, ...auth }));

    it.each(refusals(def.role))('%s → %i in the error shape', async (_what, auth, status) => {
      const res = await call(auth());
      expect(res.status).toBe(status);
      const json = await res.json();
      expect(json).toMatchObject({ error: { code: status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN' } });
      expect(typeof json.requestId).toBe('string');
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Bearer');
    });

    it.each(ROLES.filter((role) => roleAllows(role, def.role)))('a %s token gets past authentication (a dry run at most)', async (role) => {
      const res = await call({ token: await tokenOf(role) });
      expect([401, 403, 429]).not.toContain(res.status);
    });
  });

  describe.each(Object.entries(OTHER_ROUTES).flatMap(([pattern, spec]) => spec.methods.map((m) => [`${m} ${pattern} (${spec.access})`, pattern, m, spec] as const)))(
    '%s',
    (_name, pattern, method, spec) => {
      const call = async (auth: { token?: string | null; authorization?: string; query?: Record<string, string> }) =>
        (await handlerOf(ROUTES.find((r) => r.pattern === pattern)!.file, method))(
          request(spec.url, { method, ...auth, query: { ...spec.query, ...auth.query } }),
        );

      if (spec.access === 'public') {
        it.each([['no token', null], ['a revoked token', 'revoked'], ['an unknown token', 'unknown']] as const)('%s → answered (public)', async (_what, kind) => {
          const token = kind === null ? null : kind === 'revoked' ? revokedAdmin : `ops_${randomBytes(32).toString('base64url')}`;
          const res = await call({ token });
          expect([200, 503]).toContain(res.status);
        });
        return;
      }

      if (spec.access === 'cron') {
        it.each<[string, () => { token?: string | null; authorization?: string; query?: Record<string, string> }]>([
          ['no token', () => ({ token: null })],
          ['the bootstrap admin token', () => ({ token: ADMIN_TOKEN })],
          ['a stored admin token', () => ({ token: byRole.admin })],
          ['the cron secret in ?token= only', () => ({ token: null, query: { token: CRON_SECRET } })],
          ['the cron secret without the Bearer scheme', () => ({ authorization: CRON_SECRET })],
        ])('%s → 401 (only CRON_SECRET opens cron routes)', async (_what, auth) => {
          const res = await call(auth());
          expect(res.status).toBe(401);
          expect((await res.json()).error.code).toBe('UNAUTHORIZED');
        });
        it('the cron secret gets past authentication (an unknown job → 404)', async () => {
          expect((await call({ token: CRON_SECRET })).status).toBe(404);
        });
        return;
      }

      const needed = spec.access;
      it.each(refusals(needed))('%s → %i in the error shape', async (_what, auth, status) => {
        const res = await call(auth());
        expect(res.status).toBe(status);
        if (method !== 'HEAD') expect((await res.json()).error.code).toBe(status === 401 ? 'UNAUTHORIZED' : 'FORBIDDEN');
      });
      it.each(ROLES.filter((role) => roleAllows(role, needed)))('a %s token gets past authentication', async (role) => {
        const res = await call({ token: await tokenOf(role) });
        expect([401, 403, 429]).not.toContain(res.status);
      });
    },
  );
});

describe('rate limits on admin routes', () => {
  let h: DbHarness;
  let r: RedisHarness;
  let up: RedisHarness;
  beforeAll(async () => {
    [h, r, up] = await Promise.all([openDb('pg'), openRedis('tcp'), openRedis('upstash', 1000)]);
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close(), up.close()]);
  });
  const first = ACTIONS[0]!;
  const callAs = async (def: ActionDefinition<any>, token: string | null, ip = freshIp()) =>
    (await handlerOf(routeOf(def)!.file, def.method))(request(def.path, { method: def.method, token, ip, body: def.method === 'POST' ? { dryRun: true } : undefined }));

  it.each(ACTIONS.map((a) => [a.id, a] as const))('%s: failed authentications from one address are limited: the 11th → 429 with retry-after; valid tokens from it still pass', async (_id, def) => {
    await useAdminDeps(h.db, r.redis, CONFIG);
    const ip = freshIp();
    for (let i = 0; i < 10; i++) expect((await callAs(def, `ops_${randomBytes(32).toString('base64url')}`, ip)).status).toBe(401);
    const limited = await callAs(def, null, ip);
    expect(limited.status).toBe(429);
    expect((await limited.json()).error.code).toBe('RATE_LIMITED');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Another address is not affected, and a valid token from this one is not locked out.
    expect((await callAs(def, `ops_${randomBytes(32).toString('base64url')}`)).status).toBe(401);
    const token = (await createToken(h.db, { name: uniqueName('rl'), role: 'admin', createdBy: 'route-table' })).token;
    expect([401, 403, 429]).not.toContain((await callAs(def, token, ip)).status);
  });

  it('Redis unreachable (TCP, nothing listening) → every admin route answers 503, with or without a valid token: fail closed', async () => {
    const dead = createTcpRedis(`redis://127.0.0.1:${await closedPort()}`, { callTimeoutMs: 1000 });
    try {
      await useAdminDeps(h.db, dead, CONFIG, { OPSBOOK_DEPENDENCY_TIMEOUT_MS: '1000' });
      const token = (await createToken(h.db, { name: uniqueName('dead-redis'), role: 'admin', createdBy: 'route-table' })).token;
      for (const def of ACTIONS) {
        for (const t of [token, null]) {
          const res = await callAs(def, t);
          expect(res.status, `${def.id} with${t ? '' : 'out'} a token`).toBe(503);
          expect((await res.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
        }
      }
    } finally {
      await dead.close();
    }
  });

  it('Upstash answering 500 → every admin route answers 503; once it recovers, requests pass again', async () => {
    await useAdminDeps(h.db, up.redis, CONFIG, { OPSBOOK_DEPENDENCY_TIMEOUT_MS: '1000' });
    const token = (await createToken(h.db, { name: uniqueName('upstash'), role: 'admin', createdBy: 'route-table' })).token;
    up.upstash!.setFault(500);
    try {
      for (const def of ACTIONS) {
        const res = await callAs(def, token);
        expect(res.status, def.id).toBe(503);
        expect((await res.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
      }
    } finally {
      up.upstash!.setFault(null);
    }
    expect([401, 403, 429, 503]).not.toContain((await callAs(first, token)).status);
  });
});
