import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestHttpServer {
  /** http://127.0.0.1:PORT */
  url: string;
  port: number;
  /** Requests received so far (a reset one included). */
  readonly requests: number;
  /** Connections currently open on the server side. */
  readonly openConnections: number;
  close(): Promise<void>;
}

export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  /** 1 for the first request this server received. */
  n: number;
}

/**
 * A real HTTP server on 127.0.0.1 whose answers a test scripts per request. The handler gets the
 * request with its body already read; it may answer late, or reset the connection.
 */
export async function startHttp(handler: (req: Received, res: ServerResponse) => unknown): Promise<TestHttpServer> {
  let requests = 0;
  const server = createServer((req, res) => {
    const n = ++requests;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void Promise.resolve(
        handler({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), n }, res),
      ).catch((err: unknown) => {
        res.statusCode = 599;
        res.end(String(err));
      });
    });
  });
  let open = 0;
  server.on('connection', (socket) => {
    open++;
    socket.once('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get requests() {
      return requests;
    },
    get openConnections() {
      return open;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Answer with JSON. */
export function json(res: ServerResponse, body: unknown, status = 200): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** Answer after `ms` (for latency thresholds: make it far beyond the threshold). */
export function later(ms: number, answer: () => void): Promise<void> {
  return new Promise((r) => setTimeout(() => (answer(), r()), ms));
}
