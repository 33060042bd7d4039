/**
 * One closed set of error codes and one error class. Every failure that reaches a client goes through
 * `errorResponse`, so the wire shape is always `{"error":{"code","message","details"?},"requestId"}`
 * and a stack trace or driver message never leaks.
 */
export const ERROR_CODES = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  CONFLICT: 409,
  /** A bulk or destructive action without a valid confirm token from its dry run. */
  CONFIRMATION_REQUIRED: 428,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  MISCONFIGURED: 500,
  DEPENDENCY_UNAVAILABLE: 503,
  TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class OpsbookError extends Error {
  readonly code: ErrorCode;
  readonly details?: unknown;
  readonly headers?: Record<string, string>;

  constructor(code: ErrorCode, message: string, opts: { details?: unknown; cause?: unknown; headers?: Record<string, string> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OpsbookError';
    this.code = code;
    this.details = opts.details;
    this.headers = opts.headers;
  }

  get status(): number {
    return ERROR_CODES[this.code];
  }
}

/** The message of any thrown value, for logs and admin-only detail. Never shown to the public. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/**
 * The single error handler. Unknown errors become INTERNAL with a fixed message: their text may hold
 * host names, SQL or secrets, so it is logged (redacted) and never returned.
 */
export function errorResponse(err: unknown, requestId: string, log: (msg: string) => void = defaultLog): Response {
  const known = err instanceof OpsbookError ? err : undefined;
  if (!known) log(`[opsbook] request ${requestId} failed: ${messageOf(err)}`);
  const code: ErrorCode = known?.code ?? 'INTERNAL';
  const body = {
    error: {
      code,
      message: known?.message ?? 'Internal error. The request id identifies it in the logs.',
      ...(known?.details !== undefined ? { details: known.details } : {}),
    },
    requestId,
  };
  return new Response(JSON.stringify(body), {
    status: ERROR_CODES[code],
    headers: {
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      'x-request-id': requestId,
      ...(known?.headers ?? {}),
    },
  });
}

function defaultLog(msg: string): void {
  console.error(msg);
}
