import { defineConfig } from '../lib/config/define.js';

/**
 * LegacyVideo (runbook 003): API and worker on Railway, web on Vercel, Postgres, BullMQ on Redis, S3,
 * Resend. The runbook's recommended alerts become thresholds: error rate > 1 % warns and > 5 % fails,
 * p99 > 2 s warns, failed email > 10 % warns; a failing health check is P1. Its RTO/RPO table becomes
 * heartbeat RPOs: "database failure, RPO 1 hour" and "complete outage, RPO 24 hours".
 *
 * Tables assumed: users (… locked), audit_logs (created_at), request_logs (created_at, status,
 * duration_ms) and email_deliveries (created_at, status) written by the worker for each send. Queues:
 * the runbook's `bull:email:*` and `bull:release-process:*`. Hostnames are placeholders
 * (the runbook's "your-domain.com"); RESEND_API_AUTHORIZATION holds "Bearer re_…".
 *
 * No host of LegacyVideo's runs examples/host-agent.sh: the API and worker are Railway services and the
 * web is on Vercel, so the runbook's infrastructure alerts (disk > 90 %, memory > 80 %, CPU) are read on
 * Railway's metrics dashboard, a manual item. What does run as a job are the two backups, and they push
 * the size of their dump with their ping (backup_bytes), graded by a floor and against their own history.
 */
const HOUR = 3600;
const DAY = 24 * HOUR;

