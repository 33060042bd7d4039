// Limits everywhere a secret is checked: the route table is walked, and every route that refuses an
// anonymous caller is shown to limit wrong tokens (10 per address per 5 minutes, then 429 with
// Retry-After in the error shape). Heartbeat pings are limited per name, with a valid token.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchema } from '../../lib/db/schema.js';
import { parseConfig } from '../../lib/config/index.js';
import { handlePing, PINGS_PER_MINUTE } from '../../lib/heartbeats.js';
import { discoverRoutes, type RouteEntry } from '../../lib/runner/routes.js';
import { createRunnerServer, listen, loadRoutes } from '../../lib/runner/server.js';
import { ADMIN_TOKEN, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES: RouteEntry[] = discoverRoutes(join(ROOT, 'api'));
const CRON_SECRET = 'cron-secret-for-auth-limits-0123456789abcdef';
const HEARTBEAT = 'auth-limits-job';
const CONFIG = {
  app: { users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } } },
  heartbeats: [
    { name: HEARTBEAT, periodSeconds: 3600 },
    { name: 'auth-limits-other', periodSeconds: 3600 },
  ],
  checks: { requiredEnv: ['PATH'] },
};
/** The default failed-authentication limit (admin.rateLimit.failedAuthPer5Minutes). */
const FAILED_AUTH_LIMIT = 10;

const freshIp = () => `2001:db8:a1:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}::1`;
const wrongToken = () => `ops_${randomBytes(32).toString('base64url')}`;

/** A concrete path for a route pattern, and the query Vercel adds for its dynamic segments. */
function concrete(route: RouteEntry): { path: string; query: Record<string, string> } {
  const values: Record<string, string> = { job: 'no-such-job', id: '1', name: HEARTBEAT, action: 'start' };
  const query: Record<string, string> = {};
  const parts = route.segments.map((s) => {
    if (s.kind === 'static') return s.value;
    query[s.name] = values[s.name] ?? 'x';
    return query[s.name]!;
  });
  return { path: `/${parts.join('/')}`, query };
}

type Handler = (request: Request) => Promise<Response>;
async function firstHandler(route: RouteEntry): Promise<{ method: string; handler: Handler }> {
  const mod = (await import(pathToFileURL(route.file).href)) as Record<string, unknown>;
  const method = ['GET', 'POST'].find((m) => typeof mod[m] === 'function');
  if (!method) throw new Error(`${route.pattern} exports neither GET nor POST`);
  return { method, handler: mod[method] as Handler };
}

function requestTo(route: RouteEntry, method: string, opts: { token?: string; ip: string }): Request {
  const { path, query } = concrete(route);
  const url = new URL(`http://localhost${path}`);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const headers: Record<string, string> = { 'x-forwarded-for': opts.ip, 'user-agent': 'opsbook-auth-limits' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const body = method === 'POST' ? JSON.stringify({ dryRun: true }) : undefined;
  if (body) headers['content-type'] = 'application/json';
  return new Request(url, { method, headers, body });
}

let h: DbHarness;
let r: RedisHarness;

beforeAll(async () => {
  [h, r] = await Promise.all([openDb('pg'), openRedis('tcp')]);
  await ensureSchema(h.db);
  await h.database!.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false)`);
});
afterAll(async () => {
  resetAdminDeps();
  await Promise.allSettled([h.close(), r.close()]);
});

describe('failed authentications are limited on every authenticated route (the route table, as Vercel calls the handlers)', () => {
  beforeAll(async () => {
    await useAdminDeps(h.db, r.redis, CONFIG, { CRON_SECRET });
  });

  it('the walk covers diagnostics, reports, incidents, heartbeats, admin and cron routes; only health and the OpenAPI document are public', async () => {
    const open: string[] = [];
    for (const route of ROUTES) {
      const { method, handler } = await firstHandler(route);
      const res = await handler(requestTo(route, method, { ip: freshIp() }));
      if (res.status !== 401) open.push(route.pattern);
    }
    expect(open.sort()).toEqual(['/api/health', '/api/openapi.json']);
    const guarded = ROUTES.map((x) => x.pattern).filter((p) => !open.includes(p));
    for (const family of ['/api/diagnostics', '/api/reports/', '/api/incidents', '/api/heartbeats/', '/api/admin/', '/api/cron/']) {
      expect(guarded.some((p) => p.startsWith(family)), family).toBe(true);
    }
  });

  const guardedRoutes = ROUTES.filter((x) => !['/api/health', '/api/openapi.json'].includes(x.pattern));
  it.each(guardedRoutes.map((x) => [x.pattern, x] as const))(
    '%s: wrong tokens from one address → 401 ×10, then 429 RATE_LIMITED with Retry-After in the error shape; a valid token from there still passes',
    async (pattern, route) => {
      const { method, handler } = await firstHandler(route);
      const ip = freshIp();
      for (let i = 0; i < FAILED_AUTH_LIMIT; i++) expect((await handler(requestTo(route, method, { ip, token: wrongToken() }))).status).toBe(401);
      const limited = await handler(requestTo(route, method, { ip, token: wrongToken() }));
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = await limited.json();
      expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
      expect(body.error).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('failed authentications') });
      // No token at all counts the same (still limited), and the real secret is never locked out.
      expect((await handler(requestTo(route, method, { ip }))).status).toBe(429);
      const valid = pattern.startsWith('/api/cron/') ? CRON_SECRET : ADMIN_TOKEN;
      expect([401, 403, 429]).not.toContain((await handler(requestTo(route, method, { ip, token: valid }))).status);
    },
  );
});

describe('through the local runner (lib/runner/server.ts)', () => {
  let server: Server;
  let base: string;
  let mem: RedisHarness;
  beforeAll(async () => {
    // The runner's own Redis: every request here comes from 127.0.0.1, which other files must not share.
    mem = await openRedis('memory');
    await useAdminDeps(h.db, mem.redis, CONFIG, { CRON_SECRET });
    server = createRunnerServer(await loadRoutes(ROUTES));
    base = `http://127.0.0.1:${await listen(server, 0)}`;
  });
  afterAll(async () => {
    await new Promise((done) => server.close(done));
    await mem.close();
  });

  it('30 wrong tokens on /api/diagnostics → 10 × 401, then 429 with Retry-After (was 30 × 401)', async () => {
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 30; i++) {
      last = await fetch(`${base}/api/diagnostics?only=env`, { headers: { authorization: `Bearer ${wrongToken()}` } });
      statuses.push(last.status);
      if (i < 29) await last.arrayBuffer();
    }
    expect(statuses.slice(0, FAILED_AUTH_LIMIT)).toEqual(Array(FAILED_AUTH_LIMIT).fill(401));
    expect(statuses.slice(FAILED_AUTH_LIMIT)).toEqual(Array(30 - FAILED_AUTH_LIMIT).fill(429));
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await last!.json()).error.code).toBe('RATE_LIMITED');
  });
});

