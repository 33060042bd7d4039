import type { Env } from '../env.js';
import type { EmailSender } from './types.js';

export type { EmailMessage, EmailSender, SentEmail } from './types.js';

/**
 * The sender the environment names, loaded on the first send: a route that never emails (health) never
 * loads the Resend SDK.
 */
export function lazyEmailSender(env: Env): EmailSender {
  let sender: Promise<EmailSender> | undefined;
  return {
    kind: env.RESEND_API_KEY ? 'resend' : 'outbox',
    async send(message) {
      sender ??= createEmailSender(env);
      return (await sender).send(message);
    },
  };
}

/** Resend when RESEND_API_KEY is set, the outbox folder otherwise. */
export async function createEmailSender(env: Env): Promise<EmailSender> {
  if (env.RESEND_API_KEY) {
    const { createResendSender } = await import('./resend.js');
    return createResendSender(env.RESEND_API_KEY, { baseUrl: env.RESEND_BASE_URL, timeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS });
  }
  const { createOutboxSender } = await import('./outbox.js');
  return createOutboxSender(env.OPSBOOK_DATA_DIR);
}
