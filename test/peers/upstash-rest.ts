/**
 * A local Upstash Redis REST API in front of a real Redis, so the unmodified `Redis` client from
 * `@upstash/redis` can be tested without the cloud service.
 *
 * What the client (1.39) sends, and what this peer therefore answers:
 * - `POST /` with a JSON array body (`["set","k","v"]`): one command → `{"result": …}`; a Redis error
 *   reply → HTTP 400 `{"error":"ERR …"}`.
 * - `POST /pipeline` with an array of command arrays → HTTP 200 and an array of `{result}` | `{error}`,
 *   one slot per command (a failed command does not fail its neighbours). The client's
 *   auto-pipelining (on by default) sends even single commands this way.
 * - `POST /multi-exec`: the same shape, run as MULTI/EXEC. If the transaction is discarded as a
 *   whole (a command rejected while queueing, or an unsupported command), the answer is HTTP 400 and
 *   a single `{"error": …}`.
 * - `GET|HEAD|POST|PUT /cmd/arg1/arg2?opt=val`: path-style commands for curl users; a POST/PUT body
 *   is appended as the last argument, then query parameters (except `_token`) as `name value`.
 * - Auth: `Authorization: Bearer <token>` or `?_token=`; anything else → 401 `{"error":"Unauthorized"}`.
 * - `Upstash-Encoding: base64` (the client's default): every string in the result is base64 of its
 *   raw bytes, nested arrays included; integers and null stay as they are, error messages are plain,
 *   and a top-level "OK" stays "OK" (Upstash documents that exception, the client decodes either).
 * - Every answer carries an `upstash-sync-token` header: the client (readYourWrites, on by default)
 *   stores it and sends it back on the next request. One Redis behind one connection is always
 *   read-your-writes consistent, so the peer hands out a counter and ignores what comes back.
 * The client's `Upstash-Telemetry-*` headers are accepted and ignored, as the service ignores them
 * for behaviour.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis as IORedis } from 'ioredis';

export interface UpstashPeerOptions {
  /** Real Redis to forward to. @default "redis://127.0.0.1:6379" */
  upstream?: string;
  /** The token clients must present. @default a random string */
  token?: string;
  /** Extra latency added to every HTTP request, in ms. @default 0 */
  latencyMs?: number;
  /** @default 0 (a free port) */
  port?: number;
}

export interface UpstashPeer {
  readonly url: string;
  readonly token: string;
  /** Number of HTTP requests served (round trips). */
  readonly requests: number;
  resetCount(): void;
  /** Every following request answers this HTTP status with a JSON error body; null restores service. */
  setFault(status: number | null): void;
  close(): Promise<void>;
}

/**
 * Commands the real service refuses, answered with its own wording so code can tell "not supported
 * by Upstash" apart from a failure. Modelled on Upstash's compatibility page; not exhaustive.
 * - Connection state, meaningless when every HTTP request may land on another connection:
 *   SELECT, AUTH, HELLO, RESET, QUIT, CLIENT. (Forwarding these would also corrupt the peer's
 *   shared upstream connection.)
 * - MULTI/EXEC/DISCARD/WATCH/UNWATCH as plain commands: transactions go through `/multi-exec`.
 * - MONITOR and pub/sub subscriptions (the real service streams SUBSCRIBE over server-sent events;
 *   this peer does not implement that).
 * - Server administration and replication: CONFIG, SLOWLOG, LATENCY, DEBUG, SHUTDOWN, SAVE, BGSAVE,
 *   BGREWRITEAOF, REPLICAOF, SLAVEOF, SYNC, PSYNC, ROLE, MODULE, CLUSTER, FAILOVER, SWAPDB.
 */
const UNSUPPORTED = new Set([
  'SELECT', 'AUTH', 'HELLO', 'RESET', 'QUIT', 'CLIENT',
  'MULTI', 'EXEC', 'DISCARD', 'WATCH', 'UNWATCH',
  'MONITOR', 'SUBSCRIBE', 'PSUBSCRIBE', 'SSUBSCRIBE', 'UNSUBSCRIBE', 'PUNSUBSCRIBE', 'SUNSUBSCRIBE',
  'CONFIG', 'SLOWLOG', 'LATENCY', 'DEBUG', 'SHUTDOWN', 'SAVE', 'BGSAVE', 'BGREWRITEAOF',
  'REPLICAOF', 'SLAVEOF', 'SYNC', 'PSYNC', 'ROLE', 'MODULE', 'CLUSTER', 'FAILOVER', 'SWAPDB',
]);

/** Commands that can park a connection: they get a connection of their own so others keep flowing. */
const BLOCKING = new Set(['BLPOP', 'BRPOP', 'BRPOPLPUSH', 'BLMOVE', 'BLMPOP', 'BZPOPMIN', 'BZPOPMAX', 'BZMPOP']);