describe('heartbeat pings are limited per name (60 a minute), with a valid token', () => {
  it(`${PINGS_PER_MINUTE} pings of one name in a minute → accepted; the next → 429 with Retry-After until the minute ends; another name is not affected`, async () => {
    const deps = await useAdminDeps(h.db, r.redis, CONFIG);
    const config = parseConfig(CONFIG);
    // A minute of its own on the injected clock, so reruns and other files never share the window.
    const minute = (Math.floor(Date.now() / 60_000) + 1_000_000 + Math.floor(Math.random() * 1_000_000)) * 60_000;
    const at = (s: number) => new Date(minute + s * 1000);
    const ping = (name: string, now: Date) =>
      handlePing(new Request(`http://localhost/api/heartbeats/${name}`, { method: 'POST', headers: { 'x-forwarded-for': freshIp() } }), deps, config, now);
    for (let i = 0; i < PINGS_PER_MINUTE; i++) await expect(ping(HEARTBEAT, at(i % 50))).resolves.toMatchObject({ ok: true });
    const refused = await ping(HEARTBEAT, at(50)).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(refused).toMatchObject({ code: 'RATE_LIMITED', status: 429, headers: { 'retry-after': '10' } });
    await expect(ping('auth-limits-other', at(50))).resolves.toMatchObject({ ok: true });
    // The next minute accepts pings again.
    await expect(ping(HEARTBEAT, at(60))).resolves.toMatchObject({ ok: true });
  });

  it('through the heartbeat route with a valid token: a flood of one name → 429 in the error shape, with Retry-After', async () => {
    await useAdminDeps(h.db, r.redis, { ...CONFIG, heartbeats: [{ name: `flood-${randomBytes(4).toString('hex')}`, periodSeconds: 3600 }] });
    const name = (await import('../../lib/config/index.js').then((m) => m.getConfig())).heartbeats[0]!.name;
    const route = ROUTES.find((x) => x.pattern === '/api/heartbeats/[name]')!;
    const { handler } = await firstHandler(route);
    const statuses: number[] = [];
    let limited: Response | undefined;
    // The window is the wall-clock minute here: at most one boundary can fall inside 2 × 60 + 1 pings.
    for (let i = 0; i < 2 * PINGS_PER_MINUTE + 1 && !limited; i++) {
      const url = new URL(`http://localhost/api/heartbeats/${name}`);
      url.searchParams.set('name', name);
      const res = await handler(new Request(url, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-forwarded-for': freshIp() } }));
      statuses.push(res.status);
      if (res.status === 429) limited = res;
      else await res.arrayBuffer();
    }
    expect(limited, `statuses: ${statuses.join(',')}`).toBeDefined();
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(PINGS_PER_MINUTE);
    expect(statuses.filter((s) => s !== 200 && s !== 429)).toEqual([]);
    expect(Number(limited!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await limited!.json()).toMatchObject({ error: { code: 'RATE_LIMITED' }, requestId: expect.any(String) });
  });
});