export default defineConfig({
  service: 'LegacyVideo',
  recipients: ['oncall@legacyvideo.example.com'],
  links: {
    Railway: 'https://railway.app/project/example-project',
    Vercel: 'https://vercel.com/example-team/legacyvideo-web',
    Resend: 'https://resend.com/emails',
    Sentry: 'https://sentry.io/organizations/example-org/projects/legacyvideo-api/',
  },
  // "Lock User Account: POST /api/admin/users/lock {"userId":"user-id","locked":true}"
  app: {
    users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } },
  },
  checks: {
    http: [
      {
        // Quick health check: `curl https://api.your-domain.com/health` → {"status":"ok","timestamp":…}
        id: 'api-health',
        title: 'API /health',
        url: 'https://api.legacyvideo.example.com/health',
        conditions: [{ path: 'status', op: 'eq', value: 'ok' }],
        // Warning: response time p99 > 2 s.
        degradedMs: 2000,
        failMs: 10_000,
        timeoutMs: 10_000,
        severity: 'P1',
      },
      { id: 'web', title: 'Web (Vercel)', url: 'https://legacyvideo.example.com', severity: 'P1' },
      {
        // Email not sending: "Check FROM_EMAIL is verified" in Resend. Skipped until the key is set.
        id: 'resend-domain',
        title: 'Resend sending domain verified',
        url: 'https://api.resend.com/domains',
        headers: { Authorization: { env: 'RESEND_API_AUTHORIZATION' } },
        conditions: [{ path: 'data[0].status', op: 'eq', value: 'verified' }],
        severity: 'P2',
      },
    ],
    // Queue status by SCAN and counts (never KEYS bull:*); a queue with jobs waiting and nothing active is
    // the "worker not processing jobs" case.
    queues: { prefix: 'bull', names: ['email', 'release-process'], stuckAfterSeconds: 300 },
    sqlMetrics: [
      {
        id: 'error-rate',
        title: 'API error rate (5xx, last hour)',
        sql: `SELECT coalesce(100.0 * count(*) FILTER (WHERE status >= 500) / nullif(count(*), 0), 0)
              FROM request_logs WHERE created_at > now() - interval '1 hour'`,
        warn: 1,
        fail: 5,
        unit: '%',
        severity: 'P1',
      },
      {
        id: 'p99-response-time',
        title: 'API response time p99 (last hour)',
        sql: `SELECT coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY duration_ms), 0)
              FROM request_logs WHERE created_at > now() - interval '1 hour'`,
        warn: 2000,
        unit: 'ms',
        severity: 'P2',
      },
      {
        id: 'failed-email-rate',
        title: 'Failed email deliveries (last 24 h)',
        sql: `SELECT coalesce(100.0 * count(*) FILTER (WHERE status IN ('failed', 'bounced')) / nullif(count(*), 0), 0)
              FROM email_deliveries WHERE created_at > now() - interval '24 hours'`,
        warn: 10,
        unit: '%',
        severity: 'P2',
      },
    ],
  },
  // A dump under half the size of its usual is a broken one, even when the job exited 0: the hourly one
  // against the 7-day median of the daily checks, the off-site one against its previous check.
  baselines: {
    'heartbeat.db-backup.backup_bytes': { vs: 'median-7d', failPct: 50, direction: 'below' },
    'heartbeat.offsite-backup.backup_bytes': { vs: 'previous', failPct: 50, direction: 'below' },
  },
  heartbeats: [
    {
      // Database failure: RPO 1 hour. The hourly backup job (Railway cron) pings when it finishes, with its
      // exit code and the dump's size, failed or not:
      //   pg_dump $DATABASE_URL > $f; rc=$?; curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" \
      //     -H 'content-type: application/json' -d "{\"metrics\":{\"backup_bytes\":$(wc -c < $f)}}" https://<opsbook>/api/heartbeats/db-backup/$rc
      name: 'db-backup',
      title: 'Hourly database backup',
      periodSeconds: HOUR,
      graceSeconds: 15 * 60,
      rpoSeconds: HOUR,
      severity: 'P1',
      // Under 1 MB is an empty dump (a placeholder: set it from your dump's usual size).
      metrics: { backup_bytes: { title: 'Hourly dump size', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
    {
      // Complete outage: RPO 24 hours. The off-site export, with the same ping as the hourly one:
      //   railway run --service api pg_dump $DATABASE_URL > backup-$(date +%Y%m%d).sql && upload to S3
      name: 'offsite-backup',
      title: 'Daily off-site pg_dump',
      periodSeconds: DAY,
      graceSeconds: 2 * HOUR,
      rpoSeconds: DAY,
      severity: 'P2',
      metrics: { backup_bytes: { title: 'Off-site dump size', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
  ],
  checklists: [
    {
      id: 'daily',
      title: 'Daily maintenance',
      schedule: { type: 'daily', at: '09:00' },
      items: [
        // Quick health check: API, web, database, Redis.
        { check: 'http.api-health' },
        { check: 'http.web' },
        { check: 'postgres.connections' },
        { check: 'redis.ping' },
        // "Check error rates", "Verify email delivery".
        { check: 'sql.error-rate' },
        { check: 'sql.p99-response-time' },
        { check: 'sql.failed-email-rate' },
        { check: 'http.resend-domain' },
        // Worker not processing jobs, failed email jobs.
        { check: 'queues' },
        { check: 'heartbeat.db-backup' },
        // No host to push them: Railway's metrics, read on its dashboard.
        { manual: 'Monitor disk usage (Railway dashboard); page at > 90 %, warn at memory > 80 %', owner: 'on-call', link: 'https://railway.app/project/example-project' },
      ],
    },
    {
      id: 'weekly',
      title: 'Weekly maintenance',
      schedule: { type: 'weekly', days: ['mon'], at: '09:00' },
      items: [
        { check: 'queues.failed' },
        { check: 'heartbeat' },
        { check: 'postgres.slow-queries' },
        { manual: 'Review audit logs for anomalies (logins, locks, admin actions)', owner: 'security' },
        { manual: 'Update dependencies (if security updates)', owner: 'dev' },
      ],
    },
    {
      id: 'monthly',
      title: 'Monthly maintenance (first Monday)',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' },
      items: [
        // "Review and archive old audit logs": the archive itself (export to S3) is the off-site dump;
        // rows older than a year are then deleted in audited batches.
        { task: 'retention-delete', tables: ['audit_logs'], column: 'created_at', olderThanDays: 365 },
        // "Database optimization (VACUUM, ANALYZE)".
        { task: 'vacuum-analyze' },
        { check: 'postgres.vacuum' },
        { check: 'postgres.database-size' },
        // Opsbook's own upkeep: run history, snapshots and reports older than retentionDays (90).
        { task: 'prune-history' },
        { manual: 'Rotate secrets (API_SECRET, etc.) on api and worker together, then restart both', owner: 'security', lastDone: '2024-01-17' },
        { manual: 'Review and update documentation (this runbook)', owner: 'dev' },
        { manual: 'Check for dependency updates', owner: 'dev' },
      ],
    },
    {
      id: 'quarterly',
      title: 'Quarterly maintenance',
      schedule: { type: 'quarterly', at: '10:00' },
      items: [
        { check: 'heartbeat.offsite-backup' },
        { manual: 'Security audit', owner: 'security' },
        { manual: 'Penetration testing', owner: 'security' },
        { manual: 'Disaster recovery drill: restore the latest backup into a new Railway project (RTO 4 h)', owner: 'on-call' },
        { manual: 'Review and update the threat model', owner: 'security' },
        { manual: 'Rotate MASTER_ENCRYPTION_KEY (with data migration)', owner: 'security', lastDone: '2024-01-17' },
      ],
    },
  ],
});
