/**
 * A local Slack incoming webhook. Protocol, as Slack documents it for incoming webhooks:
 * - `POST /services/<team>/<bot>/<token>`; the URL is the credential. A body is JSON
 *   (`content-type: application/json`) or a form with a `payload` field holding the JSON.
 * - Accepted: `200 ok` (text). Refused, with the error code as the plain-text body: 400 `invalid_payload`
 *   (not JSON), 400 `no_text` (neither `text` nor `blocks`), 400 `invalid_blocks`, 403
 *   `action_prohibited`, 404 `no_service` (an unknown or revoked webhook), 404 `channel_not_found`, 410
 *   `channel_is_archived`, 429 with `Retry-After` (seconds; Slack allows about one message per second per
 *   webhook), 500 `rollup_error`.
 */
import { randomBytes } from 'node:crypto';
import { startSinkServer, type Answer, type Fault } from './http-sink.js';

export interface SlackMessage {
  text?: string;
  blocks?: unknown[];
  body: Record<string, unknown>;
}

export interface SlackSink {
  /** The webhook URL to configure (its path is the secret). */
  readonly webhookUrl: string;
  /** The secret part of the URL's path. */
  readonly token: string;
  readonly messages: SlackMessage[];
  readonly requests: number;
  /** Archive the channel (410 channel_is_archived) or revoke the webhook (404 no_service). */
  setState(state: 'ok' | 'archived' | 'revoked'): void;
  setFault(fault: Fault | null, count?: number): void;
  clear(): void;
  close(): Promise<void>;
}

const ERRORS: Record<number, string> = { 400: 'invalid_payload', 403: 'action_prohibited', 404: 'no_service', 410: 'channel_is_archived', 429: 'rate_limited', 500: 'rollup_error', 503: 'service_unavailable' };

export async function startSlackSink(): Promise<SlackSink> {
  const token = randomBytes(12).toString('hex');
  const path = `/services/T0OPSBOOK/B0OPSBOOK/${token}`;
  const messages: SlackMessage[] = [];
  let state: 'ok' | 'archived' | 'revoked' = 'ok';
  const refuse = (status: number, code: string): Answer => ({ status, body: code });
  const server = await startSinkServer(
    (req, raw) => {
      if (req.method !== 'POST') return refuse(405, 'invalid_method');
      if (new URL(req.url ?? '/', 'http://x').pathname !== path || state === 'revoked') return refuse(404, 'no_service');
      if (state === 'archived') return refuse(410, 'channel_is_archived');
      let text = raw;
      if ((req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) text = new URLSearchParams(raw).get('payload') ?? '';
      let body: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(text);
        if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
        body = parsed as Record<string, unknown>;
      } catch {
        return refuse(400, 'invalid_payload');
      }
      if (body.blocks !== undefined && !Array.isArray(body.blocks)) return refuse(400, 'invalid_blocks');
      const hasText = typeof body.text === 'string' && body.text.trim() !== '';
      if (!hasText && !(Array.isArray(body.blocks) && body.blocks.length)) return refuse(400, 'no_text');
      messages.push({ ...(hasText ? { text: body.text as string } : {}), ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}), body });
      return { status: 200, body: 'ok', headers: { 'content-type': 'text/html' } };
    },
    (status) => refuse(status, ERRORS[status] ?? 'unknown_error'),
  );
  return {
    webhookUrl: `${server.baseUrl}${path}`,
    token,
    messages,
    get requests() {
      return server.requests;
    },
    setState: (s) => void (state = s),
    setFault: server.setFault,
    clear() {
      messages.length = 0;
      server.resetRequests();
      state = 'ok';
    },
    close: server.close,
  };
}
