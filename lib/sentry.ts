import type { Env } from './env.js';
import { redactSecrets } from './env.js';
import { isDependencyFailure, OpsbookError } from './errors.js';
import { withTimeout } from './timeout.js';

/** Sentry's monitor settings for a cron check-in. */
export interface MonitorConfig {
  schedule: { type: 'crontab'; value: string };
  checkinMargin?: number;
  maxRuntime?: number;
  timezone?: string;
}

/**
 * Where unexpected errors and cron check-ins go. With no SENTRY_DSN everything is a no-op.
 * @sentry/node costs 0.4–0.7 s to import, so it is loaded only when there is something to send, never
 * on the health path; every caller awaits `flush()` before its function returns, because a frozen
 * serverless instance sends nothing.
 */
export interface ErrorReporter {
  readonly enabled: boolean;
  captureException(err: unknown, context?: { tags?: Record<string, string>; fingerprint?: string[]; extra?: Record<string, unknown> }): Promise<void>;
  captureMessage(message: string, context?: { level?: 'info' | 'warning' | 'error'; tags?: Record<string, string>; fingerprint?: string[] }): Promise<void>;
  /**
   * Send one message and wait, at most `timeoutMs`, until Sentry has accepted it (a 2xx for its
   * envelope). False when it was not handed over (Sentry down, refusing, rate-limiting, too slow): a
   * caller that claimed the alert releases its claim so a later invocation raises it. With Sentry off
   * there is nothing to hand over: true.
   */
  deliverMessage(message: string, context?: { level?: 'info' | 'warning' | 'error'; tags?: Record<string, string>; fingerprint?: string[] }, timeoutMs?: number): Promise<boolean>;
  /** Wrap `fn` in a cron monitor check-in (in_progress, then ok or error). `fn` must be async. */
  withMonitor<T>(slug: string, fn: () => Promise<T>, config?: MonitorConfig): Promise<T>;
  flush(timeoutMs?: number): Promise<void>;
}

const disabled: ErrorReporter = {
  enabled: false,
  async captureException() {},
  async captureMessage() {},
  deliverMessage: async () => true,
  withMonitor: (_slug, fn) => fn(),
  async flush() {},
};

type SentryModule = typeof import('@sentry/node');

/** How long a cron job waits for its in_progress check-in to reach Sentry. */
const IN_PROGRESS_FLUSH_MS = 500;
/** How long an alert that must be handed over waits for Sentry's answer. */
const DELIVER_TIMEOUT_MS = 2000;

/** Errors already given to Sentry, so a wrapper further out (the route's error handler) does not send them twice. */
const captured = new WeakSet<object>();
export const wasCaptured = (err: unknown): boolean => typeof err === 'object' && err !== null && captured.has(err);

