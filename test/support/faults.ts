import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** A port on 127.0.0.1 with nothing listening: connections are refused at once. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

export interface BlackHole {
  port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  close(): Promise<void>;
}

/**
 * A server that accepts TCP connections and never answers a byte: the worst kind of outage, where
 * nothing fails and only a timeout saves the caller.
 */
export async function startBlackHole(): Promise<BlackHole> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    get accepted() {
      return accepted;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

export type ProxyMode = 'pass' | 'refuse' | 'hang';

export interface FaultProxy {
  /** The port clients use; it stays the same through every mode change. */
  readonly port: number;
  readonly mode: ProxyMode;
  /** Connections currently open through the proxy. */
  readonly connections: number;
  /**
   * - `pass`: forward both ways (connections frozen by `hang` resume where they stopped).
   * - `refuse`: the port is closed (ECONNREFUSED) and every open connection is cut: the service is down.
   * - `hang`: connections are accepted and open ones stay open, but no byte moves either way: the
   *   service hangs, and only the client's own timeout ends the wait.
   */
  setMode(mode: ProxyMode): Promise<void>;
  /**
   * A hang that starts mid-request: the first client write matching `pattern` (e.g. a statement's text)
   * switches the proxy to `hang`, and that write is held back with everything after it.
   */
  hangOn(pattern: RegExp): void;
  /**
   * The service restarts: every connection is cut, what a hang held back is lost (never reaches the
   * service), and the port answers again.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

interface Link {
  client: Socket;
  upstream?: Socket;
  /** Bytes read from one side while frozen, written when the link thaws. */
  toUpstream: Buffer[];
  toClient: Buffer[];
}

/**
 * A TCP proxy in front of a real service (Postgres, Redis, an HTTP server, a sink) whose failure mode
 * can be switched while clients keep their connections and their configuration: a fault is made real on
 * the wire and removed again, and the same client object must notice both by itself.
 */
export async function startProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const links = new Set<Link>();
  let mode: ProxyMode = 'pass';
  let port = 0;
  let trigger: RegExp | undefined;

  const frozen = () => mode !== 'pass';
  const cut = (link: Link) => {
    link.client.destroy();
    link.upstream?.destroy();
    links.delete(link);
  };
  const thaw = (link: Link) => {
    if (!link.upstream) {
      connectUpstream(link);
      return;
    }
    for (const chunk of link.toUpstream.splice(0)) link.upstream.write(chunk);
    for (const chunk of link.toClient.splice(0)) link.client.write(chunk);
    link.client.resume();
    link.upstream.resume();
  };
  const connectUpstream = (link: Link) => {
    const upstream = createConnection({ host: targetHost, port: targetPort });
    link.upstream = upstream;
    upstream.on('error', () => cut(link));
    upstream.on('close', () => cut(link));
    upstream.on('end', () => link.client.end());
    upstream.on('data', (chunk: Buffer) => {
      if (frozen()) {
        link.toClient.push(chunk);
        upstream.pause();
      } else link.client.write(chunk);
    });
    // Node buffers writes until the connection is up.
    for (const chunk of link.toUpstream.splice(0)) upstream.write(chunk);
    link.client.resume();
  };

  const server: Server = createServer((client) => {
    const link: Link = { client, toUpstream: [], toClient: [] };
    links.add(link);
    client.on('error', () => cut(link));
    client.on('close', () => cut(link));
    client.on('end', () => link.upstream?.end());
    client.on('data', (chunk: Buffer) => {
      if (trigger && mode === 'pass' && trigger.test(chunk.toString('latin1'))) {
        trigger = undefined;
        mode = 'hang';
        freezeAll();
      }
      if (frozen() || !link.upstream) {
        link.toUpstream.push(chunk);
        client.pause();
      } else link.upstream.write(chunk);
    });
    // Accepted during a hang: nothing reaches the service until the hang ends.
    if (!frozen()) connectUpstream(link);
    else client.pause();
  });

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const freezeAll = () => {
    for (const link of links) {
      link.client.pause();
      link.upstream?.pause();
    }
  };
  const unlisten = () => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));
  await listen();

  return {
    get port() {
      return port;
    },
    get mode() {
      return mode;
    },
    get connections() {
      return links.size;
    },
    async setMode(next) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      if (next === 'refuse') {
        const closed = unlisten();
        for (const link of [...links]) cut(link);
        await closed;
        return;
      }
      if (previous === 'refuse') await listen();
      if (next === 'hang') {
        freezeAll();
        return;
      }
      for (const link of [...links]) thaw(link);
    },
    hangOn(pattern) {
      trigger = pattern;
    },
    async restart() {
      trigger = undefined;
      for (const link of [...links]) cut(link);
      if (mode === 'refuse') await listen();
      mode = 'pass';
    },
    async close() {
      const closed = unlisten();
      for (const link of [...links]) cut(link);
      await closed;
    },
  };
}
