export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  headers?: Record<string, string>;
  /** Resend keeps one email per key for 24 h, so a retried send never delivers twice. */
  idempotencyKey?: string;
}

export interface SentEmail {
  id: string;
  /** Where the message went: `resend` or the outbox folder path. */
  location: string;
}

/** Where Opsbook's email goes: Resend in production, files in `.opsbook/outbox/` otherwise. */
export interface EmailSender {
  readonly kind: 'resend' | 'outbox';
  /** Rejects with an OpsbookError (DEPENDENCY_UNAVAILABLE or RATE_LIMITED) when the message was not accepted. */
  send(message: EmailMessage): Promise<SentEmail>;
}
