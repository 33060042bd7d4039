import { messageOf } from '../../errors.js';
import { netError, timeoutError, type NetError } from './errors.js';
import { redactUrl } from './redact.js';

/** Bodies are read up to this size: a health endpoint answering more is not read further. */
export const MAX_BODY_BYTES = 1024 * 1024;

export type FetchOutcome =
  | {
      kind: 'response';
      status: number;
      headers: Headers;
      /** Time to the response headers (time to first byte, as Gatus measures it). */
      latencyMs: number;
      /** The body (its first maxBytes), when readable. */
      body?: string;
      /** The body was longer than the limit; `body` holds its first MAX_BODY_BYTES. */
      truncated?: boolean;
      /** Reading the body failed after the headers had arrived. */
      bodyError?: NetError;
    }
  | { kind: 'network'; error: NetError }
  /** The request could not be built (bad header value…): a config problem, not the target's. */
  | { kind: 'invalid'; message: string };

/**
 * One HTTP request with global fetch, bounded by `timeoutMs` from start to the end of the body read.
 * The connection is not kept for reuse (`Connection: close`), and the body is always read to its end
 * (up to `maxBytes`), even when nobody needs it: cancelling a body or aborting a request mid-flight
 * makes Node's bundled undici open a spare idle connection to the origin (nodejs/undici#5845), so the
 * normal path never aborts. `needBody: false` only means a body that cannot be read does not matter.
 * Never throws.
 */
export async function fetchOnce(
  url: string,
  init: RequestInit & { headers?: Record<string, string> },
  opts: { timeoutMs: number; needBody: boolean; maxBytes?: number },
): Promise<FetchOutcome> {
  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, opts.timeoutMs);
  const headers: Record<string, string> = { ...init.headers };
  if (!Object.keys(headers).some((h) => h.toLowerCase() === 'connection')) headers.connection = 'close';
  const started = performance.now();
  try {
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: controller.signal });
    } catch (err) {
      if (timedOut) return { kind: 'network', error: timeoutError(opts.timeoutMs) };
      const error = netError(err);
      return error ? { kind: 'network', error } : { kind: 'invalid', message: messageOf(err) };
    }
    const latencyMs = Math.round((performance.now() - started) * 10) / 10;
    const out: FetchOutcome & { kind: 'response' } = { kind: 'response', status: res.status, headers: res.headers, latencyMs };
    if (!res.body) return out;
    try {
      const { text, truncated } = await readLimited(res.body, opts.maxBytes ?? MAX_BODY_BYTES);
      out.body = text;
      if (truncated) out.truncated = true;
    } catch (err) {
      if (!opts.needBody) return out;
      out.bodyError = timedOut ? timeoutError(opts.timeoutMs) : (netError(err) ?? { code: 'BODY', message: `body unreadable: ${messageOf(err)}`, timedOut: false, retryable: false });
    }
    return out;
  } finally {
    clearTimeout(timer);
  }
}

/** Read a stream up to `max` bytes; the rest is cancelled, which closes the connection. */
async function readLimited(body: ReadableStream<Uint8Array>, max: number): Promise<{ text: string; truncated: boolean }> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        done = true;
        break;
      }
      if (size + r.value.byteLength > max) {
        chunks.push(r.value.subarray(0, max - size));
        size = max;
        break;
      }
      chunks.push(r.value);
      size += r.value.byteLength;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => undefined);
  }
  return { text: new TextDecoder().decode(Buffer.concat(chunks)), truncated: !done };
}

/**
 * The URL as a summary, detail, title or hint shows it: through the one redaction (redact.ts), so no
 * userinfo and no credential-named parameter's value.
 */
export function displayUrl(url: string): string {
  return redactUrl(url);
}

/** The URL without userinfo, to fetch (fetch refuses credentials in a URL; they go as Basic auth). */
export function withoutUserinfo(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}
