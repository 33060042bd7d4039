import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET as pingGet, POST as ping } from '../../api/heartbeats/[name].js';
import { GET as actionGet, POST as pingAction } from '../../api/heartbeats/[name]/[action].js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { setDeps, type Deps } from '../../lib/deps.js';
import { PING_BODY_LIMIT } from '../../lib/heartbeats.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { depsFor, diagnose } from '../support/diagnostics.js';

const TOKEN = 'admin-token-for-heartbeat-tests-0123';
const CONFIG: OpsbookConfigInput = {
  heartbeats: [
    { name: 'db-backup', periodSeconds: 3600, graceSeconds: 600 },
    { name: 'export', periodSeconds: 3600 },
    { name: 'worker', cron: '*/5 * * * *', graceSeconds: 60 },
    { name: 'logs', periodSeconds: 3600 },
    { name: 'sync', periodSeconds: 3600, graceSeconds: 600 },
  ],
};
const auth = { authorization: `Bearer ${TOKEN}` };

/** A request the way Vercel hands it over: the dynamic segments are in the path and in the query. */
function request(path: string, init: RequestInit & { headers?: Record<string, string> } = {}): Request {
  const parts = path.split('/');
  const url = new URL(`http://localhost/api/heartbeats/${path}`);
  url.searchParams.set('name', parts[0]!);
  if (parts[1] !== undefined) url.searchParams.set('action', parts[1]);
  return new Request(url, { method: 'POST', ...init });
}

describe.each(DB_DRIVERS)('/api/heartbeats over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;

  beforeAll(async () => {
    h = await openDb(driver);
    await ensureSchema(h.db);
    deps = await depsFor(h.db, undefined, { OPSBOOK_ADMIN_TOKEN: TOKEN });
    setDeps(deps);
    setConfig(parseConfig(CONFIG));
  });
  afterAll(async () => {
    setDeps(undefined);
    setConfig(undefined);
    await h.close();
  });

  async function pings(name: string) {
    const { rows } = await h.db.query<{ kind: string; exit_code: number | null; body: string | null; source_ip: string | null; user_agent: string | null }>(
      'SELECT kind, exit_code, body, source_ip, user_agent FROM opsbook.heartbeat_pings WHERE name = $1 ORDER BY id',
      [name],
    );
    return rows;
  }

  it.each([
    ['no token', {}],
    ['a wrong token', { authorization: `Bearer ${TOKEN.replace(/.$/, 'X')}` }],
    ['the token without the Bearer scheme', { authorization: TOKEN }],
  ])('%s → 401 in the error shape, nothing stored', async (_name, headers) => {
    const res = await ping(request('export', { headers }));
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    const body = await res.json();
    expect(body).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    expect(typeof body.requestId).toBe('string');
    expect(await pings('export')).toEqual([]);
  });

  it('an unknown name with a valid token → 404 in the error shape; without a token → 401 (the name reveals nothing)', async () => {
    const res = await ping(request('no-such-job', { headers: auth }));
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: { code: 'NOT_FOUND', message: expect.stringContaining('no-such-job') } });
    expect((await pingAction(request('no-such-job/start', { headers: auth }))).status).toBe(404);
    expect((await ping(request('no-such-job'))).status).toBe(401);
  });

  it('POST /api/heartbeats/<name> marks success → 200 {ok, name, kind, receivedAt}; the ping is stored with its body, source and agent', async () => {
    const res = await ping(
      request('db-backup', { headers: { ...auth, 'user-agent': 'curl/8.5.0', 'x-forwarded-for': '203.0.113.7' }, body: 'dumped 1.2 GB in 41 s' }),
    );
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ ok: true, name: 'db-backup', kind: 'success', truncated: false, bodyBytes: 21 });
    expect(new Date(body.receivedAt).toISOString()).toBe(body.receivedAt);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(await pings('db-backup')).toEqual([
      { kind: 'success', exit_code: null, body: 'dumped 1.2 GB in 41 s', source_ip: '203.0.113.7', user_agent: 'curl/8.5.0' },
    ]);
  });

  it('GET pings too (curl from a cron with no -X), with no body', async () => {
    const res = await pingGet(request('logs', { method: 'GET', headers: auth }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, name: 'logs', kind: 'success', bodyBytes: 0 });
    const res2 = await actionGet(request('logs/start', { method: 'GET', headers: auth }));
    expect(await res2.json()).toMatchObject({ kind: 'start' });
    expect((await pings('logs')).map((p) => [p.kind, p.body])).toEqual([
      ['success', null],
      ['start', null],
    ]);
  });

  it('start, fail and exit-code pings are stored with their kind and code', async () => {
    for (const action of ['start', 'fail', '0', '3', '255']) {
      const res = await pingAction(request(`worker/${action}`, { headers: auth }));
      expect(res.status).toBe(200);
    }
    expect((await pings('worker')).map((p) => [p.kind, p.exit_code])).toEqual([
      ['start', null],
      ['fail', null],
      ['exit', 0],
      ['exit', 3],
      ['exit', 255],
    ]);
    const res = await pingAction(request('worker/7', { headers: auth }));
    expect(await res.json()).toMatchObject({ ok: true, name: 'worker', kind: 'exit', exitCode: 7 });
  });

  it.each([['256'], ['-1'], ['1000'], ['restart']])('action %s → 400 in the error shape, nothing stored', async (action) => {
    const before = (await pings('export')).length;
    const res = await pingAction(request(`export/${action}`, { headers: auth }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect(await pings('export')).toHaveLength(before);
  });

  it('a body over 10 KB is stored truncated to 10 KB, and the response says so', async () => {
    const log = 'x'.repeat(PING_BODY_LIMIT) + 'THE-END';
    const res = await pingAction(request('export/1', { headers: auth, body: log }));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, kind: 'exit', exitCode: 1, truncated: true, bodyBytes: PING_BODY_LIMIT, note: expect.stringMatching(/first 10240 bytes/) });
    const [stored] = await pings('export');
    expect(stored!.body).toHaveLength(PING_BODY_LIMIT);
    expect(stored!.body).not.toContain('THE-END');
  });

  it('after the pings, the check over Postgres reports up, late and down as time passes', async () => {
    const res = await ping(request('sync', { headers: auth }));
    const { receivedAt } = await res.json();
    const after = (minutes: number) => new Date(new Date(receivedAt).getTime() + minutes * 60_000);
    const state = async (minutes: number) => (await diagnose(deps, CONFIG, { only: ['heartbeat.sync'] }, after(minutes))).byId('heartbeat.sync');
    expect(await state(30)).toMatchObject({ status: 'ok', details: [{ state: 'up', lastSuccess: receivedAt }] });
    expect(await state(65)).toMatchObject({ status: 'warn', details: [{ state: 'late' }] });
    expect(await state(75)).toMatchObject({ status: 'fail', details: [{ state: 'down' }] });

    const failed = await (await pingAction(request('sync/fail', { headers: auth }))).json();
    const r = await diagnose(deps, CONFIG, { only: ['heartbeat'] }, new Date(new Date(failed.receivedAt).getTime() + 1000));
    expect(r.byId('heartbeat.sync')).toMatchObject({ status: 'fail', details: [{ state: 'down', lastFail: failed.receivedAt }] });
    expect(r.byId('heartbeat.db-backup')).toMatchObject({ details: [{ state: 'up' }] });
  });
});
