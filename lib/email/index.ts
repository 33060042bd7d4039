import type { Env } from '../env.js';
import type { EmailSender } from './types.js';

export type { EmailMessage, EmailSender, SentEmail } from './types.js';

/** Resend when RESEND_API_KEY is set, the outbox folder otherwise. */
export async function createEmailSender(env: Env): Promise<EmailSender> {
  if (env.RESEND_API_KEY) {
    const { createResendSender } = await import('./resend.js');
    return createResendSender(env.RESEND_API_KEY, { baseUrl: env.RESEND_BASE_URL, timeoutMs: env.OPSBOOK_DEPENDENCY_TIMEOUT_MS });
  }
  const { createOutboxSender } = await import('./outbox.js');
  return createOutboxSender(env.OPSBOOK_DATA_DIR);
}