/** Upstash's wording for a refused command (the name as the service prints it: upper case). */
function unavailable(name: string): string {
  return `ERR Command is not available: '${name}'. See https://upstash.com/docs/redis/overall/rediscompatibility for details`;
}

/** Request bodies above this are refused, so a runaway test cannot exhaust memory. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;

type Json = string | number | null | Json[];
type Slot = { result: Json } | { error: string };

/** A command as parsed from a request: upper-case name plus binary-safe arguments. */
interface ParsedCommand {
  name: string;
  args: Buffer[];
}

/** A request the peer rejects before Redis sees it, with the HTTP status to answer. */
class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function isReplyError(err: unknown): err is Error {
  return err instanceof Error && err.name === 'ReplyError';
}

function parseCommand(raw: unknown): ParsedCommand {
  if (!Array.isArray(raw) || raw.length === 0) throw new HttpError(400, 'ERR failed to parse command');
  const parts = raw.map((v: unknown) => {
    // The client serialises objects to JSON itself; numbers and booleans arrive as JSON scalars.
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean') return Buffer.from(String(v));
    throw new HttpError(400, 'ERR failed to parse command');
  });
  const [name, ...args] = parts as [Buffer, ...Buffer[]];
  return { name: name.toString('utf8').toUpperCase(), args };
}

function isBlocking(cmd: ParsedCommand): boolean {
  if (BLOCKING.has(cmd.name)) return true;
  // XREAD/XREADGROUP only block with a BLOCK option.
  return (cmd.name === 'XREAD' || cmd.name === 'XREADGROUP') && cmd.args.some((a) => a.toString('latin1').toUpperCase() === 'BLOCK');
}

/**
 * RESP2 reply → JSON: integers stay numbers, nil becomes null, arrays recurse, bulk/simple strings
 * become text (utf8, or base64 of the raw bytes when the client asked for it).
 */
function toJson(value: unknown, base64: boolean, top: boolean): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (Array.isArray(value)) return value.map((v: unknown) => toJson(v, base64, false));
  // An error nested in an array (EXEC slots, some script replies) is still a string to the client.
  const bytes = Buffer.isBuffer(value)
    ? value
    : Buffer.from(value instanceof Error ? value.message : String(value), 'utf8');
  if (!base64) return bytes.toString('utf8');
  if (top && bytes.length === 2 && bytes.toString('latin1') === 'OK') return 'OK';
  return bytes.toString('base64');
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on('end', () =>
      size > MAX_BODY_BYTES ? reject(new HttpError(413, 'ERR request body too large')) : resolve(Buffer.concat(chunks)),
    );
    req.on('error', reject);
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'ERR failed to parse command');
  }
}

