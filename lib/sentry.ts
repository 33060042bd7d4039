import type { Env } from './env.js';
import { redactSecrets } from './env.js';

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
  /** Wrap `fn` in a cron monitor check-in (in_progress, then ok or error). `fn` must be async. */
  withMonitor<T>(slug: string, fn: () => Promise<T>, config?: MonitorConfig): Promise<T>;
  flush(timeoutMs?: number): Promise<void>;
}

const disabled: ErrorReporter = {
  enabled: false,
  async captureException() {},
  async captureMessage() {},
  withMonitor: (_slug, fn) => fn(),
  async flush() {},
};

type SentryModule = typeof import('@sentry/node');

/** How long a cron job waits for its in_progress check-in to reach Sentry. */
const IN_PROGRESS_FLUSH_MS = 500;

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
        tracesSampleRate: 0,
        sendClientReports: false,
        beforeSend(event) {
          // Error messages, extras and tags can carry a driver's connection string or a token: the
          // whole event is scrubbed before it leaves the process.
          return JSON.parse(redactSecrets(JSON.stringify(event))) as typeof event;
        },
      });
      return Sentry;
    }));

  return {
    enabled: true,
    async captureException(err, context) {
      const Sentry = await load();
      Sentry.captureException(err, { tags: context?.tags, fingerprint: context?.fingerprint, extra: context?.extra });
    },
    async captureMessage(message, context) {
      const Sentry = await load();
      Sentry.captureMessage(message, { level: context?.level ?? 'error', tags: context?.tags, fingerprint: context?.fingerprint });
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
