/**
 * A local Sentry ingest endpoint for tests: the unmodified `@sentry/node` SDK sends to it when initialised
 * with `dsn: sink.dsn` (`http://<publicKey>@127.0.0.1:PORT/<projectId>`).
 *
 * Protocol, as the SDK speaks it (read from @sentry/core `api.js`, `utils/envelope.js` and @sentry/node
 * `transports/http.js`):
 * - `POST /api/<projectId>/envelope/?sentry_version=7&sentry_key=<publicKey>&sentry_client=<name>/<version>`.
 *   Auth rides in the query string; no `X-Sentry-Auth` header is sent (we accept that header too).
 * - The body is an envelope: one JSON header line, then for each item a JSON item-header line followed by
 *   its payload. A payload is one line of JSON unless its item header carries `length`, in which case it is
 *   exactly that many bytes (attachments may contain newlines) followed by a newline.
 * - Bodies above 32 KiB are sent with `content-encoding: gzip`.
 * - Any non-2xx status makes the SDK drop the envelope (it does not retry). A 429, or any response with
 *   `retry-after` / `x-sentry-rate-limits`, also makes the SDK drop everything client-side for that long
 *   (60 s when no header says otherwise), so a 429 fault keeps affecting the client after `setFault(null)`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

export interface SentryItem {
  type: string;
  header: Record<string, unknown>;
  /** JSON-parsed payload; a Buffer when the item is binary or not JSON (e.g. attachments). */
  payload: any;
  /** The header of the envelope this item came in (event_id, sent_at, sdk, trace, ...). */
  envelope: Record<string, unknown>;
}

export interface SentrySink {
  /** `http://<publicKey>@127.0.0.1:PORT/<projectId>`, ready for `Sentry.init({ dsn })`. */
  readonly dsn: string;
  /** Every item received, in order (faulted or rejected requests store nothing). */
  readonly items: SentryItem[];
  /** Envelope POSTs received since the last clear(), faulted and rejected ones included: shows the SDK tried. */
  readonly requests: number;
  /** Payloads of items of type "event" (errors and messages). */
  events(): any[];
  /** Payloads of items of type "check_in". */
  checkIns(): any[];
  clear(): void;
  /** Resolve when pred(items) is true, or reject after timeoutMs (default 5000). */
  waitFor(pred: (items: SentryItem[]) => boolean, timeoutMs?: number): Promise<void>;
  /**
   * Answer every request with this status (e.g. 500, 429) instead of 200; null restores.
   * A 429 carries `retry-after: <retryAfterSeconds>` (default 1), which the SDK obeys by dropping
   * everything it captures for that long.
   */
  setFault(status: number | null, opts?: { retryAfterSeconds?: number }): void;
  close(): Promise<void>;
}

export interface SentrySinkOptions {
  /** Port to listen on; default 0 (an ephemeral port). */
  port?: number;
  /** The DSN's public key; requests carrying another `sentry_key` get 403. Default "public". */
  publicKey?: string;
  /** The DSN's project id; other paths get 404. Default "1". */
  projectId?: string;
}

/** Parse an envelope body into its header and items, following the SDK's own serialisation rules. */
export function parseEnvelope(body: Buffer): { header: Record<string, unknown>; items: Omit<SentryItem, 'envelope'>[] } {
  let rest = body;
  // Reads up to the next newline (or the end) and consumes the newline.
  const readLine = (): Buffer => {
    let end = rest.indexOf(10);
    if (end < 0) end = rest.length;
    const line = rest.subarray(0, end);
    rest = rest.subarray(end + 1);
    return line;
  };
  const header = JSON.parse(readLine().toString('utf8')) as Record<string, unknown>;
  const items: Omit<SentryItem, 'envelope'>[] = [];
  // A trailing newline (or blank lines some senders add) is not an item.
  while (rest.toString('utf8').trim().length > 0) {
    const lineText = readLine().toString('utf8');
    if (lineText.trim() === '') continue;
    const itemHeader = JSON.parse(lineText) as Record<string, unknown>;
    let raw: Buffer;
    if (typeof itemHeader.length === 'number') {
      if (itemHeader.length > rest.length) throw new Error(`item length ${itemHeader.length} exceeds the body`);
      raw = rest.subarray(0, itemHeader.length);
      rest = rest.subarray(itemHeader.length + 1);
    } else {
      raw = readLine();
    }
    items.push({ type: String(itemHeader.type), header: itemHeader, payload: decodePayload(itemHeader, raw) });
  }
  return { header, items };
}

