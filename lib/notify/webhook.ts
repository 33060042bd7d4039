import { createHmac, timingSafeEqual } from 'node:crypto';
import { envValue, excerpt, postJson, type Channel, type NotificationMessage } from './types.js';

/** The header carrying the signing time, in Unix seconds. */
export const TIMESTAMP_HEADER = 'x-opsbook-timestamp';
/** The header carrying `v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`. */
export const SIGNATURE_HEADER = 'x-opsbook-signature';
/** The header naming the notification: the same on every retry of it, for a receiver's deduplication. */
export const ID_HEADER = 'x-opsbook-notification-id';
/** How far a receiver should accept a timestamp from its own clock, in seconds (README: Notifications). */
export const REPLAY_WINDOW_SECONDS = 300;

/** The body a receiver gets: the message, with `id` (subject and event) and a `type`. */
export function webhookBody(m: NotificationMessage): string {
  const type = m.event === 'missed' ? 'checklist.missed' : m.event === 'open' ? 'incident.opened' : 'incident.resolved';
  return JSON.stringify({ id: `${m.subject}:${m.event}`, type, ...m });
}

/** `v1=<hex>`: HMAC-SHA256 with the shared secret over `<timestamp>.<raw body>`. */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  return `v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/**
 * What a receiver does with a delivery (README: Notifications): the timestamp is within the replay window
 * of its own clock, and the signature, computed over the raw body as received, matches in constant time.
 */
export function verifyWebhook(secret: string, headers: { timestamp?: string | null; signature?: string | null }, rawBody: string, nowMs: number, windowSeconds = REPLAY_WINDOW_SECONDS): { ok: true } | { ok: false; reason: string } {
  const ts = Number(headers.timestamp);
  if (!headers.timestamp || !Number.isInteger(ts)) return { ok: false, reason: 'missing or malformed timestamp' };
  if (Math.abs(nowMs / 1000 - ts) > windowSeconds) return { ok: false, reason: 'timestamp outside the replay window' };
  const expected = Buffer.from(webhookSignature(secret, ts, rawBody));
  const given = Buffer.from(headers.signature ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}

/** A generic webhook: the message as JSON, signed with the secret in `secretEnv`, to the URL in `urlEnv`. */
export function webhookChannel(name: string, config: { urlEnv: string; secretEnv: string }): Channel {
  return {
    name,
    type: 'webhook',
    async send(message, ctx) {
      const url = envValue(config.urlEnv);
      const secret = envValue(config.secretEnv);
      if (!url || !secret) return { kind: 'retry', error: `${!url ? config.urlEnv : config.secretEnv} is not set in this environment` };
      if (!/^https?:\/\/\S+$/.test(url)) return { kind: 'permanent', error: `${config.urlEnv} does not hold an http(s) URL` };
      const body = webhookBody(message);
      const timestamp = Math.floor(ctx.at.getTime() / 1000);
      const headers = { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: webhookSignature(secret, timestamp, body), [ID_HEADER]: `${message.subject}:${message.event}`, 'user-agent': 'Opsbook-Webhook/1' };
      return postJson(url, body, headers, ctx, (_s, text) => excerpt(text, 80));
    },
  };
}
