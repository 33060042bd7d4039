import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { pathToFileURL } from 'node:url';
import type { AddressInfo } from 'node:net';
import { errorResponse, OpsbookError } from '../errors.js';
import { assertDecodablePath, requestIdOf } from '../http.js';
import { matchRoute, type RouteEntry } from './routes.js';

type Handler = (request: Request) => Response | Promise<Response>;
type RouteModule = Partial<Record<string, Handler>> & { default?: { fetch?: Handler } };

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
/** Vercel refuses request bodies over 4.5 MB; so do we, before reading more. */
const MAX_BODY = 4.5 * 1024 * 1024;

/** Load every route module once, as a warm instance would, so a broken file fails at start, not at 3 a.m. */
export async function loadRoutes(routes: RouteEntry[], moduleFor: (sourceFile: string) => string = (f) => f): Promise<Map<RouteEntry, RouteModule>> {
  const loaded = new Map<RouteEntry, RouteModule>();
  for (const r of routes) loaded.set(r, (await import(pathToFileURL(moduleFor(r.file)).href)) as RouteModule);
  return loaded;
}

function handlerFor(mod: RouteModule, method: string): Handler | undefined {
  const named = mod[method];
  if (typeof named === 'function') return named;
  if (typeof mod.default?.fetch === 'function') return mod.default.fetch.bind(mod.default);
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new OpsbookError('PAYLOAD_TOO_LARGE', 'Request body is larger than 4.5 MB.');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * Serve api/ the way Vercel's Node runtime does: a Web Request in, a Web Response out, dynamic
 * segments appended to the query, x-forwarded-for set from the connection (never trusted from the client).
 */
export function createRunnerServer(modules: Map<RouteEntry, RouteModule>, onRequest?: (line: string) => void): Server {
  const routes = [...modules.keys()];
  return createServer(async (req: IncomingMessage, res: ServerResponse) => {
    const started = performance.now();
    const host = req.headers.host ?? 'localhost';
    const url = new URL(req.url ?? '/', `http://${host}`);
    let response: Response;
    let request: Request | undefined;
    try {
      // Before matching: a path that does not decode is a 400, not "nothing is served here".
      assertDecodablePath(url.pathname);
      const match = matchRoute(routes, url.pathname);
      if (!match) throw new OpsbookError('NOT_FOUND', `Nothing is served at ${url.pathname.slice(0, 200)}.`);
      const method = (req.method ?? 'GET').toUpperCase();
      const handler = METHODS.includes(method) ? handlerFor(modules.get(match.route)!, method) : undefined;
      if (!handler) throw new OpsbookError('METHOD_NOT_ALLOWED', `${method} is not allowed on ${match.route.pattern}.`);
      for (const [k, v] of Object.entries(match.params)) url.searchParams.set(k, v);
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (v === undefined || k === 'x-forwarded-for' || k === 'x-real-ip') continue;
        headers.set(k, Array.isArray(v) ? v.join(', ') : v);
      }
      const ip = req.socket.remoteAddress ?? '';
      headers.set('x-forwarded-for', ip);
      headers.set('x-real-ip', ip);
      const body = method === 'GET' || method === 'HEAD' ? undefined : await readBody(req);
      request = new Request(url, { method, headers, body: body && body.length ? new Uint8Array(body) : undefined });
      response = await handler(request);
    } catch (err) {
      response = errorResponse(err, request ? requestIdOf(request) : crypto.randomUUID());
    }
    res.statusCode = response.status;
    response.headers.forEach((v, k) => res.setHeader(k, v));
    const buf = req.method === 'HEAD' ? undefined : Buffer.from(await response.arrayBuffer());
    res.end(buf);
    onRequest?.(`${req.method} ${url.pathname} → ${response.status} (${Math.round(performance.now() - started)} ms)`);
  });
}

export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
