/**
 * A local PagerDuty Events API v2. Protocol, as PagerDuty documents it:
 * - `POST /v2/enqueue`, JSON: `routing_key` (the integration key, 32 characters), `event_action`
 *   (`trigger`, `acknowledge` or `resolve`), `dedup_key` (at most 255 characters; generated on a trigger
 *   without one), and for a trigger a `payload` with `summary` (at most 1024), `source` and `severity`
 *   (`critical`, `error`, `warning` or `info`), optional `timestamp`, `component`, `group`, `class`,
 *   `custom_details`.
 * - Accepted: `202 {"status":"success","message":"Event processed","dedup_key":…}`. A trigger whose
 *   dedup_key names an open alert is deduplicated into it; a resolve closes it.
 * - Refused: `400 {"status":"invalid event","message":"Event object is invalid","errors":[…]}`; 429 when
 *   events arrive too fast; 5xx to be retried.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { startSinkServer, type Fault } from './http-sink.js';

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: { summary: string; source: string; severity: string; [k: string]: unknown };
  body: Record<string, unknown>;
}

export interface PagerDutySink {
  /** The events endpoint (`eventsUrl`). */
  readonly eventsUrl: string;
  /** The integration's routing key (32 characters); others are refused. */
  readonly routingKey: string;
  /** Accepted events, in order. */
  readonly events: PagerDutyEvent[];
  /** Alerts by dedup_key: triggered (and how many triggers it absorbed) or resolved. */
  readonly alerts: Map<string, { status: 'triggered' | 'resolved'; triggers: number }>;
  readonly requests: number;
  setFault(fault: Fault | null, count?: number): void;
  clear(): void;
  close(): Promise<void>;
}

const SEVERITIES = ['critical', 'error', 'warning', 'info'];

export async function startPagerDutySink(): Promise<PagerDutySink> {
  const routingKey = randomBytes(16).toString('hex');
  const events: PagerDutyEvent[] = [];
  const alerts = new Map<string, { status: 'triggered' | 'resolved'; triggers: number }>();
  const json = (status: number, body: unknown) => ({ status, body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  const invalid = (errors: string[]) => json(400, { status: 'invalid event', message: 'Event object is invalid', errors });
  const server = await startSinkServer(
    (req, raw) => {
      if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://x').pathname !== '/v2/enqueue') return json(404, { status: 'not found' });
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error();
      } catch {
        return invalid(['Event object is not valid JSON']);
      }
      const errors: string[] = [];
      if (typeof body.routing_key !== 'string' || body.routing_key.length !== 32) errors.push("'routing_key' must be 32 characters");
      else if (body.routing_key !== routingKey) errors.push("'routing_key' does not name an integration");
      const action = body.event_action;
      if (action !== 'trigger' && action !== 'acknowledge' && action !== 'resolve') errors.push("'event_action' must be trigger, acknowledge or resolve");
      if (body.dedup_key !== undefined && (typeof body.dedup_key !== 'string' || body.dedup_key.length > 255)) errors.push("'dedup_key' must be a string of at most 255 characters");
      if (action !== 'trigger' && typeof body.dedup_key !== 'string') errors.push("'dedup_key' is required to acknowledge or resolve");
      const payload = body.payload as PagerDutyEvent['payload'] | undefined;
      if (action === 'trigger') {
        if (!payload || typeof payload !== 'object') errors.push("'payload' is required to trigger");
        else {
          if (typeof payload.summary !== 'string' || !payload.summary || payload.summary.length > 1024) errors.push("'payload.summary' is required (at most 1024 characters)");
          if (typeof payload.source !== 'string' || !payload.source) errors.push("'payload.source' is required");
          if (!SEVERITIES.includes(payload.severity)) errors.push("'payload.severity' must be critical, error, warning or info");
        }
      }
      if (errors.length) return invalid(errors);
      const dedup = typeof body.dedup_key === 'string' ? body.dedup_key : randomUUID().replace(/-/g, '');
      events.push({ routing_key: body.routing_key as string, event_action: action as PagerDutyEvent['event_action'], dedup_key: dedup, ...(payload ? { payload } : {}), body });
      const alert = alerts.get(dedup);
      if (action === 'trigger') {
        if (alert?.status === 'triggered') alert.triggers++;
        else alerts.set(dedup, { status: 'triggered', triggers: 1 });
      } else if (action === 'resolve' && alert) alert.status = 'resolved';
      return json(202, { status: 'success', message: 'Event processed', dedup_key: dedup });
    },
    (status) =>
      status === 400
        ? invalid(['Event object is invalid'])
        : status === 429
          ? json(429, { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' })
          : json(status, { status: 'error', message: 'Internal server error' }),
  );
  return {
    eventsUrl: `${server.baseUrl}/v2/enqueue`,
    routingKey,
    events,
    alerts,
    get requests() {
      return server.requests;
    },
    setFault: server.setFault,
    clear() {
      events.length = 0;
      alerts.clear();
      server.resetRequests();
    },
    close: server.close,
  };
}
