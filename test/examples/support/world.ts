import type { AddressInfo } from 'node:net';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { OpsbookConfig, OpsbookConfigInput } from '../../../lib/config/index.js';
import { statusUrl } from '../../../lib/checks/statuspage.js';
import { json, startHttp, type Received } from '../../support/net/http.js';
import type { CertFactory } from '../../support/net/certs.js';

/**
 * The outside world of an example, on 127.0.0.1: the example configs name real vendors (status.stripe.com,
 * api.vercel.com…) and the runbooks' own hosts, and tests never leave this machine. `localize` rewrites a
 * config so every network target is one of these local servers:
 *
 *   http / statusPages  https://api.vocavision.com/health  →  http://127.0.0.1:P/api.vocavision.com/health
 *                       (one HTTP server; the first path segment is the original host, so a scenario
 *                       answers per "host/path" and a request nobody scripted is recorded as unknown)
 *   tls                 host → 127.0.0.1, port → a local TLS server, `ca` → the test CA
 *   dns                 same name, `server` → the local DNS fixture
 *   tcp                 host → 127.0.0.1, port → a local listener (or a closed port)
 *   queues              prefix → the scenario's own Redis key prefix
 */

/** What a scripted route answers: JSON (default status 200), or text. */
export interface Answer {
  status?: number;
  json?: unknown;
  text?: string;
}
export type Route = Answer | ((req: Received) => Answer);

export interface Internet {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every request, by route key ("host/path", no query). */
  readonly received: Array<{ route: string; method: string; headers: Received['headers']; body: string }>;
  /** Route keys asked for that the scenario did not script (answered 404). */
  readonly unknown: string[];
  close(): Promise<void>;
}

/** The route key of a request to the local internet: "api.vocavision.com/health". */
export function routeOf(url: string): string {
  const path = new URL(url, 'http://127.0.0.1').pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  return decodeURIComponent(path);
}

export async function startInternet(routes: Record<string, Route>): Promise<Internet> {
  const received: Internet['received'] = [];
  const unknown: string[] = [];
  const server = await startHttp((req, res) => {
    const route = routeOf(req.url);
    received.push({ route, method: req.method, headers: req.headers, body: req.body });
    const script = routes[route];
    if (!script) {
      unknown.push(route);
      json(res, { error: `no route ${route} in this scenario` }, 404);
      return;
    }
    const answer = typeof script === 'function' ? script(req) : script;
    if (answer.text !== undefined) {
      res.writeHead(answer.status ?? 200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(answer.text);
    } else json(res, answer.json ?? {}, answer.status ?? 200);
  });
  return { url: server.url, received, unknown, close: () => server.close() };
}

/** A TLS server on 127.0.0.1 presenting a leaf of the test CA for 127.0.0.1 / localhost, valid until `notAfter`. */
export async function startTls(certs: CertFactory, validity: { notBefore: Date; notAfter: Date }): Promise<{ port: number; close(): Promise<void> }> {
  const leaf = certs.leaf({ cn: 'localhost', names: ['localhost', '127.0.0.1'], ...validity });
  const server = createTlsServer({ key: leaf.key, cert: [leaf.cert, certs.ca.cert].join('\n') }, (s) => s.end());
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** A TCP listener on 127.0.0.1 that accepts and closes (a reachable libp2p port, as far as TCP goes). */
export async function startTcpListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

type Checks = NonNullable<OpsbookConfigInput['checks']>;
type TlsInput = NonNullable<Checks['tls']>[number];
type TcpInput = NonNullable<Checks['tcp']>[number];

export interface LocalTargets {
  /** Base URL of the local internet (startInternet). */
  internet: string;
  /** Where each tls check connects, and the CA that signed the local certificate. */
  tls?: (check: TlsInput) => { port: number; ca: string };
  /** The local DNS fixture, "127.0.0.1:PORT". */
  dns?: string;
  /** The local port each tcp check connects to. */
  tcp?: (check: TcpInput) => number;
  /** The scenario's BullMQ key prefix. */
  queuePrefix: string;
}

/** https://host/path?q → <internet>/host/path?q */
function localUrl(url: string, internet: string): string {
  const u = new URL(url);
  return `${internet}/${u.host}${u.pathname === '/' ? '' : u.pathname}${u.search}`;
}

/** A copy of an example config whose every network target is on 127.0.0.1 (see the top of this file). */
export function localize(example: OpsbookConfigInput, to: LocalTargets): OpsbookConfigInput {
  const config = structuredClone(example);
  const checks: Checks = (config.checks ??= {});
  checks.http = checks.http?.map((h) => ({ ...h, url: localUrl(h.url, to.internet) }));
  checks.statusPages = checks.statusPages?.map((s) => ({ ...s, url: localUrl(s.url, to.internet) }));
  checks.tls = checks.tls?.map((t) => {
    if (!to.tls) throw new Error(`tls check ${t.id} needs a local TLS server`);
    return { ...t, host: '127.0.0.1', ...to.tls(t) };
  });
  checks.dns = checks.dns?.map((d) => {
    if (!to.dns) throw new Error(`dns check ${d.id} needs the local DNS server`);
    return { ...d, server: to.dns };
  });
  checks.tcp = checks.tcp?.map((t) => {
    if (!to.tcp) throw new Error(`tcp check ${t.id} needs a local port`);
    return { ...t, host: '127.0.0.1', port: to.tcp(t) };
  });
  checks.queues = { ...(checks.queues ?? {}), prefix: to.queuePrefix };
  return config;
}

/** Every network target of a parsed config that is not on 127.0.0.1: must be empty before a scenario runs. */
export function offMachineTargets(config: OpsbookConfig): string[] {
  const local = (host: string) => host === '127.0.0.1' || host.startsWith('127.0.0.1:');
  const c = config.checks;
  return [
    ...c.http.filter((h) => !local(new URL(h.url).host)).map((h) => `http.${h.id} ${h.url}`),
    ...c.statusPages.filter((s) => !local(new URL(statusUrl(s.url)).host)).map((s) => `statuspage.${s.id} ${s.url}`),
    ...c.tls.filter((t) => !local(t.host)).map((t) => `tls.${t.id} ${t.host}`),
    ...c.dns.filter((d) => !d.server || !local(d.server)).map((d) => `dns.${d.id} via ${d.server ?? 'the system resolver'}`),
    ...c.tcp.filter((t) => !local(t.host)).map((t) => `tcp.${t.id} ${t.host}`),
    ...(c.queues.redisUrlEnv ? [`queues via ${c.queues.redisUrlEnv}`] : []),
  ];
}

/** A Statuspage v2 status.json body. */
export function statusJson(page: string, indicator: 'none' | 'minor' | 'major' | 'critical' | 'maintenance', description: string): Answer {
  return {
    json: {
      page: { id: 'test', name: page, url: `https://status.example.com/${page.toLowerCase()}`, updated_at: '2024-01-15T10:30:00Z' },
      status: { indicator, description },
    },
  };
}
