// What a client puts in the path and the headers: malformed percent-encoding is a 400 in the error shape
// on every route (local runner and handlers, as Vercel calls them), never a 500 or a 404; a client's
// x-request-id never becomes Opsbook's request id.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as flagsSet } from '../../api/admin/flags.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { discoverRoutes, type RouteEntry } from '../../lib/runner/routes.js';
import { createRunnerServer, listen, loadRoutes } from '../../lib/runner/server.js';
import { ADMIN_TOKEN, adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES: RouteEntry[] = discoverRoutes(join(ROOT, 'api'));
const CONFIG = { heartbeats: [{ name: 'paths-job', periodSeconds: 3600 }], checks: { requiredEnv: ['PATH'] } };
const BAD = ['%E0%A4%A', '%ZZ', '%', '%C0%AF', 'ok%FF'];

/**
 * Each route's paths with one segment malformed: every dynamic segment in turn, and for a route
 * without one its last segment with a bad escape appended. With the query Vercel would add.
 */
function malformed(route: RouteEntry, bad: string): Array<{ path: string; query: Record<string, string> }> {
  const out: Array<{ path: string; query: Record<string, string> }> = [];
  const fill = (i: number) =>
    route.segments.map((s, j) => (j === i ? (s.kind === 'static' ? `${s.value}${bad}` : bad) : s.kind === 'static' ? s.value : s.name === 'action' ? 'start' : 'paths-job'));
  const targets = route.segments.map((s, i) => (s.kind === 'param' ? i : -1)).filter((i) => i >= 0);
  for (const i of targets.length ? targets : [route.segments.length - 1]) {
    const parts = fill(i);
    const query: Record<string, string> = {};
    route.segments.forEach((s, j) => {
      if (s.kind === 'param') query[s.name] = parts[j]!;
    });
    out.push({ path: `/${parts.join('/')}`, query });
  }
  return out;
}

async function methodsOf(route: RouteEntry): Promise<Array<[string, (r: Request) => Promise<Response>]>> {
  const mod = (await import(pathToFileURL(route.file).href)) as Record<string, unknown>;
  return ['GET', 'POST', 'HEAD'].filter((m) => typeof mod[m] === 'function').map((m) => [m, mod[m] as (r: Request) => Promise<Response>]);
}

let h: DbHarness;
let mem: RedisHarness;
let server: Server;
let base: string;

beforeAll(async () => {
  [h, mem] = await Promise.all([openDb('pg'), openRedis('memory')]);
  await ensureSchema(h.db);
  await useAdminDeps(h.db, mem.redis, CONFIG, { CRON_SECRET: 'cron-secret-for-paths-0123456789abcdef' });
  server = createRunnerServer(await loadRoutes(ROUTES));
  base = `http://127.0.0.1:${await listen(server, 0)}`;
});
afterAll(async () => {
  resetAdminDeps();
  await new Promise((done) => server.close(done));
  await Promise.allSettled([h.close(), mem.close()]);
});

const cases = ROUTES.flatMap((route) => BAD.flatMap((bad) => malformed(route, bad).map((m) => [`${route.pattern} as ${m.path}`, route, m] as const)));

describe('malformed percent-encoding in any path → 400 in the error shape', () => {
  it('the walk covers every route, dynamic segments included', () => {
    expect(new Set(cases.map(([, route]) => route.pattern)).size).toBe(ROUTES.length);
    expect(cases.some(([name]) => name.includes('/api/heartbeats/%E0%A4%A'))).toBe(true);
    expect(cases.some(([name]) => name.includes('/api/reports/%ZZ'))).toBe(true);
  });

  it.each(cases)('local runner: %s → 400 BAD_REQUEST (with and without a token)', async (_name, _route, { path }) => {
    for (const headers of [{}, { authorization: `Bearer ${ADMIN_TOKEN}` }] as Array<Record<string, string>>) {
      const res = await fetch(`${base}${path}`, { headers });
      expect(res.status).toBe(400);
      const body = await res.json();
      expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
      expect(body.error).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('percent-encoding') });
    }
  });

  it.each(cases)('handler as Vercel calls it: %s → 400 BAD_REQUEST for every method it exports', async (_name, route, { path, query }) => {
    const url = new URL(`http://localhost${path}`);
    for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
    for (const [method, handler] of await methodsOf(route)) {
      const res = await handler(new Request(url, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'x-forwarded-for': '198.51.100.77' } }));
      expect(res.status, method).toBe(400);
      if (method !== 'HEAD') expect((await res.json()).error.code).toBe('BAD_REQUEST');
    }
  });
});

describe("a client's x-request-id is kept beside Opsbook's request id, never instead of it", () => {
  const audit = async (id: number) =>
    (await h.database!.admin.query(`SELECT request_id, client_request_id FROM opsbook.audit_log WHERE id = $1`, [id])).rows[0] as { request_id: string; client_request_id: string | null };
  const setFlag = (clientId: string) =>
    flagsSet(adminRequest('/api/admin/flags', { body: { name: `PATHS_${randomBytes(3).toString('hex').toUpperCase()}`, enabled: true }, headers: { 'x-request-id': clientId } }));

  it.each([
    ['a short, safe id → kept as client_request_id', 'ticket-4711:retry.2', 'ticket-4711:retry.2'],
    ['65 characters → ignored', 'a'.repeat(65), null],
    ['spaces and quotes → ignored', 'abc "def"', null],
    ['a slash → ignored', '../../etc', null],
  ] as const)('%s; the answer and the audit row carry Opsbook\'s own id', async (_name, clientId, kept) => {
    const res = await setFlag(clientId);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.requestId).not.toBe(clientId);
    expect(body.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
    expect(await audit(body.auditId)).toEqual({ request_id: body.requestId, client_request_id: kept });
  });

  it("a client id that copies another request's id does not make the two audit rows share a request id", async () => {
    const first = await (await setFlag('shared-id')).json();
    const second = await (await flagsSet(adminRequest('/api/admin/flags', { body: { name: `PATHS_COPY_${randomBytes(3).toString('hex').toUpperCase()}`, enabled: true }, headers: { 'x-request-id': first.requestId } }))).json();
    expect(second.requestId).not.toBe(first.requestId);
    expect((await audit(second.auditId)).request_id).toBe(second.requestId);
  });

  it('the local runner answers with its own id too', async () => {
    const res = await fetch(`${base}/api/diagnostics`, { headers: { 'x-request-id': 'from-the-client' } });
    const body = await res.json();
    expect(body.requestId).not.toBe('from-the-client');
    expect(res.headers.get('x-request-id')).toBe(body.requestId);
  });
});
