import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { family } from '../../lib/checks/dns.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { startDnsServer, type TestDnsServer } from '../support/net/dns-server.js';

type DnsInput = NonNullable<NonNullable<OpsbookConfigInput['checks']>['dns']>[number];

describe('dns checks (against a local DNS server on 127.0.0.1)', () => {
  let harness: DbHarness;
  let deps: Deps;
  let dns: TestDnsServer;
  const run = async (check: Omit<DnsInput, 'id'>) => {
    const report = await diagnose(deps, { checks: { dns: [{ id: 'app', server: dns.server, ...check }] } }, { only: ['dns.app'] });
    return report.byId('dns.app');
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
    dns = await startDnsServer({
      records: {
        'app.opsbook.test': [
          { type: 'A', address: '10.0.0.1' },
          { type: 'A', address: '10.0.0.2' },
          { type: 'AAAA', address: '2001:db8::1' },
        ],
        'opsbook.test': [
          { type: 'TXT', text: 'v=spf1 include:_spf.example.com ~all' },
          { type: 'TXT', text: ['google-site-verification=', 'abc123'] },
          { type: 'MX', priority: 20, exchange: 'mx2.mail.test' },
          { type: 'MX', priority: 10, exchange: 'mx1.mail.test' },
          { type: 'NS', target: 'ns1.dns.test' },
        ],
        'www.opsbook.test': [{ type: 'CNAME', target: 'app.opsbook.test' }],
        'empty.opsbook.test': [],
      },
      servfail: ['broken.opsbook.test'],
      drop: ['slow.opsbook.test'],
    });
  });
  afterAll(async () => {
    await dns.close();
    await harness.close();
  });

  it('one check per configured name, id dns.<id>, needing the network, with its severity', () => {
    const checks = family.checks(parseConfig({ checks: { dns: [{ id: 'app', name: 'app.example.com' }, { id: 'mail', name: 'example.com', type: 'MX', severity: 'P1' }] } }));
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs, c.title])).toEqual([
      ['dns.app', 'dns', 'P2', ['network'], 'DNS A app.example.com'],
      ['dns.mail', 'dns', 'P1', ['network'], 'DNS MX example.com'],
    ]);
  });

  it.each([
    { type: 'A', name: 'app.opsbook.test', expect: ['10.0.0.2', '10.0.0.1'], summary: 'A app.opsbook.test → 10.0.0.1, 10.0.0.2' },
    { type: 'AAAA', name: 'app.opsbook.test', expect: ['2001:0db8:0:0::1'], summary: 'AAAA app.opsbook.test → 2001:db8::1' },
    { type: 'TXT', name: 'opsbook.test', expect: ['google-site-verification=abc123'], summary: /^TXT opsbook\.test → / },
    { type: 'MX', name: 'opsbook.test', expect: ['mx1.mail.test.', '20 mx2.mail.test'], summary: 'MX opsbook.test → 10 mx1.mail.test, 20 mx2.mail.test' },
    { type: 'NS', name: 'opsbook.test', expect: ['NS1.dns.test'], summary: 'NS opsbook.test → ns1.dns.test' },
    { type: 'CNAME', name: 'www.opsbook.test', expect: ['app.opsbook.test'], summary: 'CNAME www.opsbook.test → app.opsbook.test' },
    { type: 'A', name: 'app.opsbook.test', expect: undefined, summary: 'A app.opsbook.test → 10.0.0.1, 10.0.0.2' },
  ] as const)('$type $name with every expected answer present → ok', async ({ type, name, expect: want, summary }) => {
    const r = await run({ type, name, ...(want ? { expect: [...want] } : {}) });
    expect(r.status).toBe('ok');
    expect(r.summary).toMatch(summary);
    expect(r.unit).toBe('ms');
  });

  it('an expected answer missing → fail naming it and what was found', async () => {
    const r = await run({ name: 'app.opsbook.test', expect: ['10.0.0.1', '10.0.0.9'] });
    expect(r.status).toBe('fail');
    expect(r.summary).toBe('A app.opsbook.test is missing 10.0.0.9 (got 10.0.0.1, 10.0.0.2)');
    expect(r.details?.[0]).toMatchObject({ missing: ['10.0.0.9'], answers: ['10.0.0.1', '10.0.0.2'], server: dns.server });
  });

  it.each([
    { case: 'an unknown name (NXDOMAIN)', name: 'nope.opsbook.test', type: 'A', summary: 'nope.opsbook.test does not exist (NXDOMAIN)' },
    { case: 'a name without that record type', name: 'empty.opsbook.test', type: 'A', summary: 'empty.opsbook.test has no A records' },
    { case: 'a TXT lookup on a name with only A records', name: 'app.opsbook.test', type: 'TXT', summary: 'app.opsbook.test has no TXT records' },
    { case: 'a server failure', name: 'broken.opsbook.test', type: 'A', summary: 'server failure (SERVFAIL) resolving broken.opsbook.test' },
  ] as const)('$case → fail "$summary"', async ({ name, type, summary }) => {
    const r = await run({ name, type });
    expect(r.status).toBe('fail');
    expect(r.summary).toBe(summary);
    expect(r.hint?.text).toBeTruthy();
  });

  it('a server that never answers → fail after the timeout', async () => {
    const r = await run({ name: 'slow.opsbook.test', timeoutMs: 300 });
    expect(r.status).toBe('fail');
    expect(r.summary).toBe(`no answer from ${dns.server} within 300 ms`);
  });

  it('nothing listening at the server → fail (no answer)', async () => {
    const port = await closedPort();
    const report = await diagnose(deps, { checks: { dns: [{ id: 'app', name: 'app.opsbook.test', server: `127.0.0.1:${port}`, timeoutMs: 300 }] } }, { only: ['dns'] });
    const r = report.byId('dns.app');
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/^(no answer from 127\.0\.0\.1:\d+ within 300 ms|127\.0\.0\.1:\d+ refused the connection)$/);
  });

  it('a server given by name is a config error with the accepted forms', async () => {
    const report = await diagnose(deps, { checks: { dns: [{ id: 'app', name: 'app.opsbook.test', server: 'dns.example.com' }] } }, { only: ['dns.app'] });
    const r = report.byId('dns.app');
    expect(r.status).toBe('error');
    expect(r.summary).toContain('server dns.example.com is not usable');
    expect(r.hint?.text).toContain('10.0.0.2:53');
  });
});
