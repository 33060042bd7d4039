/** A network failure, described for people, and whether trying again could help. */
export interface NetError {
  /** ECONNREFUSED, ECONNRESET, ENOTFOUND, TIMEOUT, a TLS code… */
  code: string;
  /** "connection refused (ECONNREFUSED)". */
  message: string;
  timedOut: boolean;
  /** Transient network trouble (refused, reset, DNS, timeouts); never TLS certificate problems. */
  retryable: boolean;
}

const DESCRIPTIONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  EPIPE: 'connection closed while sending',
  ENOTFOUND: 'host not found (DNS)',
  EAI_AGAIN: 'DNS lookup failed temporarily',
  EAI_FAIL: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  ENETDOWN: 'network down',
  EADDRNOTAVAIL: 'address not available',
  UND_ERR_SOCKET: 'connection closed by the server',
  UND_ERR_CLOSED: 'connection closed',
  UND_ERR_CONNECT_TIMEOUT: 'connect timed out',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers in time',
  UND_ERR_BODY_TIMEOUT: 'response body stalled',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'response shorter than its Content-Length',
  HPE_INVALID_CONSTANT: 'not an HTTP response',
  HPE_INVALID_STATUS: 'invalid HTTP status line',
};

/** Certificate and TLS failures: a retry gets the same answer. */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO|ALTNAME|HOSTNAME|ERR_TLS|ERR_SSL|EPROTO/;

/** The code of a network error, looking through fetch's `TypeError: fetch failed` and AggregateErrors. */
export function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const o = e as { code?: unknown; cause?: unknown; errors?: unknown[] };
    if (typeof o.code === 'string' && o.code !== 'ERR_INVALID_ARG_TYPE') return o.code;
    if (Array.isArray(o.errors) && o.errors.length) e = o.errors[0];
    else e = o.cause;
  }
  return undefined;
}

export function timeoutError(ms: number): NetError {
  return { code: 'TIMEOUT', message: `no answer within ${ms} ms`, timedOut: true, retryable: true };
}

/** Describe a network error; undefined when `err` carries no network code (a bad URL or header: a bug in the config). */
export function netError(err: unknown): NetError | undefined {
  const code = errorCode(err);
  if (!code) return undefined;
  const text = DESCRIPTIONS[code] ?? (TLS_CODE.test(code) ? `TLS failure` : 'network error');
  return { code, message: `${text} (${code})`, timedOut: code === 'ETIMEDOUT' || code.endsWith('_TIMEOUT'), retryable: !TLS_CODE.test(code) };
}
