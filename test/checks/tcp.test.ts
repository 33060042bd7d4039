import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { family } from '../../lib/checks/tcp.js';
import { parseConfig } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { closedPort, startBlackHole } from '../support/faults.js';
import { startSynDrop } from '../support/net/syn-drop.js';

describe('tcp checks', () => {
  let harness: DbHarness;
  let deps: Deps;
  const run = async (host: string, port: number, timeoutMs?: number) => {
    const report = await diagnose(deps, { checks: { tcp: [{ id: 'node', host, port, ...(timeoutMs ? { timeoutMs } : {}) }] } }, { only: ['tcp.node'] });
    return report.byId('tcp.node');
  };

  beforeAll(async () => {
    harness = await openDb('pglite');
    deps = await depsFor(harness.db);
  });
  afterAll(async () => {
    await harness.close();
  });

  it('one check per configured target, id tcp.<id>, needing the network, with its severity', () => {
    const checks = family.checks(parseConfig({ checks: { tcp: [{ id: 'bootstrap-1', host: 'node1.example.com', port: 4001 }, { id: 'v6', host: '2001:db8::1', port: 4001, severity: 'P1' }] } }));
    expect(checks.map((c) => [c.id, c.family, c.severity, c.needs, c.title])).toEqual([
      ['tcp.bootstrap-1', 'tcp', 'P3', ['network'], 'TCP node1.example.com:4001'],
      ['tcp.v6', 'tcp', 'P1', ['network'], 'TCP [2001:db8::1]:4001'],
    ]);
  });

  it('a listening port → ok, and the connection is closed at once', async () => {
    let open = 0;
    let accepted = 0;
    const server: Server = createServer((s) => {
      accepted++;
      open++;
      s.on('close', () => open--);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const { port } = server.address() as AddressInfo;
    try {
      const r = await run('127.0.0.1', port);
      expect(r.status).toBe('ok');
      expect(r.summary).toMatch(new RegExp(`^connected to 127\\.0\\.0\\.1:${port} in \\d+ ms$`));
      expect(r.details?.[0]).toMatchObject({ host: '127.0.0.1', port, address: '127.0.0.1' });
      await expect.poll(() => accepted).toBe(1);
      await expect.poll(() => open, { timeout: 2000 }).toBe(0);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('localhost is resolved like any host name', async () => {
    const hole = await startBlackHole();
    try {
      expect((await run('localhost', hole.port)).status).toBe('ok');
    } finally {
      await hole.close();
    }
  });

  it('a closed port → fail "connection refused"', async () => {
    const port = await closedPort();
    const r = await run('127.0.0.1', port);
    expect(r.status).toBe('fail');
    expect(r.summary).toBe(`127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
    expect(r.hint?.text).toContain('listening');
  });

  it('a server that accepts and never answers is reachable: ok (TCP asks no more)', async () => {
    const hole = await startBlackHole();
    try {
      expect((await run('127.0.0.1', hole.port, 300)).status).toBe('ok');
    } finally {
      await hole.close();
    }
  });

  it('a port whose SYNs go unanswered → fail after the timeout', async () => {
    const drop = await startSynDrop();
    try {
      const r = await run('127.0.0.1', drop.port, 300);
      expect(r.status).toBe('fail');
      expect(r.summary).toBe(`no connection to 127.0.0.1:${drop.port} within 300 ms`);
      expect(r.hint?.text).toContain('firewall');
    } finally {
      await drop.close();
    }
  });
});
