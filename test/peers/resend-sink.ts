/**
 * A local Resend API for tests: the unmodified `resend` SDK (v6) sends to it.
 *
 * How to point the SDK here (read from resend's `dist/index.mjs`): the base URL is resolved in the
 * `Resend` constructor, not at import time — `options.baseUrl` if given, else `process.env.RESEND_BASE_URL`,
 * else `https://api.resend.com`. So either `new Resend(key, { baseUrl: sink.baseUrl })` or set
 * `RESEND_BASE_URL` before constructing the client; a client constructed earlier (e.g. a module-level
 * singleton created before the test set the variable) keeps talking to the real API. Passing `baseUrl`
 * explicitly is the robust choice. The SDK concatenates `${baseUrl}${path}`, so no trailing slash.
 * The constructor also throws when neither the key argument nor `RESEND_API_KEY` is set, so the SDK can
 * never send a request without `Authorization`.
 *
 * What `resend.emails.send(payload, { idempotencyKey })` does: `POST /emails` with a JSON body in the API's
 * snake_case (from, to, subject, html, text, headers, tags, cc, bcc, reply_to, scheduled_at, attachments,
 * template, topic_id; undefined fields dropped), headers `Authorization: Bearer <key>`,
 * `Content-Type: application/json`, `User-Agent: resend-node:<version>` and `Idempotency-Key` when given.
 * A 2xx body is returned as `{ data: <json>, error: null }` (data is `{ id }` here). A non-2xx body that is
 * JSON is returned verbatim as `{ data: null, error: <json> }`, so error bodies must have Resend's shape
 * `{ statusCode, name, message }`; a non-JSON error body becomes `name: "application_error"`. The SDK never
 * throws for HTTP or network failures and never retries.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SentEmail {
  id: string;
  from: string;
  to: string[];
  subject: string;
  html?: string;
  text?: string;
  headers?: Record<string, string>;
  tags?: { name: string; value: string }[];
  cc?: string[];
  bcc?: string[];
  replyTo?: string[];
  idempotencyKey?: string;
  apiKey: string;
  receivedAt: Date;
  /** The JSON body exactly as posted, for fields not lifted above. */
  body: Record<string, unknown>;
}

export interface ResendSink {
  /** `http://127.0.0.1:PORT`, for `new Resend(key, { baseUrl })` or `RESEND_BASE_URL`. */
  readonly baseUrl: string;
  /** Emails accepted, in order; an idempotent replay does not add one. */
  readonly emails: SentEmail[];
  /** HTTP requests received since the last clear(), faulted, rejected and replayed ones included. */
  readonly requests: number;
  /** Forget emails, the request count and stored idempotency keys (the fault setting stays). */
  clear(): void;
  /**
   * The next `count` requests (default: all until cleared with null) answer this status with a Resend-style
   * error JSON (500 → internal_server_error, 429 → rate_limit_exceeded, with a retry-after header for 429).
   * A faulted request stores nothing, idempotency key included, so a retry with the same key is processed.
   */
  setFault(status: number | null, count?: number): void;
  close(): Promise<void>;
}

export interface ResendSinkOptions {
  /** Port to listen on; default 0 (an ephemeral port). */
  port?: number;
  /** When given, only these API keys are accepted; others get 403 invalid_api_key. Default: any non-empty key. */
  apiKeys?: string[];
  /** Clock for `receivedAt`; default the wall clock. */
  now?: () => Date;
}

/** Resend's error names for the statuses a fault can inject (from its API error reference). */
const FAULT_NAMES: Record<number, { name: string; message: string }> = {
  400: { name: 'validation_error', message: 'We found an error with one or more fields in the request.' },
  401: { name: 'missing_api_key', message: 'Missing API key in the authorization header.' },
  403: { name: 'invalid_api_key', message: 'API key is invalid.' },
  404: { name: 'not_found', message: 'The requested endpoint does not exist.' },
  405: { name: 'method_not_allowed', message: 'Method is not allowed for the requested path.' },
  409: { name: 'concurrent_idempotent_requests', message: 'Same idempotency key used while original request is still in progress.' },
  422: { name: 'validation_error', message: 'We found an error with one or more fields in the request.' },
  429: { name: 'rate_limit_exceeded', message: 'Too many requests. Please limit the number of requests per second.' },
  451: { name: 'security_error', message: 'We may have found a security issue with the request.' },
  500: { name: 'internal_server_error', message: 'An unexpected error occurred.' },
};

class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    override readonly name: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** JSON with object keys sorted, so two bodies that differ only in key order count as the same request. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const asList = (v: unknown): string[] | undefined =>
  v === undefined || v === null ? undefined : Array.isArray(v) ? v.map(String) : [String(v)];

// Resend accepts `email@example.com` or `Name <email@example.com>`.
const FROM_PATTERN = /^(?:[^<>]*<\s*[^\s@<>]+@[^\s@<>]+\s*>|[^\s@<>]+@[^\s@<>]+)$/;

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: ApiError): void {
  send(res, err.statusCode, { statusCode: err.statusCode, name: err.name, message: err.message }, err.headers);
}

