import type { NotificationsConfig, Severity } from '../config/schema.js';
import { registerSecretVariable } from '../env.js';
import { pagerdutyChannel } from './pagerduty.js';
import { slackChannel } from './slack.js';
import type { Channel } from './types.js';
import { webhookChannel } from './webhook.js';

/** The variables a channel reads its secrets from (webhook URLs, the HMAC secret, the routing key). */
export function secretVariablesOf(config: NotificationsConfig): string[] {
  return Object.values(config.channels).flatMap((c) => (c.type === 'slack' ? [c.urlEnv] : c.type === 'webhook' ? [c.urlEnv, c.secretEnv] : [c.routingKeyEnv]));
}

/**
 * The configured channels, by name, ready to send. Every variable they read is registered as a secret
 * first, so its value is redacted from every log line, error text, report and Sentry event.
 */
export function channelsOf(config: NotificationsConfig): Map<string, Channel> {
  for (const name of secretVariablesOf(config)) registerSecretVariable(name);
  return new Map(
    Object.entries(config.channels).map(([name, c]): [string, Channel] => [
      name,
      c.type === 'slack' ? slackChannel(name, c) : c.type === 'webhook' ? webhookChannel(name, c) : pagerdutyChannel(name, c),
    ]),
  );
}

/** Whether anything can be notified at all (no channel or no route: nothing is stored or sent). */
export function notifies(config: NotificationsConfig): boolean {
  // Registered on every entry point (each calls this first), before any value can reach a message.
  for (const name of secretVariablesOf(config)) registerSecretVariable(name);
  return config.routes.length > 0 && Object.keys(config.channels).length > 0;
}

/**
 * The channels a transition goes to: every route whose filters match (a filter left out matches all),
 * their channels together, each once, in the order the routes name them.
 */
export function routeChannels(config: NotificationsConfig, what: { severity: Severity; checklist: string }): string[] {
  const out = new Set<string>();
  for (const r of config.routes) {
    if (r.severity && !r.severity.includes(what.severity)) continue;
    if (r.checklists && !r.checklists.includes(what.checklist)) continue;
    for (const c of r.channels) out.add(c);
  }
  return [...out];
}
