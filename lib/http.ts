import { randomUUID } from 'node:crypto';
import { errorResponse, OpsbookError } from './errors.js';
import { log } from './log.js';
import { captureUnexpected } from './sentry.js';

/**
 * Opsbook's own id for a request: on Vercel the platform's `x-vercel-id` (it ties our logs to the
 * platform's; Vercel sets it at its edge, a client cannot), else a new UUID. A client's `x-request-id`
 * never becomes it: logs and audit rows must not carry an id an attacker chose (forged to collide with
 * another request's, or to hide one). The client's id is kept alongside (`clientRequestIdOf`).
 */
export function requestIdOf(request: Request): string {
  const id = process.env.VERCEL ? request.headers.get('x-vercel-id') : null;
  return id && /^[\w:.-]{1,128}$/.test(id) ? id : randomUUID();
}

/** A client's `x-request-id`, kept (next to Opsbook's own id) only if short and plain: 1-64 of [A-Za-z0-9._:-]. */
export const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's own request id, when it is short and safe; anything else is ignored. */
export function clientRequestIdOf(request: Request): string | undefined {
  const id = request.headers.get('x-request-id');
  return id !== null && CLIENT_REQUEST_ID.test(id) ? id : undefined;
}

/** The caller's address as the platform (Vercel, or the local runner) reports it. */
export function clientIp(request: Request): string {
  return (request.headers.get('x-forwarded-for')?.split(',')[0]?.trim() || request.headers.get('x-real-ip') || 'unknown').slice(0, 64);
}

/**
 * A path whose percent-encoding does not decode (`%ZZ`, a cut UTF-8 sequence like `%E0%A4%A`) is the
 * client's mistake: 400 in the error shape, before any handler calls decodeURIComponent and fails.
 */
export function assertDecodablePath(pathname: string): void {
  for (const segment of pathname.split('/')) {
    try {
      decodeURIComponent(segment);
    } catch {
      throw new OpsbookError('BAD_REQUEST', 'The request path is not valid percent-encoding (UTF-8).');
    }
  }
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
    const clientRequestId = clientRequestIdOf(request);
    try {
      assertDecodablePath(new URL(request.url).pathname);
      const res = await handler(request, requestId, context);
      if (!res.headers.has('x-request-id')) res.headers.set('x-request-id', requestId);
      return res;
    } catch (err) {
      // An unexpected error (a 500) goes to Sentry, with its causes, before the answer.
      await captureUnexpected(err, { requestId, path: new URL(request.url).pathname.slice(0, 200) });
      return errorResponse(await afterFailedAuth(err, request), requestId, (msg) => log('error', msg, { requestId, ...(clientRequestId ? { clientRequestId } : {}) }));
    }
  };
}

/**
 * Every refused secret (401 on any route: a wrong token, a wrong cron secret) counts against the
 * caller's address, here in the one wrapper every route uses, so no route can forget the limit. Beyond
 * it the answer is 429 with Retry-After instead of 401. Loaded lazily: the limiter needs deps and config.
 */
async function afterFailedAuth(err: unknown, request: Request): Promise<unknown> {
  if (!(err instanceof OpsbookError) || err.code !== 'UNAUTHORIZED') return err;
  try {
    const { limitFailedAuthentication } = await import('./admin/ratelimit.js');
    await limitFailedAuthentication(clientIp(request));
    return err;
  } catch (limited) {
    return limited;
  }
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
