import { envValue, excerpt, postJson, type Channel, type NotificationMessage } from './types.js';

const ICON: Record<NotificationMessage['event'], string> = { open: ':red_circle:', resolved: ':large_green_circle:', missed: ':warning:' };

/** The message as Slack shows it: a one-line `text` (also the notification's preview) and one mrkdwn section. */
export function slackBody(m: NotificationMessage): string {
  const headline =
    m.event === 'open'
      ? `${m.severity} · ${m.service} · ${m.checklist}: ${m.check ?? m.subject} is failing`
      : m.event === 'resolved'
        ? `Resolved · ${m.service} · ${m.checklist}: ${m.check ?? m.subject} recovered`
        : `${m.severity} · ${m.service} · ${m.checklist} missed its run for ${m.period ?? m.subject}`;
  const lines = [`${ICON[m.event]} *${escape(headline)}*`, escape(m.summary)];
  if (m.openedAt && m.event === 'resolved') lines.push(`Open since ${m.openedAt}`);
  return JSON.stringify({
    text: headline.slice(0, 3000),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 3000) } }],
  });
}

/** Slack's mrkdwn reserves &, < and >. */
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A Slack incoming webhook: POST JSON to the URL, which is the credential (it is read from `urlEnv` and
 * registered as a secret by the registry). Slack answers 200 `ok`, or an error code as plain text:
 * 400 invalid_payload / no_text, 403 action_prohibited, 404 no_service / channel_not_found, 410
 * channel_is_archived (permanent), 429 with Retry-After and 5xx (retried).
 */
export function slackChannel(name: string, config: { urlEnv: string }): Channel {
  return {
    name,
    type: 'slack',
    async send(message, ctx) {
      const url = envValue(config.urlEnv);
      if (!url) return { kind: 'retry', error: `${config.urlEnv} is not set in this environment` };
      if (!/^https?:\/\/\S+$/.test(url)) return { kind: 'permanent', error: `${config.urlEnv} does not hold an http(s) URL` };
      // The answer's body is Slack's error code; nothing else from it is kept.
      return postJson(url, slackBody(message), {}, ctx, (_s, text) => excerpt(text, 60));
    },
  };
}