export async function startResendSink(opts: ResendSinkOptions = {}): Promise<ResendSink> {
  const now = opts.now ?? (() => new Date());
  const emails: SentEmail[] = [];
  // Idempotency-Key → the request it first accompanied and the response it got.
  const idempotent = new Map<string, { fingerprint: string; status: number; body: unknown }>();
  let requests = 0;
  let fault: { status: number; remaining: number } | null = null;

  const authenticate = (req: IncomingMessage): string => {
    const header = req.headers.authorization ?? '';
    const key = /^Bearer\s+(.*)$/i.exec(header)?.[1]?.trim() ?? '';
    if (!key || key === 'undefined') throw new ApiError(401, 'missing_api_key', FAULT_NAMES[401]!.message);
    if (opts.apiKeys && !opts.apiKeys.includes(key)) throw new ApiError(403, 'invalid_api_key', FAULT_NAMES[403]!.message);
    return key;
  };

  const validate = (body: Record<string, unknown>): void => {
    const missing = (field: string) => new ApiError(422, 'missing_required_field', `Missing \`${field}\` field.`);
    if (typeof body.from !== 'string' || body.from === '') throw missing('from');
    if (!FROM_PATTERN.test(body.from.trim())) {
      throw new ApiError(422, 'invalid_from_address', 'Invalid `from` field. The email address needs to follow the `email@example.com` or `Name <email@example.com>` format.');
    }
    const to = asList(body.to);
    if (!to || to.length === 0) throw missing('to');
    if (body.template === undefined && (typeof body.subject !== 'string' || body.subject === '')) throw missing('subject');
  };

  const sendEmail = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const apiKey = authenticate(req);
    const idempotencyKey = req.headers['idempotency-key'];
    if (typeof idempotencyKey === 'string' && (idempotencyKey.length < 1 || idempotencyKey.length > 256)) {
      throw new ApiError(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
    }
    let body: Record<string, unknown>;
    try {
      const parsed: unknown = JSON.parse(await readBody(req));
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      body = parsed as Record<string, unknown>;
    } catch {
      throw new ApiError(400, 'validation_error', 'The request body must be a JSON object.');
    }

    const fingerprint = canonicalJson(body);
    if (typeof idempotencyKey === 'string') {
      const previous = idempotent.get(idempotencyKey);
      if (previous) {
        if (previous.fingerprint !== fingerprint) {
          throw new ApiError(409, 'invalid_idempotent_request', 'Same idempotency key used with a different request payload.');
        }
        send(res, previous.status, previous.body);
        return;
      }
    }

    // Only accepted emails claim the key: Resend does not cache validation failures, so a corrected
    // request with the same key goes through.
    validate(body);
    const email: SentEmail = {
      id: randomUUID(),
      from: String(body.from),
      to: asList(body.to) ?? [],
      subject: typeof body.subject === 'string' ? body.subject : '',
      ...(typeof body.html === 'string' && { html: body.html }),
      ...(typeof body.text === 'string' && { text: body.text }),
      ...(body.headers !== undefined && { headers: body.headers as Record<string, string> }),
      ...(Array.isArray(body.tags) && { tags: body.tags as { name: string; value: string }[] }),
      ...(body.cc !== undefined && { cc: asList(body.cc) }),
      ...(body.bcc !== undefined && { bcc: asList(body.bcc) }),
      ...(body.reply_to !== undefined && { replyTo: asList(body.reply_to) }),
      ...(typeof idempotencyKey === 'string' && { idempotencyKey }),
      apiKey,
      receivedAt: now(),
      body,
    };
    emails.push(email);
    const response = { id: email.id };
    if (typeof idempotencyKey === 'string') idempotent.set(idempotencyKey, { fingerprint, status: 200, body: response });
    send(res, 200, response);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests++;
    if (fault) {
      const { status } = fault;
      fault.remaining--;
      if (fault.remaining <= 0) fault = null;
      req.resume();
      const known = FAULT_NAMES[status] ?? { name: 'application_error', message: 'Fault injected by resend sink.' };
      const headers: Record<string, string> = status === 429 ? { 'retry-after': '1', 'ratelimit-limit': '2', 'ratelimit-remaining': '0', 'ratelimit-reset': '1' } : {};
      throw new ApiError(status, known.name, known.message, headers);
    }
    // The SDK joins base URL and path by concatenation; tolerate a doubled slash from a trailing one.
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1');
    if (path === '/emails') {
      if (req.method !== 'POST') throw new ApiError(405, 'method_not_allowed', 'The resend sink supports only POST /emails.');
      await sendEmail(req, res);
      return;
    }
    req.resume();
    throw new ApiError(404, 'not_found', `The resend sink does not implement ${req.method} ${path}.`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const apiError = err instanceof ApiError ? err : new ApiError(500, 'internal_server_error', String(err));
      if (!res.headersSent) sendError(res, apiError);
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
    baseUrl: `http://127.0.0.1:${port}`,
    emails,
    get requests() {
      return requests;
    },
    clear() {
      // In place, so references to `sink.emails` taken earlier stay live.
      emails.length = 0;
      idempotent.clear();
      requests = 0;
    },
    setFault(status, count) {
      fault = status === null ? null : { status, remaining: count ?? Number.POSITIVE_INFINITY };
    },
    close() {
      return new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // fetch keeps connections alive; without this, close() waits for them to idle out.
        server.closeAllConnections();
      });
    },
  };
}
