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
  // A dependency that is down or hangs is not a bug in Opsbook: 503, so callers (and Vercel's cron
  // dashboard) can tell an outage from an internal error. The driver's text stays in the log.
  const unavailable = !known && isDependencyFailure(err);
  const code: ErrorCode = known?.code ?? (unavailable ? 'DEPENDENCY_UNAVAILABLE' : 'INTERNAL');
  const body = {
    error: {
      code,
      message:
        known?.message ??
        (unavailable
          ? 'A dependency (database, Redis or email) is unavailable or did not answer in time. Retry later; the request id identifies it in the logs.'
          : 'Internal error. The request id identifies it in the logs.'),
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

/** Socket-level failures: the peer is down, unreachable or went away mid-request. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET']);
/**
 * SQLSTATEs that say the server cannot serve now (connection exceptions, shutdown, too many
 * connections, a statement cancelled by statement_timeout) rather than that the query is wrong.
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[1-5]|53300|57014)$/;
/** What node-postgres and ioredis say, without a code, when a connection dies or a call times out. */
const DRIVER_MESSAGES = /^(Connection terminated|Query read timeout|timeout exceeded when trying to connect|Connection is closed|Command timed out|Reached the max retries per request limit)/;
/**
 * Neon's HTTP driver turns every answer but a 400 into a NeonDbError without a code, "Server error (HTTP
 * status N): …". Neon's endpoint answers 500 when it cannot reach or start the compute ("Couldn't
 * connect to compute node"), and a gateway in front of it 502/503/504; 429 is its rate limit. 507 is a
 * response too large for the endpoint, which is the query's fault, so it is not an outage.
 */
const NEON_UNAVAILABLE_STATUS = /^Server error \(HTTP status (429|50[0-689]|5[1-9]\d)\)/;
/**
 * A 400 from Neon without a SQLSTATE, when the compute's connection broke mid-query: the endpoint relays
 * its Postgres client's text (a 400 with a code is Postgres speaking, and the code decides).
 */
const NEON_CONNECTION_LOST = /^(connection closed|error communicating with the server)/;

/**
 * Whether an error (or one of its causes) is a dependency failing rather than Opsbook or the request:
 * a client-side timeout, a refused or broken connection, or a server that says it cannot serve now.
 */
export function isDependencyFailure(err: unknown): boolean {
  // Neon's driver links the fetch error it wraps as `sourceError`, not `cause`.
  const next = (e: object) => (e as { cause?: unknown }).cause ?? (e as { sourceError?: unknown }).sourceError;
  for (let e = err, depth = 0; e && typeof e === 'object' && depth < 5; e = next(e), depth++) {
    const { name, code, message, errors } = e as { name?: unknown; code?: unknown; message?: unknown; errors?: unknown };
    if (name === 'TimeoutError') return true;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
    if (typeof message === 'string' && DRIVER_MESSAGES.test(message)) return true;
    // fetch (undici) rejects with exactly this for every network-level failure, whatever its cause.
    if (name === 'TypeError' && message === 'fetch failed') return true;
    if (name === 'NeonDbError' && typeof message === 'string' && !code && (NEON_UNAVAILABLE_STATUS.test(message) || NEON_CONNECTION_LOST.test(message))) return true;
    // A connection attempt to several addresses fails with all of them (AggregateError).
    if (Array.isArray(errors) && errors.length > 0 && errors.every((x) => isDependencyFailure(x))) return true;
  }
  return false;
}

function defaultLog(msg: string): void {
  console.error(msg);
}