function decodePayload(itemHeader: Record<string, unknown>, raw: Buffer): unknown {
  // Only JSON-typed payloads are parsed: a text attachment "42" must stay bytes, not become a number.
  const contentType = itemHeader.content_type;
  if (contentType !== undefined && contentType !== 'application/json') return Buffer.from(raw);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    return Buffer.from(raw);
  }
}

function decodeBody(body: Buffer, encoding: string | undefined): Buffer {
  switch ((encoding ?? '').trim().toLowerCase()) {
    case '':
    case 'identity':
      return body;
    case 'gzip':
    case 'x-gzip':
      return gunzipSync(body);
    case 'deflate':
      return inflateSync(body);
    case 'br':
      return brotliDecompressSync(body);
    default:
      throw new Error(`unsupported content-encoding ${encoding}`);
  }
}

/** The sentry_key from the query string or, failing that, from an `X-Sentry-Auth` header. */
function sentryKeyOf(req: IncomingMessage, url: URL): string | undefined {
  const fromQuery = url.searchParams.get('sentry_key');
  if (fromQuery) return fromQuery;
  const auth = req.headers['x-sentry-auth'];
  const match = typeof auth === 'string' ? /sentry_key=([^,\s]+)/.exec(auth) : null;
  return match?.[1];
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export async function startSentrySink(opts: SentrySinkOptions = {}): Promise<SentrySink> {
  const publicKey = opts.publicKey ?? 'public';
  const projectId = opts.projectId ?? '1';
  const items: SentryItem[] = [];
  let requests = 0;
  let fault: { status: number; retryAfterSeconds: number } | null = null;
  const waiters = new Set<{ check: () => void; fail: (err: Error) => void }>();

  const notify = (): void => {
    for (const waiter of [...waiters]) waiter.check();
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname.replace(/\/+$/, '');
    if (path !== `/api/${projectId}/envelope`) {
      reply(res, 404, { detail: `no route ${url.pathname}` });
      return;
    }
    if (req.method !== 'POST') {
      reply(res, 405, { detail: 'method not allowed' });
      return;
    }
    requests++;
    const raw = await readBody(req);
    if (fault) {
      const headers: Record<string, string> =
        fault.status === 429 ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      reply(res, fault.status, { detail: 'fault injected by sentry sink' }, headers);
      return;
    }
    const key = sentryKeyOf(req, url);
    if (!key) {
      reply(res, 401, { detail: 'missing authorization information' });
      return;
    }
    if (key !== publicKey) {
      reply(res, 403, { detail: 'invalid api key' });
      return;
    }
    let parsed: ReturnType<typeof parseEnvelope>;
    try {
      parsed = parseEnvelope(decodeBody(raw, req.headers['content-encoding']));
    } catch (err) {
      reply(res, 400, { detail: `invalid envelope: ${(err as Error).message}` });
      return;
    }
    for (const item of parsed.items) items.push({ ...item, envelope: parsed.header });
    reply(res, 200, { id: parsed.header.event_id ?? null });
    notify();
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) reply(res, 500, { detail: String(err) });
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    dsn: `http://${publicKey}@127.0.0.1:${port}/${projectId}`,
    items,
    get requests() {
      return requests;
    },
    events: () => items.filter((i) => i.type === 'event').map((i) => i.payload),
    checkIns: () => items.filter((i) => i.type === 'check_in').map((i) => i.payload),
    clear() {
      // Mutate in place so references to `sink.items` taken earlier stay live.
      items.length = 0;
      requests = 0;
    },
    waitFor(pred, timeoutMs = 5000) {
      return new Promise<void>((resolve, reject) => {
        const waiter = {
          check: () => {
            let done: boolean;
            try {
              done = pred(items);
            } catch (err) {
              finish();
              reject(err as Error);
              return;
            }
            if (done) {
              finish();
              resolve();
            }
          },
          fail: (err: Error) => {
            finish();
            reject(err);
          },
        };
        const timer = setTimeout(() => {
          const seen = items.map((i) => i.type).join(', ') || 'none';
          waiter.fail(new Error(`sentry sink: condition not met within ${timeoutMs} ms (items: ${seen})`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(waiter);
        };
        waiters.add(waiter);
        waiter.check();
      });
    },
    setFault(status, faultOpts = {}) {
      fault = status === null ? null : { status, retryAfterSeconds: faultOpts.retryAfterSeconds ?? 1 };
    },
    close() {
      for (const waiter of [...waiters]) waiter.fail(new Error('sentry sink closed'));
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // The SDK's transport keeps connections alive; without this, close() waits for them to idle out.
        server.closeAllConnections();
      });
    },
  };
}
