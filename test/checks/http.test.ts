import { createServer as createTlsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { family } from '../../lib/checks/http.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { closedPort, startBlackHole, type BlackHole } from '../support/faults.js';
import { createCertFactory } from '../support/net/certs.js';
import { json, later, startHttp, type TestHttpServer } from '../support/net/http.js';

type HttpInput = NonNullable<NonNullable<OpsbookConfigInput['checks']>['http']>[number];

const HEALTH = {
  status: 'ok',
  version: '1.2.3',
  services: { database: 'up', redis: 'up' },
  data: { items: [{ state: 'running' }, { state: 'stopped' }] },
  queue: { depth: 120 },
  tags: ['eu', 'primary'],
  maintenance: false,
  'dotted.key': 'yes',
};

describe('http checks', () => {
  let harness: DbHarness;
  let deps: Deps;
  const servers: Array<{ close(): Promise<void> }> = [];
  const serve = async (...args: Parameters<typeof startHttp>) => {
    const s = await startHttp(...args);
    servers.push(s);
    return s;
  };
  const run = async (check: Omit<HttpInput, 'id'> & { id?: string }, opts: { checkTimeoutMs?: number } = {}) => {
    const report = await diagnose(deps, { checks: { http: [{ id: 'site', ...check }] } }, { only: ['http.site'], ...opts });
    return report.byId('http.site');
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
  });
  afterEach(async () => {
    await Promise.allSettled(servers.splice(0).map((s) => s.close()));
  });
  afterAll(async () => {
    await harness.close();
  });

  it('one check per configured endpoint, id http.<id>, needing the network, with its severity', () => {
    const checks = family.checks(
      parseConfig({ checks: { http: [{ id: 'site', url: 'https://example.com' }, { id: 'api', url: 'https://example.com/api', severity: 'P1', title: 'API' }] } }),
    );
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs, c.title])).toEqual([
      ['http.site', 'http', 'P2', ['network'], 'GET https://example.com/'],
      ['http.api', 'http', 'P1', ['network'], 'API'],
    ]);
    expect(family.checks(parseConfig({}))).toEqual([]);
  });

  it('no connection stays open after an answer, whether or not the body was needed', async () => {
    const s = await serve((_req, res) => json(res, { status: 'ok', pad: 'x'.repeat(200_000) }));
    await run({ url: s.url });
    await run({ url: s.url, conditions: [{ path: 'status', value: 'ok' }] });
    await expect.poll(() => s.openConnections, { timeout: 2000 }).toBe(0);
    expect(s.requests).toBe(2);
  });

  it('a fast expected answer → ok "200 in N ms" with the latency as value', async () => {
    const s = await serve((_req, res) => json(res, HEALTH));
    const r = await run({ url: `${s.url}/health` });
    expect(r).toMatchObject({ status: 'ok', unit: 'ms', family: 'http', severity: 'P2' });
    expect(r.summary).toMatch(/^200 in \d+ ms$/);
    expect(typeof r.value).toBe('number');
    expect(r.details?.[0]).toMatchObject({ status: 200, method: 'GET', attempts: 1 });
  });

  it.each([
    { answer: 503, expectStatus: undefined, status: 'fail', summary: 'expected 200, got 503' },
    { answer: 404, expectStatus: [200, 204], status: 'fail', summary: 'expected 200 or 204, got 404' },
    { answer: 204, expectStatus: [200, 204], status: 'ok', summary: /^204 in \d+ ms$/ },
    { answer: 401, expectStatus: [401], status: 'ok', summary: /^401 in/ },
  ])('answer $answer with expectStatus $expectStatus → $status', async ({ answer, expectStatus, status, summary }) => {
    const s = await serve((_req, res) => {
      res.statusCode = answer;
      res.end();
    });
    const r = await run({ url: s.url, ...(expectStatus ? { expectStatus } : {}) });
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
  });

  it('an expected redirect is checked, not followed', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/old') res.writeHead(301, { location: '/new' }).end();
      else res.writeHead(500).end();
    });
    const r = await run({ url: `${s.url}/old`, expectStatus: [301] });
    expect(r.status).toBe('ok');
    expect(s.requests).toBe(1);
  });

  it('an unexpected redirect is followed to its target', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/old') res.writeHead(302, { location: '/new' }).end();
      else json(res, HEALTH);
    });
    const r = await run({ url: `${s.url}/old`, conditions: [{ path: 'status', value: 'ok' }] });
    expect(r.status).toBe('ok');
    expect(s.requests).toBe(2);
  });

  it.each([
    { case: 'slower than degradedMs → warn', degradedMs: 50, failMs: 5000, status: 'warn', summary: /^200 in \d+ ms, slower than 50 ms$/ },
    { case: 'slower than failMs → fail', degradedMs: 50, failMs: 100, status: 'fail', summary: /^200 in \d+ ms, over the 100 ms limit$/ },
  ])('a 400 ms answer $case', async ({ degradedMs, failMs, status, summary }) => {
    const s = await serve((_req, res) => later(400, () => json(res, HEALTH)));
    const r = await run({ url: s.url, degradedMs, failMs });
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
  });

  describe('JSON conditions on the body', () => {
    let s: TestHttpServer;
    beforeAll(async () => {
      s = await startHttp((_req, res) => json(res, HEALTH));
    });
    afterAll(async () => {
      await s.close();
    });

    it.each([
      { path: 'status', op: 'eq', value: 'ok' },
      { path: '$.status', op: 'eq', value: 'ok' },
      { path: '[BODY].status', op: 'eq', value: 'ok' },
      { path: 'services.database', op: 'eq', value: 'up' },
      { path: 'data.items[0].state', op: 'eq', value: 'running' },
      { path: 'data.items[-1].state', op: 'eq', value: 'stopped' },
      { path: 'data.items.0.state', op: 'eq', value: 'running' },
      { path: 'data.items.-1.state', op: 'eq', value: 'stopped' },
      { path: 'data.items.length', op: 'eq', value: 2 },
      { path: '["dotted.key"]', op: 'eq', value: 'yes' },
      { path: 'status', op: 'neq', value: 'down' },
      { path: 'queue.depth', op: 'lt', value: 500 },
      { path: 'queue.depth', op: 'lte', value: 120 },
      { path: 'queue.depth', op: 'gt', value: '100' },
      { path: 'queue.depth', op: 'gte', value: 120 },
      { path: 'queue.depth', op: 'eq', value: '120' },
      { path: 'tags', op: 'contains', value: 'eu' },
      { path: 'version', op: 'contains', value: '1.2' },
      { path: 'services', op: 'contains', value: 'redis' },
      { path: 'services.database', op: 'exists' },
      { path: 'services.search', op: 'exists', value: false },
      { path: 'maintenance', op: 'eq', value: false },
    ] as const)('$path $op $value holds → ok', async (condition) => {
      const r = await run({ url: s.url, conditions: [condition] });
      expect(r.summary).toMatch(/^200 in \d+ ms$/);
      expect(r.status).toBe('ok');
    });

    it.each([
      { condition: { path: 'status', op: 'eq', value: 'degraded' }, summary: "body status = 'ok', expected 'degraded'" },
      { condition: { path: 'status', op: 'neq', value: 'ok' }, summary: "body status = 'ok', expected anything but 'ok'" },
      { condition: { path: 'queue.depth', op: 'lt', value: 100 }, summary: 'body queue.depth = 120, expected < 100' },
      { condition: { path: 'queue.depth', op: 'gte', value: 121 }, summary: 'body queue.depth = 120, expected >= 121' },
      { condition: { path: 'status', op: 'gt', value: 1 }, summary: "body status = 'ok', expected a number > 1" },
      { condition: { path: 'tags', op: 'contains', value: 'us' }, summary: `body tags = ["eu","primary"], expected to contain 'us'` },
      { condition: { path: 'services.search', op: 'exists' }, summary: 'body services.search is missing, expected to exist' },
      { condition: { path: 'maintenance', op: 'exists', value: false }, summary: 'body maintenance = false, expected to be absent' },
      { condition: { path: 'data.items[5].state', op: 'eq', value: 'running' }, summary: "body data.items[5].state is missing, expected 'running'" },
    ] as const)('$condition.path $condition.op $condition.value fails → fail "$summary"', async ({ condition, summary }) => {
      const r = await run({ url: s.url, conditions: [condition] });
      expect(r.status).toBe('fail');
      expect(r.summary).toBe(summary);
    });

    it('every failed condition is in details with its actual value; the summary names the first and counts the rest', async () => {
      const r = await run({
        url: s.url,
        conditions: [
          { path: 'status', value: 'ok' },
          { path: 'services.database', value: 'down' },
          { path: 'queue.depth', op: 'lt', value: 10 },
        ],
      });
      expect(r.status).toBe('fail');
      expect(r.summary).toBe("body services.database = 'up', expected 'down' (+1 more)");
      expect(r.details?.[0]?.failedConditions).toEqual([
        { path: 'services.database', op: 'eq', expected: "'down'", actual: "'up'" },
        { path: 'queue.depth', op: 'lt', expected: '< 10', actual: '120' },
      ]);
    });

    it('an invalid condition path is an error before any request is sent', async () => {
      const before = s.requests;
      const r = await run({ url: s.url, conditions: [{ path: 'data..items', value: 1 }, { path: 'status', op: 'gt', value: 'high' }] });
      expect(r.status).toBe('error');
      expect(r.summary).toContain('invalid condition');
      expect(r.summary).toContain('data..items');
      expect(r.summary).toContain('needs a number');
      expect(s.requests).toBe(before);
    });
  });

  it('a failed condition shows a long actual value truncated, and no response header', async () => {
    const s = await serve((_req, res) => {
      res.setHeader('x-internal-token', 'HEADER-NEVER-SHOWN');
      json(res, { status: `degraded: ${'x'.repeat(500)}` });
    });
    const r = await run({ url: s.url, conditions: [{ path: 'status', value: 'ok' }] });
    expect(r.status).toBe('fail');
    const actual = (r.details?.[0]?.failedConditions as Array<{ actual: string }>)[0]!.actual;
    expect(actual.length).toBeLessThanOrEqual(120);
    expect(actual.startsWith("'degraded: xxx")).toBe(true);
    expect(actual.endsWith('…')).toBe(true);
    expect(r.summary.length).toBeLessThan(150);
    expect(JSON.stringify(r)).not.toContain('HEADER-NEVER-SHOWN');
  });

  it.each([
    { case: 'an HTML body', type: 'text/html', body: '<h1>Bad gateway</h1>', status: 'fail', summary: 'body is not JSON (text/html), conditions not checked' },
    { case: 'a body over 1 MB', type: 'application/json', body: `{"pad":"${'x'.repeat(1_200_000)}"}`, status: 'error', summary: 'body is larger than 1 MB, conditions not checked' },
  ])('conditions on $case → $status', async ({ type, body, status, summary }) => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    });
    const r = await run({ url: s.url, conditions: [{ path: 'status', value: 'ok' }] });
    expect(r.status).toBe(status);
    expect(r.summary).toBe(summary);
  });

  it('a failing status wins the summary, and the body conditions still explain it in details', async () => {
    const s = await serve((_req, res) => json(res, { status: 'degraded', services: { database: 'down' } }, 503));
    const r = await run({ url: s.url, conditions: [{ path: 'services.database', value: 'up' }] });
    expect(r.status).toBe('fail');
    expect(r.summary).toBe('expected 200, got 503');
    expect(r.details?.[0]?.failedConditions).toEqual([{ path: 'services.database', op: 'eq', expected: "'up'", actual: "'down'" }]);
  });

  it('POST sends the body, as JSON when it is JSON', async () => {
    const s = await serve((req, res) => json(res, { method: req.method, type: req.headers['content-type'], got: JSON.parse(req.body) }));
    const r = await run({
      url: s.url,
      method: 'POST',
      body: JSON.stringify({ ping: 1 }),
      conditions: [
        { path: 'method', value: 'POST' },
        { path: 'type', value: 'application/json' },
        { path: 'got.ping', value: 1 },
      ],
    });
    expect(r.status).toBe('ok');
  });

  it('HEAD with conditions is a config error (no body to check)', async () => {
    const s = await serve((_req, res) => res.end());
    const r = await run({ url: s.url, method: 'HEAD', conditions: [{ path: 'status', value: 'ok' }] });
    expect(r.status).toBe('error');
    expect(s.requests).toBe(0);
  });

  describe('retries', () => {
    it('a connection reset is retried after a backoff, and the second answer counts', async () => {
      const s = await serve((req, res) => {
        if (req.n === 1) res.socket?.resetAndDestroy();
        else json(res, HEALTH);
      });
      const r = await run({ url: s.url, retries: 2 });
      expect(r.status).toBe('ok');
      expect(s.requests).toBe(2);
      expect(r.details?.[0]).toMatchObject({ attempts: 2 });
    });

    it('an HTTP 500 is an answer: never retried', async () => {
      const s = await serve((_req, res) => res.writeHead(500).end());
      const r = await run({ url: s.url, retries: 3 });
      expect(r.status).toBe('fail');
      expect(r.summary).toBe('expected 200, got 500');
      expect(s.requests).toBe(1);
    });

    it('a slow-but-answered request is not retried', async () => {
      const s = await serve((_req, res) => later(300, () => json(res, HEALTH)));
      const r = await run({ url: s.url, retries: 3, degradedMs: 50 });
      expect(r.status).toBe('warn');
      expect(s.requests).toBe(1);
    });

    it('a refused connection fails naming the cause and the attempts', async () => {
      const port = await closedPort();
      const r = await run({ url: `http://127.0.0.1:${port}/health`, retries: 2 });
      expect(r.status).toBe('fail');
      expect(r.summary).toBe('connection refused (ECONNREFUSED) (3 attempts)');
      expect(r.details?.[0]).toMatchObject({ attempts: 3 });
      expect(r.hint?.text).toContain('127.0.0.1');
    });

    describe('a server that accepts and never answers', () => {
      let hole: BlackHole;
      beforeAll(async () => {
        hole = await startBlackHole();
      });
      afterAll(async () => {
        await hole.close();
      });

      it('→ fail after the per-attempt timeout', async () => {
        const r = await run({ url: `http://127.0.0.1:${hole.port}/`, timeoutMs: 300, retries: 0 });
        expect(r.status).toBe('fail');
        expect(r.summary).toBe('no answer within 300 ms');
      });

      it('a timeout is a network error: retried (the silent server sees every attempt)', async () => {
        const silent = await serve(() => undefined);
        const r = await run({ url: silent.url, timeoutMs: 200, retries: 2 });
        expect(r.status).toBe('fail');
        expect(r.summary).toBe('no answer within 200 ms (3 attempts)');
        expect(silent.requests).toBe(3);
      });

      it('attempts stop within the run’s per-check time, with the check’s own verdict', async () => {
        const r = await run({ url: `http://127.0.0.1:${hole.port}/`, timeoutMs: 5000, retries: 5 }, { checkTimeoutMs: 600 });
        expect(r.status).toBe('fail');
        expect(r.summary).toMatch(/^no answer within \d+ ms$/);
      });
    });

    it('an untrusted HTTPS certificate fails at once: a retry would get the same certificate', async () => {
      const certs = createCertFactory();
      const self = certs.selfSigned({ cn: 'localhost', names: ['localhost', '127.0.0.1'], days: 30 });
      let connections = 0;
      const server = createTlsServer({ key: self.key, cert: self.cert }, (_req, res) => res.end('{}'));
      server.on('connection', () => connections++);
      server.on('tlsClientError', () => undefined);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      try {
        const r = await run({ url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, retries: 3 });
        expect(r.status).toBe('fail');
        expect(r.summary).toBe('TLS failure (DEPTH_ZERO_SELF_SIGNED_CERT)');
        expect(r.hint?.text).toContain('tls check');
        expect(connections).toBe(1);
      } finally {
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
        certs.cleanup();
      }
    });
  });

  it('a URL that is not http(s) is a config error', async () => {
    const r = await run({ url: 'ftp://127.0.0.1/file' });
    expect(r.status).toBe('error');
    expect(r.summary).toBe('only http:// and https:// URLs can be checked, not ftp:');
  });

  describe('a header from the environment', () => {
    const NAME = 'OPSBOOK_TEST_HTTP_TOKEN';
    const SECRET = 'sk_live_7f3a9c1e5b2d4f6a8c0e';
    afterEach(() => {
      delete process.env[NAME];
    });

    it('is sent, and never appears in the report, even when the server echoes it back', async () => {
      process.env[NAME] = `Bearer ${SECRET}`;
      const s = await serve((req, res) => {
        const auth = req.headers.authorization;
        if (auth !== `Bearer ${SECRET}`) return json(res, { error: 'unauthorized' }, 401);
        json(res, { status: 'degraded', echo: `you sent ${auth} ${'.'.repeat(90)}`, tail: `${'y'.repeat(100)}${SECRET}` });
      });
      const report = await diagnose(
        deps,
        {
          checks: {
            http: [
              {
                id: 'site',
                url: s.url,
                headers: { Authorization: { env: NAME } },
                conditions: [
                  { path: 'echo', value: 'nothing' },
                  { path: 'tail', value: 'nothing' },
                  { path: 'status', value: 'ok' },
                ],
              },
            ],
          },
        },
        { only: ['http.site'] },
      );
      const r = report.byId('http.site');
      expect(r.status).toBe('fail'); // the server accepted the header: this is the body's verdict, not a 401
      expect(r.summary).toContain(`[${NAME}]`);
      const text = JSON.stringify(report);
      for (const piece of [SECRET, SECRET.slice(0, 12), SECRET.slice(-12)]) expect(text).not.toContain(piece);
    });

    it('unset → skipped, naming the header, the variable and the fix', async () => {
      const s = await serve((_req, res) => json(res, HEALTH));
      const r = await run({ url: s.url, headers: { 'X-Api-Key': { env: NAME } } });
      expect(r.status).toBe('skipped');
      expect(r.summary).toBe(`header X-Api-Key needs env ${NAME}`);
      expect(r.hint?.text).toContain(`Set ${NAME}`);
      expect(s.requests).toBe(0);
    });

    it('an invalid header value is an error that does not quote it', async () => {
      process.env[NAME] = 'bad\nvalue-with-secret-part';
      const s = await serve((_req, res) => json(res, HEALTH));
      const report = await diagnose(deps, { checks: { http: [{ id: 'site', url: s.url, headers: { 'X-Api-Key': { env: NAME } } }] } }, { only: ['http'] });
      expect(report.byId('http.site').status).toBe('error');
      expect(JSON.stringify(report)).not.toContain('secret-part');
    });
  });

  it('credentials in the URL are sent as Basic auth and never shown', async () => {
    const s = await serve((req, res) =>
      req.headers.authorization === `Basic ${Buffer.from('ops:hunter2-pass').toString('base64')}` ? json(res, HEALTH) : json(res, {}, 401),
    );
    const report = await diagnose(deps, { checks: { http: [{ id: 'site', url: s.url.replace('http://', 'http://ops:hunter2-pass@') }] } }, { only: ['http.site'] });
    expect(report.byId('http.site').status).toBe('ok');
    expect(JSON.stringify(report)).not.toContain('hunter2');
  });
});
