/**
 * A receiver of Opsbook's signed webhook, verifying each delivery as the README tells a real receiver to,
 * written from that text and not from lib/notify/webhook.ts:
 * - `x-opsbook-timestamp` is Unix seconds within 300 s of the receiver's own clock (else 401: a replay);
 * - `x-opsbook-signature` is `v1=` + hex HMAC-SHA256(secret, `<timestamp>.<raw body>`), compared in
 *   constant time (else 401);
 * - the body is JSON with an `id` (else 400); a delivery whose id was already accepted is acknowledged
 *   (200) and not processed again.
 * Faults answer 500, 429 (with Retry-After), 400, or hang.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { startSinkServer, type Fault } from './http-sink.js';

export interface WebhookDelivery {
  id: string;
  body: Record<string, unknown>;
  timestamp: number;
}

export interface WebhookSink {
  /** The receiver's URL, with a secret path segment (as many receivers have). */
  readonly url: string;
  readonly pathSecret: string;
  readonly secret: string;
  /** Verified, first-seen deliveries. */
  readonly messages: WebhookDelivery[];
  /** Why deliveries were refused (bad signature, stale timestamp, malformed body). */
  readonly rejected: string[];
  readonly requests: number;
  setFault(fault: Fault | null, count?: number): void;
  clear(): void;
  close(): Promise<void>;
}

export async function startWebhookSink(opts: { now?: () => Date; secret?: string } = {}): Promise<WebhookSink> {
  const secret = opts.secret ?? randomBytes(24).toString('base64url');
  const pathSecret = randomBytes(10).toString('hex');
  const now = opts.now ?? (() => new Date());
  const messages: WebhookDelivery[] = [];
  const rejected: string[] = [];
  const seen = new Set<string>();
  const refuse = (status: number, reason: string) => (rejected.push(reason), { status, body: JSON.stringify({ error: reason }), headers: { 'content-type': 'application/json' } });
  const server = await startSinkServer(
    (req, raw) => {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== `/hooks/${pathSecret}`) return refuse(404, 'not found');
      const tsHeader = String(req.headers['x-opsbook-timestamp'] ?? '');
      const signature = String(req.headers['x-opsbook-signature'] ?? '');
      if (!/^\d+$/.test(tsHeader)) return refuse(401, 'missing timestamp');
      const ts = Number(tsHeader);
      if (Math.abs(now().getTime() / 1000 - ts) > 300) return refuse(401, 'stale timestamp');
      const expected = Buffer.from(`v1=${createHmac('sha256', secret).update(`${tsHeader}.${raw}`).digest('hex')}`);
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse(401, 'bad signature');
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
        if (typeof body.id !== 'string') throw new Error('no id');
      } catch {
        return refuse(400, 'malformed body');
      }
      if (!seen.has(body.id as string)) {
        seen.add(body.id as string);
        messages.push({ id: body.id as string, body, timestamp: ts });
      }
      return { status: 200, body: '{"received":true}', headers: { 'content-type': 'application/json' } };
    },
    (status) => ({ status, body: JSON.stringify({ error: status === 429 ? 'slow down' : status === 400 ? 'malformed body' : 'receiver error' }), headers: { 'content-type': 'application/json' } }),
  );
  return {
    url: `${server.baseUrl}/hooks/${pathSecret}`,
    pathSecret,
    secret,
    messages,
    rejected,
    get requests() {
      return server.requests;
    },
    setFault: server.setFault,
    clear() {
      messages.length = 0;
      rejected.length = 0;
      seen.clear();
      server.resetRequests();
    },
    close: server.close,
  };
}
