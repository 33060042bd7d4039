import { createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { family } from '../../lib/checks/tls.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { closedPort, startBlackHole } from '../support/faults.js';
import { createCertFactory, daysFromNow, type CertFactory, type Pem } from '../support/net/certs.js';

type TlsInput = NonNullable<NonNullable<OpsbookConfigInput['checks']>['tls']>[number];

/** A real TLS server on 127.0.0.1 presenting `leaf` (plus the chain given). */
async function serveTls(leaf: Pem, chain: string[] = []): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer({ key: leaf.key, cert: [leaf.cert, ...chain].join('\n') }, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe('tls checks', () => {
  let harness: DbHarness;
  let deps: Deps;
  let certs: CertFactory;
  const servers: Array<{ close(): Promise<void> }> = [];
  const now = new Date();

  const serveLeaf = async (opts: { names?: string[]; notBefore?: Date; notAfter: Date }) => {
    const leaf = certs.leaf({ cn: 'localhost', names: opts.names ?? ['localhost', '127.0.0.1'], notBefore: opts.notBefore ?? daysFromNow(-30, now.getTime()), notAfter: opts.notAfter });
    const s = await serveTls(leaf, [certs.ca.cert]);
    servers.push(s);
    return s;
  };
  const run = async (check: Omit<TlsInput, 'id'>) => {
    const report = await diagnose(deps, { checks: { tls: [{ id: 'site', ...check }] } }, { only: ['tls.site'] }, now);
    return report.byId('tls.site');
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
    certs = createCertFactory();
  });
  afterAll(async () => {
    await Promise.allSettled(servers.map((s) => s.close()));
    certs.cleanup();
    await harness.close();
  });

  it('one check per configured host, id tls.<id>, needing the network, with its severity', () => {
    const checks = family.checks(parseConfig({ checks: { tls: [{ id: 'site', host: 'example.com' }, { id: 'api', host: 'api.example.com', port: 8443, severity: 'P1' }] } }));
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs, c.title])).toEqual([
      ['tls.site', 'tls', 'P2', ['network'], 'TLS certificate example.com:443'],
      ['tls.api', 'tls', 'P1', ['network'], 'TLS certificate api.example.com:8443'],
    ]);
  });

  it.each([
    { validDays: 60, status: 'ok', summary: /^valid for 59 days \(until \d{4}-\d\d-\d\d\)$/ },
    { validDays: 15, status: 'warn', summary: /^certificate expires in 14 days \(\d{4}-\d\d-\d\d\)$/ },
    { validDays: 5, status: 'fail', summary: /^certificate expires in 4 days \(\d{4}-\d\d-\d\d\)$/ },
  ])('a trusted certificate valid for $validDays more days → $status', async ({ validDays, status, summary }) => {
    const s = await serveLeaf({ notAfter: daysFromNow(validDays, now.getTime()) });
    const r = await run({ host: 'localhost', port: s.port, ca: certs.ca.cert });
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
    expect(r).toMatchObject({ value: validDays - 1, unit: 'days' });
    expect(r.details?.[0]).toMatchObject({
      subject: 'localhost',
      issuer: 'Opsbook Test CA',
      sans: ['DNS:localhost', 'IP Address:127.0.0.1'],
      daysLeft: validDays - 1,
      authorized: true,
      hostnameValid: true,
    });
    expect(new Date(r.details?.[0]?.validTo as string).getTime()).toBeGreaterThan(now.getTime());
  });

  it('thresholds come from the config', async () => {
    const s = await serveLeaf({ notAfter: daysFromNow(40, now.getTime()) });
    expect((await run({ host: 'localhost', port: s.port, ca: certs.ca.cert })).status).toBe('ok');
    expect((await run({ host: 'localhost', port: s.port, ca: certs.ca.cert, warnDays: 45 })).status).toBe('warn');
    expect((await run({ host: 'localhost', port: s.port, ca: certs.ca.cert, warnDays: 60, failDays: 50 })).status).toBe('fail');
  });

  it('an expired certificate → fail "expired N days ago", with the renew hint', async () => {
    const s = await serveLeaf({ notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2020-02-01T00:00:00Z') });
    const r = await run({ host: 'localhost', port: s.port, ca: certs.ca.cert });
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/^certificate expired \d+ days ago \(2020-02-01\)$/);
    expect(r.hint?.text).toContain('certbot renew');
    expect(r.details?.[0]).toMatchObject({ authorized: false, authorizationError: 'CERT_HAS_EXPIRED', validTo: '2020-02-01T00:00:00.000Z' });
    expect(r.value as number).toBeLessThan(0);
  });

  it('an untrusted chain → fail naming the error, and the expiry is still reported', async () => {
    const s = await serveLeaf({ notAfter: daysFromNow(60, now.getTime()) });
    const r = await run({ host: 'localhost', port: s.port });
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/^not trusted: the chain ends in an untrusted self-signed CA \(SELF_SIGNED_CERT_IN_CHAIN\); expires in 59 days/);
    expect(r.details?.[0]).toMatchObject({ authorized: false, authorizationError: 'SELF_SIGNED_CERT_IN_CHAIN', daysLeft: 59, hostnameValid: true });
    expect(r.hint?.text).toContain('`ca`');
  });

  it('a leaf served without its issuer → fail UNABLE_TO_VERIFY_LEAF_SIGNATURE (serve the full chain)', async () => {
    const leaf = certs.leaf({ cn: 'localhost', names: ['localhost'], notBefore: daysFromNow(-1, now.getTime()), notAfter: daysFromNow(60, now.getTime()) });
    const s = await serveTls(leaf);
    servers.push(s);
    const r = await run({ host: 'localhost', port: s.port });
    expect(r.status).toBe('fail');
    expect(r.summary).toContain('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(r.hint?.text).toContain('fullchain.pem');
  });

  it('a self-signed certificate → fail DEPTH_ZERO_SELF_SIGNED_CERT; trusting it with `ca` makes it ok', async () => {
    const self = certs.selfSigned({ cn: 'localhost', names: ['localhost'], days: 90 });
    const s = await serveTls(self);
    servers.push(s);
    const untrusted = await run({ host: 'localhost', port: s.port });
    expect(untrusted.status).toBe('fail');
    expect(untrusted.summary).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
    const trusted = await run({ host: 'localhost', port: s.port, ca: self.cert });
    expect(trusted.status).toBe('ok');
  });

  it.each([
    { case: 'a name the certificate does not cover', names: ['other.test'], host: 'localhost' },
    { case: 'an IP the certificate does not cover', names: ['localhost'], host: '127.0.0.1' },
  ])('$case → fail, with the names it does cover in details', async ({ names, host }) => {
    const s = await serveLeaf({ names, notAfter: daysFromNow(60, now.getTime()) });
    const r = await run({ host, port: s.port, ca: certs.ca.cert });
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/^certificate does not cover /);
    expect(r.summary).toContain(`does not cover ${host} (it covers ${names[0]}); expires in 59 days`);
    expect(r.details?.[0]).toMatchObject({ hostnameValid: false, authorized: true });
    expect(r.details?.[0]?.sans).toEqual([`DNS:${names[0]}`]);
  });

  it.each([
    { ca: 'not a certificate', summary: 'ca holds no PEM certificate' },
    { ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----', summary: 'ca certificate 1 cannot be read' },
  ])('an unreadable ca is a config error ($summary), not a puzzling "not trusted"', async ({ ca, summary }) => {
    const r = await run({ host: 'localhost', port: 443, ca });
    expect(r.status).toBe('error');
    expect(r.summary).toBe(summary);
  });

  it('a closed port → fail "could not connect: connection refused"', async () => {
    const port = await closedPort();
    const r = await run({ host: '127.0.0.1', port });
    expect(r.status).toBe('fail');
    expect(r.summary).toBe('could not connect: connection refused (ECONNREFUSED)');
  });

  it('a server that accepts and never answers the handshake → fail after the timeout', async () => {
    const hole = await startBlackHole();
    try {
      const r = await run({ host: '127.0.0.1', port: hole.port, timeoutMs: 300 });
      expect(r.status).toBe('fail');
      expect(r.summary).toBe('no TLS handshake within 300 ms');
    } finally {
      await hole.close();
    }
  });
});
