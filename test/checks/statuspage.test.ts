import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { family, statusUrl } from '../../lib/checks/statuspage.js';
import { parseConfig } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { startBlackHole } from '../support/faults.js';
import { json, startHttp, type TestHttpServer } from '../support/net/http.js';

const DESCRIPTIONS: Record<string, string> = {
  none: 'All Systems Operational',
  minor: 'Partial System Outage',
  major: 'Major System Outage',
  critical: 'Major System Outage',
  maintenance: 'Service Under Maintenance',
};

/** What an Atlassian Statuspage answers at /api/v2/status.json. */
const statusJson = (indicator: string) => ({
  page: { id: 'y2j98763l443', name: 'Acme', url: 'https://status.acme.test', time_zone: 'Etc/UTC', updated_at: '2026-11-22T08:55:00.000Z' },
  status: { indicator, description: DESCRIPTIONS[indicator] ?? 'Something' },
});

const summaryJson = {
  ...statusJson('minor'),
  components: [
    { id: 'a', name: 'API', status: 'operational', group: false },
    { id: 'b', name: 'Webhooks', status: 'degraded_performance', group: false },
    { id: 'c', name: 'Europe', status: 'partial_outage', group: true },
  ],
  incidents: [{ id: 'i1', name: 'Delayed webhooks', status: 'investigating', impact: 'minor' }],
  scheduled_maintenances: [],
};

describe('status page checks (Atlassian Statuspage v2)', () => {
  let harness: DbHarness;
  let deps: Deps;
  let vendor: TestHttpServer;
  const paths: string[] = [];
  const run = async (url: string, timeoutMs?: number) => {
    const report = await diagnose(deps, { checks: { statusPages: [{ id: 'acme', url, ...(timeoutMs ? { timeoutMs } : {}) }] } }, { only: ['statuspage.acme'] });
    return report.byId('statuspage.acme');
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
    // /<indicator>/api/v2/status.json serves that indicator; a few paths serve broken answers.
    vendor = await startHttp((req, res) => {
      paths.push(req.url);
      const m = /^\/(\w+)\/api\/v2\/(status|summary)\.json$/.exec(req.url);
      if (m?.[2] === 'summary') return json(res, summaryJson);
      if (m && m[1]! in DESCRIPTIONS) return json(res, statusJson(m[1]!));
      if (m?.[1] === 'weird') return json(res, statusJson('apocalyptic'));
      if (req.url === '/custom/status-feed.json') return json(res, statusJson('none'));
      if (req.url === '/html/api/v2/status.json') return res.writeHead(200, { 'content-type': 'text/html' }).end('<html>Maintenance</html>');
      if (req.url === '/other/api/v2/status.json') return json(res, { ok: true });
      json(res, { error: 'not found' }, 404);
    });
  });
  afterAll(async () => {
    await vendor.close();
    await harness.close();
  });

  it('one check per configured page, id statuspage.<id>, needing the network, with its severity', () => {
    const checks = family.checks(
      parseConfig({ checks: { statusPages: [{ id: 'stripe', url: 'https://status.stripe.com' }, { id: 'gh', url: 'https://www.githubstatus.com', title: 'GitHub', severity: 'P2' }] } }),
    );
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs, c.title])).toEqual([
      ['statuspage.stripe', 'statuspage', 'P3', ['network'], 'Status page status.stripe.com'],
      ['statuspage.gh', 'statuspage', 'P2', ['network'], 'GitHub'],
    ]);
  });

  it.each([
    ['https://status.stripe.com', 'https://status.stripe.com/api/v2/status.json'],
    ['https://status.stripe.com/', 'https://status.stripe.com/api/v2/status.json'],
    ['https://www.githubstatus.com/api/v2/status.json', 'https://www.githubstatus.com/api/v2/status.json'],
    ['https://example.com/feeds/status.json?x=1', 'https://example.com/feeds/status.json?x=1'],
  ])('%s is read at %s', (url, expected) => {
    expect(statusUrl(url)).toBe(expected);
  });

  it.each([
    { indicator: 'none', status: 'ok', summary: 'Acme: All Systems Operational' },
    { indicator: 'minor', status: 'warn', summary: 'Acme: Partial System Outage (minor)' },
    { indicator: 'major', status: 'fail', summary: 'Acme: Major System Outage (major)' },
    { indicator: 'critical', status: 'fail', summary: 'Acme: Major System Outage (critical)' },
    { indicator: 'maintenance', status: 'warn', summary: 'Acme: Service Under Maintenance (maintenance)' },
  ])('indicator $indicator → $status', async ({ indicator, status, summary }) => {
    const r = await run(`${vendor.url}/${indicator}`);
    expect(r.status).toBe(status);
    expect(r.summary).toBe(summary);
    expect(r.value).toBe(indicator);
    expect(r.details?.[0]).toMatchObject({ page: 'Acme', indicator, description: DESCRIPTIONS[indicator], url: 'https://status.acme.test' });
  });

  it('when something is wrong, details name the affected components and open incidents', async () => {
    const r = await run(`${vendor.url}/minor`);
    expect(r.details?.[0]).toMatchObject({
      components: [{ name: 'Webhooks', status: 'degraded_performance' }],
      incidents: [{ name: 'Delayed webhooks', status: 'investigating', impact: 'minor' }],
    });
    expect(paths).toContain('/minor/api/v2/summary.json');
  });

  it('all operational: status.json only, no second request', async () => {
    paths.length = 0;
    expect((await run(`${vendor.url}/none`)).status).toBe('ok');
    expect(paths).toEqual(['/none/api/v2/status.json']);
  });

  it('a full .json URL is used as it is', async () => {
    const r = await run(`${vendor.url}/custom/status-feed.json`);
    expect(r.status).toBe('ok');
  });

  it.each([
    { case: 'an HTML answer', path: '/html', summary: 'status page did not answer JSON (text/html)' },
    { case: 'JSON of another shape', path: '/other', summary: 'status page JSON has no status.indicator and status.description: not an Atlassian Statuspage v2 answer' },
    { case: 'a 404', path: '/missing', summary: `status page answered 404; 127.0.0.1:${'PORT'}'s status is unknown` },
    { case: 'an unknown indicator', path: '/weird', summary: "Acme: unknown indicator 'apocalyptic' (Something)" },
  ])('$case → error (the vendor status is unknown)', async ({ path, summary }) => {
    const r = await run(`${vendor.url}${path}`);
    expect(r.status).toBe('error');
    expect(r.summary).toBe(summary.replace('PORT', String(vendor.port)));
  });

  it('a status page that never answers → error after the timeout', async () => {
    const hole = await startBlackHole();
    try {
      const r = await run(`http://127.0.0.1:${hole.port}`, 300);
      expect(r.status).toBe('error');
      expect(r.summary).toBe(`status page unreachable: no answer within 300 ms; 127.0.0.1:${hole.port}'s status is unknown`);
    } finally {
      await hole.close();
    }
  });
});
