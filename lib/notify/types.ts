import type { Severity } from '../config/schema.js';

/** The transitions a channel hears about: an incident opened or resolved, a checklist missed its run. */
export type NotificationEvent = 'open' | 'resolved' | 'missed';

/**
 * What one notification says, channel-independent: this is what is stored (opsbook.notifications.payload)
 * and rendered by each channel at send time, so no URL, key or secret is ever stored with it.
 */
export interface NotificationMessage {
  event: NotificationEvent;
  /** `<alert key>#<seq>` for an incident, `<checklist>@<period>` for a missed run: PagerDuty's dedup_key. */
  subject: string;
  service: string;
  checklist: string;
  severity: Severity;
  /** One line: what happened. */
  summary: string;
  /** When the transition was decided (ISO 8601). */
  at: string;
  /** The check, for incidents. */
  check?: string;
  title?: string;
  /** When the incident opened, on resolution too. */
  openedAt?: string;
  /** For a missed run: the period and when it was due. */
  period?: string;
  expectedAt?: string;
}

/**
 * A channel's answer to one request. `retry`: a 5xx, a 429, a timeout or a network error, worth trying
 * again (after `retryAfterMs` when the channel said so); `permanent`: a 4xx other than 429, which the same
 * request will get again, so it is not repeated.
 */
export type SendOutcome =
  | { kind: 'sent'; status: number }
  | { kind: 'retry'; error: string; status?: number; retryAfterMs?: number }
  | { kind: 'permanent'; error: string; status?: number };

export interface SendContext {
  /** Abort the request (its timeout fired). */
  signal: AbortSignal;
  /** The moment of this attempt on the injected clock (the webhook's signed timestamp). */
  at: Date;
}

/** One configured channel, ready to send: its secrets are read (and registered for redaction) when it is built. */
export interface Channel {
  name: string;
  type: 'slack' | 'webhook' | 'pagerduty';
  send(message: NotificationMessage, ctx: SendContext): Promise<SendOutcome>;
}

/** Retry-After as Slack and most HTTP services send it: delta-seconds or an HTTP date. */
export function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now.getTime());
}

/** The common rule: 2xx sent; 429, 408 and 5xx retried; any other answer permanent. */
export function outcomeOfStatus(status: number, detail: string, retryAfter: number | undefined): SendOutcome {
  if (status >= 200 && status < 300) return { kind: 'sent', status };
  const error = `answered ${status}${detail ? ` ${detail}` : ''}`;
  if (status === 429 || status === 408 || status >= 500) return { kind: 'retry', error, status, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
  return { kind: 'permanent', error, status };
}

/** A short, single-line excerpt of an answer's body for an error text (never the request). */
export function excerpt(body: string, max = 120): string {
  return body.replace(/\s+/g, ' ').trim().slice(0, max);
}

/** POST a JSON body and turn the answer (or the failure) into an outcome. */
export async function postJson(
  url: string,
  body: string,
  headers: Record<string, string>,
  ctx: SendContext,
  detailOf: (status: number, text: string) => string = (_s, t) => excerpt(t),
): Promise<SendOutcome> {
  let response: Response;
  try {
    response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body, signal: ctx.signal, redirect: 'error' });
  } catch (err) {
    // Never the error's own text: undici puts the URL in some of them ("Failed to parse URL from …").
    const code = (err as { cause?: { code?: unknown } }).cause?.code;
    return { kind: 'retry', error: ctx.signal.aborted ? 'timed out' : `request failed${typeof code === 'string' ? ` (${code})` : ''}` };
  }
  const text = await response.text().catch(() => '');
  return outcomeOfStatus(response.status, detailOf(response.status, text), retryAfterMs(response.headers.get('retry-after'), ctx.at));
}

/** The value of a variable the config names as holding a channel secret; undefined when unset. */
export function envValue(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}