function sameToken(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export async function startUpstashPeer(opts: UpstashPeerOptions = {}): Promise<UpstashPeer> {
  const token = opts.token ?? randomBytes(24).toString('base64url');
  const latencyMs = opts.latencyMs ?? 0;
  // lazyConnect + connect() so an unreachable upstream fails startup instead of every request;
  // few retries so a Redis that goes away fails requests quickly rather than queueing them.
  const redis = new IORedis(opts.upstream ?? 'redis://127.0.0.1:6379', { lazyConnect: true, maxRetriesPerRequest: 2 });
  // Upstream errors surface per command; without a listener ioredis would also print them.
  redis.on('error', () => {});
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const dedicated = new Set<IORedis>();

  let requests = 0;
  let fault: number | null = null;
  let syncToken = 0;

  /** Runs `fn` on the shared connection, or on a fresh one when a command could block it. */
  async function withConnection<T>(blocking: boolean, fn: (conn: IORedis) => Promise<T>): Promise<T> {
    if (!blocking) return fn(redis);
    const conn = redis.duplicate();
    conn.on('error', () => {});
    dedicated.add(conn);
    try {
      return await fn(conn);
    } finally {
      dedicated.delete(conn);
      conn.disconnect();
    }
  }

  async function single(cmd: ParsedCommand, base64: boolean): Promise<[number, Slot]> {
    if (UNSUPPORTED.has(cmd.name)) return [400, { error: unavailable(cmd.name) }];
    try {
      // Upper-case names also keep ioredis from reshaping replies (it turns a lower-case
      // "hgetall" reply into an object); callBuffer keeps every bulk string as raw bytes.
      const reply = await withConnection(isBlocking(cmd), (conn) => conn.callBuffer(cmd.name, ...cmd.args));
      return [200, { result: toJson(reply, base64, true) }];
    } catch (err) {
      if (isReplyError(err)) return [400, { error: err.message }];
      throw err;
    }
  }

  async function pipeline(cmds: ParsedCommand[], base64: boolean): Promise<Slot[]> {
    const slots: (Slot | undefined)[] = cmds.map((c) =>
      UNSUPPORTED.has(c.name) ? { error: unavailable(c.name) } : undefined,
    );
    const toSend = cmds.filter((_, i) => slots[i] === undefined);
    if (toSend.length > 0) {
      const out = await withConnection(toSend.some(isBlocking), (conn) => {
        const p = conn.pipeline();
        for (const c of toSend) p.callBuffer(c.name, ...c.args);
        return p.exec();
      });
      let j = 0;
      for (let i = 0; i < slots.length; i++) {
        if (slots[i] !== undefined) continue;
        const [err, reply] = out?.[j++] ?? [new Error('ERR no reply from upstream'), null];
        if (err && !isReplyError(err)) throw err;
        slots[i] = err ? { error: err.message } : { result: toJson(reply, base64, true) };
      }
    }
    return slots as Slot[];
  }

  async function transaction(cmds: ParsedCommand[], base64: boolean): Promise<[number, Slot | Slot[]]> {
    // The real service rejects the whole transaction before running any of it.
    const refused = cmds.find((c) => UNSUPPORTED.has(c.name));
    if (refused) return [400, { error: unavailable(refused.name) }];
    // One ioredis pipeline is written to the socket in one go, so nothing from other HTTP requests
    // lands between MULTI and EXEC on the shared connection.
    const p = redis.pipeline();
    p.callBuffer('MULTI');
    for (const c of cmds) p.callBuffer(c.name, ...c.args);
    p.callBuffer('EXEC');
    const out = (await p.exec()) ?? [];
    const [execErr, execReply] = out[out.length - 1] ?? [new Error('ERR no reply from upstream'), null];
    if (execErr) {
      if (!isReplyError(execErr)) throw execErr;
      // EXECABORT: a command was refused while queueing, so nothing ran.
      return [400, { error: execErr.message }];
    }
    if (!Array.isArray(execReply)) return [400, { error: 'EXECABORT Transaction discarded' }];
    return [
      200,
      execReply.map((reply: unknown): Slot =>
        reply instanceof Error ? { error: reply.message } : { result: toJson(reply, base64, true) },
      ),
    ];
  }

  function send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      'upstash-sync-token': String(++syncToken),
    });
    res.end(text);
  }

  async function route(req: IncomingMessage, body: Buffer): Promise<[number, unknown]> {
    const method = req.method ?? 'GET';
    if (!['GET', 'HEAD', 'POST', 'PUT'].includes(method)) return [405, { error: 'Method Not Allowed' }];
    const url = new URL(req.url ?? '/', 'http://peer');
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const presented = bearer ?? url.searchParams.get('_token') ?? '';
    if (!sameToken(presented, token)) return [401, { error: 'Unauthorized' }];

    const base64 = String(req.headers['upstash-encoding'] ?? '').toLowerCase() === 'base64';
    const hasBody = method === 'POST' || method === 'PUT';
    const segments = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);

    if (segments.length === 0) {
      if (!hasBody) return [400, { error: 'ERR failed to parse command' }];
      return single(parseCommand(parseJson(body)), base64);
    }
    if (segments.length === 1 && (segments[0] === 'pipeline' || segments[0] === 'multi-exec')) {
      if (!hasBody) return [405, { error: 'Method Not Allowed' }];
      const raw = parseJson(body);
      if (!Array.isArray(raw) || raw.length === 0) throw new HttpError(400, 'ERR failed to parse command');
      const cmds = raw.map(parseCommand);
      return segments[0] === 'pipeline' ? [200, await pipeline(cmds, base64)] : transaction(cmds, base64);
    }
    // Path style: /set/foo/bar, with a POST body as the final argument and query options after it.
    const [name, ...args] = segments as [string, ...string[]];
    const cmd: ParsedCommand = { name: name.toUpperCase(), args: args.map((a) => Buffer.from(a, 'utf8')) };
    if (hasBody && body.length > 0) cmd.args.push(body);
    for (const [k, v] of url.searchParams) {
      if (k === '_token') continue;
      cmd.args.push(Buffer.from(k, 'utf8'));
      if (v !== '') cmd.args.push(Buffer.from(v, 'utf8'));
    }
    return single(cmd, base64);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests++;
    try {
      // Read the body first even when refusing, so the keep-alive connection stays usable.
      const body = await readBody(req);
      if (latencyMs > 0) await delay(latencyMs);
      if (fault !== null) return send(res, fault, { error: `ERR simulated fault: HTTP ${fault}` });
      const [status, payload] = await route(req, body);
      send(res, status, payload);
    } catch (err) {
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      // Upstream unreachable or a peer bug: the service would answer 5xx.
      send(res, 500, { error: `ERR ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    token,
    get requests() {
      return requests;
    },
    resetCount() {
      requests = 0;
    },
    setFault(status: number | null) {
      fault = status;
    },
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Clients keep HTTP connections alive; without this, close() waits for them to time out.
      server.closeAllConnections();
      await closed;
      for (const conn of dedicated) conn.disconnect();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
