import { randomUUID } from 'node:crypto';
import { errorResponse } from './errors.js';
import { log } from './log.js';

/** Vercel's request id when there is one (it ties our logs to the platform's), else a new one. */
export function requestIdOf(request: Request): string {
  const id = request.headers.get('x-vercel-id') ?? request.headers.get('x-request-id');
  return id && /^[\w:.-]{1,128}$/.test(id) ? id : randomUUID();
}

export function json(body: unknown, init: { status?: number; headers?: Record<string, string>; requestId?: string } = {}): Response {
  return new Response(JSON.stringify(body), {
    status: init.status ?? 200,
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...(init.requestId ? { 'x-request-id': init.requestId } : {}),
      ...init.headers,
    },
  });
}

/**
 * The one wrapper every route goes through: a request id, and any thrown error turned into the single
 * error shape. Routes stay thin: they receive the request and its id and return a Response.
 */
/** What Vercel's Node runtime passes a Web handler besides the request. */
export interface RequestContext {
  waitUntil?: (promise: Promise<unknown>) => void;
}

export function route(
  handler: (request: Request, requestId: string, context: RequestContext) => Promise<Response>,
): (request: Request, context?: RequestContext) => Promise<Response> {
  return async (request, context = {}) => {
    const requestId = requestIdOf(request);
    try {
      const res = await handler(request, requestId, context);
      if (!res.headers.has('x-request-id')) res.headers.set('x-request-id', requestId);
      return res;
    } catch (err) {
      return errorResponse(err, requestId, (msg) => log('error', msg, { requestId }));
    }
  };
}

/** HEAD answers like GET without a body, as HTTP requires. */
export function headOf(get: (request: Request, context?: RequestContext) => Promise<Response>): (request: Request, context?: RequestContext) => Promise<Response> {
  return async (request, context) => {
    const res = await get(request, context);
    return new Response(null, { status: res.status, headers: res.headers });
  };
}

/**
 * Work that must not delay the answer: handed to the platform's `waitUntil` (Vercel keeps the function
 * alive until it settles). Where there is none (the local runner, tests) it is awaited before answering,
 * so no promise is ever left dangling. Failures are logged, never thrown.
 */
export async function afterResponse(context: RequestContext, task: () => Promise<unknown>, onError: (err: unknown) => void): Promise<void> {
  const run = task().then(
    () => undefined,
    (err) => onError(err),
  );
  if (context.waitUntil) context.waitUntil(run);
  else await run;
}
