import type { Severity } from '../config/schema.js';
import { envValue, excerpt, postJson, type Channel, type NotificationMessage } from './types.js';

/** PagerDuty's severities for Opsbook's P1–P4. */
const SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = { P1: 'critical', P2: 'error', P3: 'warning', P4: 'info' };

/**
 * The Events API v2 body: `trigger` on open and on a missed run, `resolve` on recovery, both with the
 * incident's subject as `dedup_key`, so a retried trigger is deduplicated by PagerDuty and the resolve
 * closes exactly the alert the trigger opened.
 */
export function pagerdutyBody(m: NotificationMessage, routingKey: string): string {
  const dedup_key = m.subject.slice(0, 255);
  if (m.event === 'resolved') return JSON.stringify({ routing_key: routingKey, event_action: 'resolve', dedup_key });
  const summary = m.event === 'open' ? `${m.service} · ${m.checklist}: ${m.check ?? m.subject} is failing — ${m.summary}` : `${m.service} · ${m.summary}`;
  return JSON.stringify({
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key,
    payload: {
      summary: summary.slice(0, 1024),
      source: m.service,
      severity: SEVERITY[m.severity],
      timestamp: m.at,
      component: m.check ?? m.checklist,
      group: m.checklist,
      class: m.event === 'missed' ? 'missed-run' : 'check-failing',
      custom_details: { checklist: m.checklist, severity: m.severity, ...(m.check ? { check: m.check } : {}), ...(m.period ? { period: m.period, expectedAt: m.expectedAt } : {}) },
    },
    client: 'Opsbook',
  });
}

/**
 * PagerDuty Events API v2: POST to the events endpoint with the integration's routing key (read from
 * `routingKeyEnv`). 202 `{status:"success"}` is accepted; 400 `{status:"invalid event", errors}` is
 * permanent; 429 and 5xx are retried.
 */
export function pagerdutyChannel(name: string, config: { routingKeyEnv: string; eventsUrl: string }): Channel {
  return {
    name,
    type: 'pagerduty',
    async send(message, ctx) {
      const key = envValue(config.routingKeyEnv);
      if (!key) return { kind: 'retry', error: `${config.routingKeyEnv} is not set in this environment` };
      return postJson(config.eventsUrl, pagerdutyBody(message, key), {}, ctx, (status, text) => {
        if (status < 400) return '';
        try {
          const body = JSON.parse(text) as { status?: unknown; errors?: unknown };
          const errors = Array.isArray(body.errors) ? body.errors.map(String).join('; ') : '';
          return excerpt(`${typeof body.status === 'string' ? body.status : ''}${errors ? `: ${errors}` : ''}`, 200);
        } catch {
          return excerpt(text, 80);
        }
      });
    },
  };
}
