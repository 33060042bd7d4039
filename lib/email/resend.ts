import { Resend } from 'resend';
import { OpsbookError } from '../errors.js';
import { TimeoutError, withTimeout } from '../timeout.js';
import type { EmailMessage, EmailSender, SentEmail } from './types.js';

/** What a refused send carries in its OpsbookError's `details`: delivery decides from it whether to retry. */
export interface EmailRefusal {
  provider: 'resend';
  /** Resend's HTTP status (0: no answer). */
  status: number;
  /** Resend's error name, e.g. validation_error, invalid_api_key, rate_limit_exceeded. */
  name: string;
  /** Sending the same message again cannot succeed (see isPermanentRefusal). */
  permanent: boolean;
}

/** Sends through Resend. `baseUrl` points the SDK at another host (the local sink in tests). */
export function createResendSender(apiKey: string, opts: { baseUrl?: string; timeoutMs: number }): EmailSender {
  const resend = new Resend(apiKey, opts.baseUrl ? { baseUrl: opts.baseUrl } : undefined);
  return {
    kind: 'resend',
    async send(message: EmailMessage): Promise<SentEmail> {
      // On timeout, abort the request too: a server that never answers must not keep a socket open.
      const controller = new AbortController();
      let result: Awaited<ReturnType<typeof resend.emails.send>>;
      try {
        result = await withTimeout(
          resend.emails.send(
            {
              from: message.from,
              to: message.to,
              subject: message.subject,
              html: message.html,
              text: message.text,
              headers: message.headers,
            },
            { signal: controller.signal, ...(message.idempotencyKey ? { idempotencyKey: message.idempotencyKey } : {}) },
          ),
          opts.timeoutMs,
          'resend send',
          () => controller.abort(),
        );
      } catch (err) {
        // The EmailSender contract: a message that was not accepted rejects with an OpsbookError. Resend may
        // still have accepted it; the idempotency key makes a retry safe.
        if (err instanceof TimeoutError) {
          throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `Resend did not answer within ${opts.timeoutMs} ms`, { cause: err });
        }
        throw err;
      }
      const { data, error } = result;
      if (error || !data) {
        // The SDK reports failures as data, never by throwing; its message holds no secret, but keep it short.
        const status = (error as { statusCode?: number } | null)?.statusCode ?? 0;
        const name = error?.name ?? 'unknown';
        const code = status === 429 ? 'RATE_LIMITED' : 'DEPENDENCY_UNAVAILABLE';
        const details: EmailRefusal = { provider: 'resend', status, name, permanent: isPermanentRefusal(status, name) };
        throw new OpsbookError(code, `Resend did not accept the email (${status || 'no status'}: ${name})`, { details });
      }
      return { id: data.id, location: 'resend' };
    },
  };
}

/**
 * Whether Resend refused the message for good: a 4xx says the request itself is wrong (a validation
 * error, an invalid key, a domain not verified) and sending it again changes nothing. 429 (rate limit)
 * and 409 concurrent_idempotent_requests (the same key still in flight) pass with time, 408 is a
 * timeout, and 5xx or no status at all (a network failure) are Resend's side: those stay retryable.
 */
export function isPermanentRefusal(status: number, name: string): boolean {
  if (status < 400 || status > 499) return false;
  return status !== 408 && status !== 429 && name !== 'concurrent_idempotent_requests';
}