export function createErrorReporter(env: Pick<Env, 'SENTRY_DSN' | 'SENTRY_ENVIRONMENT' | 'VERCEL_ENV'>): ErrorReporter {
  const dsn = env.SENTRY_DSN;
  if (!dsn) return disabled;
  let loading: Promise<SentryModule> | undefined;
  const load = () =>
    (loading ??= import('@sentry/node').then((Sentry) => {
      Sentry.init({
        dsn,
        environment: env.SENTRY_ENVIRONMENT ?? env.VERCEL_ENV ?? 'development',
        // Opsbook reports its own errors; it does not trace or instrument the host process.
        defaultIntegrations: false,
        // Except the error.cause chain: a wrapped error ("storing the run failed") arrives with its causes.
        integrations: [Sentry.linkedErrorsIntegration({ key: 'cause', limit: 5 })],
        tracesSampleRate: 0,
        sendClientReports: false,
        beforeSend(event) {
          // Error messages, extras and tags can carry a driver's connection string or a token: the
          // whole event is scrubbed before it leaves the process.
          return JSON.parse(redactSecrets(JSON.stringify(event))) as typeof event;
        },
      });
      // Which envelopes Sentry accepted, by event id: `afterSendEvent` carries the HTTP answer (none
      // when the request failed or the client dropped the event for a rate limit).
      Sentry.getClient()?.on('afterSendEvent', (event, response) => {
        const id = event.event_id;
        if (!id) return;
        const status = (response as { statusCode?: number } | undefined)?.statusCode;
        answers.get(id)?.(status !== undefined && status >= 200 && status < 300);
        answers.delete(id);
      });
      return Sentry;
    }));
  const answers = new Map<string, (accepted: boolean) => void>();

  return {
    enabled: true,
    async captureException(err, context) {
      const Sentry = await load();
      if (typeof err === 'object' && err !== null) captured.add(err);
      Sentry.captureException(err, { tags: context?.tags, fingerprint: context?.fingerprint, extra: context?.extra });
    },
    async captureMessage(message, context) {
      const Sentry = await load();
      Sentry.captureMessage(message, { level: context?.level ?? 'error', tags: context?.tags, fingerprint: context?.fingerprint });
    },
    async deliverMessage(message, context, timeoutMs = DELIVER_TIMEOUT_MS) {
      const Sentry = await load();
      let answered!: (accepted: boolean) => void;
      const accepted = new Promise<boolean>((resolve) => (answered = resolve));
      const id = Sentry.captureMessage(message, { level: context?.level ?? 'error', tags: context?.tags, fingerprint: context?.fingerprint });
      answers.set(id, answered);
      try {
        // The flush sends it (and anything queued before it) now; the answer says whether it arrived.
        const [ok] = await Promise.all([withTimeout(accepted, timeoutMs, 'sentry event'), Sentry.flush(timeoutMs)]);
        return ok;
      } catch {
        return false;
      } finally {
        answers.delete(id);
      }
    },
    async withMonitor(slug, fn, config) {
      const Sentry = await load();
      // The in_progress check-in is delivered before the job starts: envelopes travel concurrently, and a
      // quick job's final check-in (or an alert raised just before) could otherwise reach Sentry first.
      // Bounded: a Sentry that is down costs at most IN_PROGRESS_FLUSH_MS, never the run.
      const checkInId = Sentry.captureCheckIn({ monitorSlug: slug, status: 'in_progress' }, config);
      await Sentry.flush(IN_PROGRESS_FLUSH_MS);
      const started = performance.now();
      const finish = (status: 'ok' | 'error') =>
        Sentry.captureCheckIn({ checkInId, monitorSlug: slug, status, duration: (performance.now() - started) / 1000 }, config);
      try {
        const result = await fn();
        finish('ok');
        return result;
      } catch (err) {
        finish('error');
        throw err;
      }
    },
    async flush(timeoutMs = 2000) {
      if (!loading) return;
      const Sentry = await loading;
      await Sentry.flush(timeoutMs);
    },
  };
}

/**
 * An error that reached a route's error handler unexpected (its answer is 500 INTERNAL): to Sentry with
 * its cause chain, flushed before the answer goes out, because a frozen function sends nothing. What is
 * not a bug is not sent: an OpsbookError with its own code (a 4xx, MISCONFIGURED) and a dependency
 * outage (503). An error its caller already captured (handleCron's) is not sent twice. Never throws,
 * and costs at most `timeoutMs`.
 */
export async function captureUnexpected(err: unknown, tags: Record<string, string>, timeoutMs = DELIVER_TIMEOUT_MS): Promise<void> {
  if (err instanceof OpsbookError ? err.code !== 'INTERNAL' : isDependencyFailure(err)) return;
  if (wasCaptured(err)) return;
  try {
    await withTimeout(
      async () => {
        const { getDeps } = await import('./deps.js');
        const { errors } = await getDeps();
        await errors.captureException(err, { tags: { ...tags, stage: 'route' } });
        await errors.flush(timeoutMs);
      },
      timeoutMs,
      'sentry capture',
    );
  } catch {
    // Sentry (or the dependencies) unavailable: the error is still logged by the route's handler.
  }
}
