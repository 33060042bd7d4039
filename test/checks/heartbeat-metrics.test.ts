import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as ping } from '../../api/heartbeats/[name].js';
import type { OpsbookConfigInput } from '../../lib/config/index.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { diagnose } from '../support/diagnostics.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import type { Deps } from '../../lib/deps.js';

const CONFIG: OpsbookConfigInput = {
  checks: { postgres: { enabled: false }, redis: { enabled: false }, queues: { enabled: false } },
  heartbeats: [
    {
      name: 'web-1',
      title: 'Host web-1',
      periodSeconds: 300,
      graceSeconds: 300,
      metrics: {
        disk_used_pct: { warn: 80, fail: 90, unit: '%' },
        load1: {},
        backup_bytes: { fail: 1_000_000, direction: 'below', unit: 'bytes' },
      },
    },
  ],
};

describe.each(['pg', 'neon'] as const)('metrics pushed with heartbeat pings, over %s', (driver) => {
  let h: DbHarness;
  let r: RedisHarness;
  let deps: Deps;
  beforeAll(async () => {
    [h, r] = await Promise.all([openDb(driver), openRedis('memory')]);
    deps = await useAdminDeps(h.db, r.redis, CONFIG);
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const send = (body?: unknown, query: Record<string, string> = {}) => ping(adminRequest('/api/heartbeats/web-1', { body, query }));
  const pings = async () => (await h.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.heartbeat_pings WHERE name = 'web-1'`)).rows[0]!.n;
  const metric = async (name: string, now = new Date()) => (await diagnose(deps, CONFIG, { only: [`heartbeat.web-1.${name}`] }, now)).byId(`heartbeat.web-1.${name}`);

  it('before any ping carries it, a declared metric warns "never reported", with the curl line to send it', async () => {
    const m = await metric('disk_used_pct');
    expect(m).toMatchObject({ status: 'warn', summary: 'disk_used_pct: never reported by web-1' });
    expect(m.hint?.text).toContain(`-d '{"metrics":{"disk_used_pct":<number>}}'`);
  });

  it.each([
    [71, 'ok'],
    [85, 'warn'],
    [95, 'fail'],
  ])('disk_used_pct %d in a JSON body → %s, graded by its warn/fail levels', async (value, status) => {
    const res = await send({ metrics: { disk_used_pct: value } });
    expect(res.status).toBe(200);
    expect((await res.json()).metrics).toEqual({ disk_used_pct: value });
    const m = await metric('disk_used_pct');
    expect(m.status).toBe(status);
    expect(m.summary).toMatch(new RegExp(`^disk_used_pct ${value} % \\(warn above 80, fail above 90\\), reported \\d+ s ago$`));
    expect(m.value).toBe(value);
  });

  it('query parameters carry metrics too, and a metric left out of a later ping keeps its last value', async () => {
    expect((await send(undefined, { load1: '0.42', backup_bytes: '500000' })).status).toBe(200);
    expect(await metric('load1')).toMatchObject({ status: 'ok', value: 0.42 });
    // direction "below": fewer bytes than the floor is the failure (an empty backup).
    expect(await metric('backup_bytes')).toMatchObject({ status: 'fail', value: 500000 });
    await send({ metrics: { backup_bytes: 123456789 } });
    expect(await metric('backup_bytes')).toMatchObject({ status: 'ok' });
    expect(await metric('load1')).toMatchObject({ value: 0.42 });
  });

  it('a value older than the period plus grace is stale → warn, whatever its level', async () => {
    await send({ metrics: { disk_used_pct: 10 } });
    const m = await metric('disk_used_pct', new Date(Date.now() + 3600_000));
    expect(m.status).toBe('warn');
    expect(m.summary).toMatch(/: stale, nothing newer within the heartbeat's period and grace \(10 min 0 s\)$/);
  });

  it.each([
    ['an undeclared metric in the body', { metrics: { disk_usd_pct: 71 } }, {}, /Unknown metric "disk_usd_pct" in the body: heartbeat web-1 declares disk_used_pct, load1, backup_bytes/],
    ['an undeclared query parameter', undefined, { disk: '71' }, /Unknown metric "disk" in the query/],
    ['a value that is not a number', { metrics: { load1: 'high' } }, {}, /Metric load1 must be a finite number/],
    ['metrics that are not an object', { metrics: [1, 2] }, {}, /"metrics" must be an object/],
  ])('%s → 400 naming the problem, and nothing stored', async (_name, body, query, message) => {
    const before = await pings();
    const res = await send(body, query as Record<string, string>);
    expect(res.status).toBe(400);
    expect((await res.json()).error.message).toMatch(message);
    expect(await pings()).toBe(before);
  });

  it("a job's own output that merely starts with { is kept as the body, with no metrics", async () => {
    const res = await ping(adminRequest('/api/heartbeats/web-1', { body: '{not json: the backup log' }));
    expect(res.status).toBe(200);
    expect((await res.json()).metrics).toBeUndefined();
  });
});

describe('examples/host-agent.sh pushes this host’s figures through the real route', () => {
  const HOST: OpsbookConfigInput = {
    checks: { postgres: { enabled: false }, redis: { enabled: false }, queues: { enabled: false } },
    heartbeats: [
      {
        name: 'this-host',
        periodSeconds: 300,
        metrics: {
          disk_used_pct: { warn: 101, unit: '%' },
          mem_used_pct: { warn: 101, unit: '%' },
          load1: {},
          open_fds: {},
          pm2_not_online: { fail: 1 },
          docker_not_running: {},
        },
      },
    ],
  };
  let h: DbHarness;
  let r: RedisHarness;
  let deps: Deps;
  let server: import('node:http').Server;
  let url = '';

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('memory')]);
    deps = await useAdminDeps(h.db, r.redis, HOST);
    const { createServer } = await import('node:http');
    // A bare bridge from HTTP to the route handler: the agent's curl talks to the real ping route.
    server = createServer(async (req, res) => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
      const answer = await ping(new Request(`http://127.0.0.1${req.url}`, { method: req.method, headers, body: chunks.length ? Buffer.concat(chunks) : undefined }));
      res.writeHead(answer.status, { 'content-type': answer.headers.get('content-type') ?? 'application/json' });
      res.end(await answer.text());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    resetAdminDeps();
    await new Promise((resolve) => server?.close(resolve));
    await Promise.allSettled([h.close(), r.close()]);
  });

  const agent = async (env: Record<string, string>) => {
    const { execFile } = await import('node:child_process');
    return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('sh', ['examples/host-agent.sh'], { env: { PATH: process.env.PATH ?? '', OPSBOOK_URL: url, OPSBOOK_HEARTBEAT: 'this-host', OPSBOOK_TOKEN: 'admin-bootstrap-token-for-tests-0123456789', ...env } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  };

  it('a dry run prints the JSON it would send: disk, memory, load and file descriptors on Linux', async () => {
    const out = await agent({ OPSBOOK_DRY_RUN: '1' });
    expect(out.code, out.stderr).toBe(0);
    const body = JSON.parse(out.stdout);
    for (const k of ['disk_used_pct', 'mem_used_pct', 'load1', 'open_fds']) expect(typeof body.metrics[k], k).toBe('number');
  });

  it('a real run is accepted and each metric becomes a graded check', async () => {
    const out = await agent({});
    expect(out.code, out.stderr).toBe(0);
    const receipt = JSON.parse(out.stdout);
    expect(receipt.metrics.disk_used_pct).toBeGreaterThanOrEqual(0);
    const report = await diagnose(deps, HOST, { only: ['heartbeat.this-host'] });
    expect(report.byId('heartbeat.this-host.disk_used_pct')).toMatchObject({ status: 'ok', unit: '%' });
    expect(report.byId('heartbeat.this-host.open_fds').status).toBe('ok');
    expect(report.byId('heartbeat.this-host').status).toBe('ok');
  });

  it('OPSBOOK_METRICS naming an undeclared metric is refused: curl -f exits non-zero with the 400', async () => {
    resetAdminDeps();
    await useAdminDeps(h.db, r.redis, { ...HOST, heartbeats: [{ name: 'this-host', periodSeconds: 300, metrics: { disk_used_pct: {} } }] });
    const out = await agent({ OPSBOOK_METRICS: 'disk_used_pct load1' });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toMatch(/400/);
  });
});
