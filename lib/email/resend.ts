import { Resend } from 'resend';
import { OpsbookError } from '../errors.js';
import { TimeoutError, withTimeout } from '../timeout.js';
import type { EmailMessage, EmailSender, SentEmail } from './types.js';

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
        const code = status === 429 ? 'RATE_LIMITED' : 'DEPENDENCY_UNAVAILABLE';
        throw new OpsbookError(code, `Resend did not accept the email (${status || 'no status'}: ${error?.name ?? 'unknown'})`);
      }
      return { id: data.id, location: 'resend' };
    },
  };
}
