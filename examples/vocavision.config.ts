import { defineConfig } from '../lib/config/define.js';

/**
 * VocaVision (runbook 001): Next.js on Vercel, Postgres 15, Redis 7, Sentry. The runbook's own rhythm:
 * the morning checklist at 09:00 UTC, the weekly one on Monday at 10:00 UTC, the monthly one on the
 * first Monday, and quarterly secret rotation and security audit. Every number below is the runbook's:
 * error rate target < 0.1 % (alert > 0.5 %), p95 < 200 ms (alert > 500 ms), database query p95 < 50 ms,
 * "kill queries active > 5 minutes", retention "audit_logs > 90 days, session_logs > 30 days".
 *
 * Tables assumed (the runbook's queries name them): users (id, email, created_at, last_login,
 * deleted_at), user_activity (user_id, created_at), api_keys (id, user_id, created_at, revoked_at),
 * audit_logs and session_logs (created_at), and request_logs (created_at, status, duration_ms) for the
 * error rate and response time. If requests are not logged to Postgres, drop those two metrics and
 * read them from Vercel Analytics by hand (a manual item).
 *
 * There is no host of VocaVision's to run examples/host-agent.sh on: the app is Vercel functions, the
 * database and Redis are managed services, so "review resource utilization" stays a dashboard item. The
 * one job that runs on a machine is the nightly pg_dump (from whatever cron or CI schedule runs it), and
 * it pushes the dump's size with its ping.
 *
 * Secrets stay in the environment: VERCEL_API_AUTHORIZATION and SENTRY_API_AUTHORIZATION hold the whole
 * header value ("Bearer <token>"); without them those two checks report `skipped`, never fail.
 */
const DAY = 86_400;

export default defineConfig({
  service: 'VocaVision',
  recipients: ['devops@vocavision.example.com'],
  links: {
    Vercel: 'https://vercel.com/vocavision/deployments',
    'Vercel Analytics': 'https://vercel.com/vocavision/analytics',
    Sentry: 'https://sentry.io/organizations/vocavision/issues/',
    Database: 'https://console.neon.tech/app/projects/example-project',
    'Google Analytics': 'https://analytics.google.com',
  },
  // "Soft delete (recommended): UPDATE users SET deleted_at = NOW() WHERE email = …"
  app: {
    users: { table: 'users', columns: { id: 'id', email: 'email', deletedAt: 'deleted_at' } },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at', createdAt: 'created_at' } },
  },
  // "Schedule maintenance window: choose low-traffic time (e.g., Sunday 2 AM UTC)". Results are still
  // recorded during it; alerts are muted. Ad hoc windows: POST /api/admin/maintenance.
  maintenanceWindows: [{ id: 'planned', title: 'Planned maintenance (Sunday 02:00 UTC)', weekday: ['sun'], start: '02:00', durationMinutes: 120 }],
  checks: {
    postgres: {
      thresholds: {
        // "Kill problematic queries: active for more than 5 minutes" (database emergency).
        longRunningSeconds: 300,
        // Database query p95 < 50 ms: pg_stat_statements keeps means, so a mean at or above 50 ms is slow.
        slowQueryMeanMs: 50,
      },
    },
    http: [
      // The site is down "because DNS is": one root cause, not two alerts.
      { id: 'site', title: 'vocavision.com', url: 'https://vocavision.com', severity: 'P1', needs: ['dns.vocavision-com-a'] },
      {
        // The runbook's /health shape: {"status":"healthy","timestamp":…,"checks":{"database":"healthy","redis":"healthy"}}
        id: 'api-health',
        title: 'API /health',
        url: 'https://api.vocavision.com/health',
        conditions: [
          { path: 'status', op: 'eq', value: 'healthy' },
          { path: 'checks.database', op: 'eq', value: 'healthy' },
          { path: 'checks.redis', op: 'eq', value: 'healthy' },
        ],
        // Response time alert threshold (p95 > 500 ms) and the p99 alert (> 1000 ms).
        degradedMs: 500,
        failMs: 1000,
        severity: 'P1',
      },
      {
        // "Check: Vercel dashboard for failed deployments": the latest production deployment is READY.
        id: 'vercel-deployments',
        title: 'Latest production deployment (Vercel API)',
        url: 'https://api.vercel.com/v6/deployments?app=vocavision&target=production&limit=1',
        headers: { Authorization: { env: 'VERCEL_API_AUTHORIZATION' } },
        conditions: [{ path: 'deployments[0].state', op: 'eq', value: 'READY' }],
        severity: 'P2',
      },
      {
        // "Review: Sentry for error spikes": unresolved issues first seen in the last 24 hours.
        id: 'sentry-new-issues',
        title: 'New Sentry issues in 24 h (Sentry API)',
        url: 'https://sentry.io/api/0/organizations/vocavision/issues/?query=is%3Aunresolved%20firstSeen%3A-24h&statsPeriod=24h&limit=100',
        headers: { Authorization: { env: 'SENTRY_API_AUTHORIZATION' } },
        conditions: [{ path: 'length', op: 'lt', value: 10 }],
        severity: 'P3',
      },
    ],
    // "Visit: https://status.vocavision.com" (an Atlassian Statuspage) and Vercel's own.
    statusPages: [
      { id: 'vocavision', title: 'status.vocavision.com', url: 'https://status.vocavision.com', severity: 'P2' },
      { id: 'vercel', title: 'Vercel status', url: 'https://www.vercel-status.com', severity: 'P3' },
    ],
    // "Check: SSL certificate expiry" (weekly); Vercel renews, so a warning means renewal is stuck.
    tls: [
      { id: 'vocavision-com', host: 'vocavision.com' },
      { id: 'api-vocavision-com', host: 'api.vocavision.com' },
    ],
    // "Complete site down: nslookup vocavision.com".
    dns: [{ id: 'vocavision-com-a', name: 'vocavision.com', type: 'A', severity: 'P1' }],
    sqlMetrics: [
      {
        id: 'active-users',
        title: 'Active users (last 24 h)',
        sql: `SELECT count(DISTINCT user_id) FROM user_activity WHERE created_at > now() - interval '24 hours'`,
        // Nobody active overnight means the app is broken, not that users left.
        direction: 'below',
        warn: 1,
        unit: 'users',
      },
      {
        id: 'error-rate',
        title: 'API error rate (5xx, last 24 h)',
        sql: `SELECT coalesce(100.0 * count(*) FILTER (WHERE status >= 500) / nullif(count(*), 0), 0)
              FROM request_logs WHERE created_at > now() - interval '24 hours'`,
        warn: 0.1,
        fail: 0.5,
        unit: '%',
        severity: 'P2',
      },
      {
        id: 'p95-response-time',
        title: 'API response time p95 (last 24 h)',
        sql: `SELECT coalesce(percentile_cont(0.95) WITHIN GROUP (ORDER BY duration_ms), 0)
              FROM request_logs WHERE created_at > now() - interval '24 hours'`,
        warn: 200,
        fail: 500,
        unit: 'ms',
        severity: 'P2',
      },
      {
        // Monthly access review: "Remove: Inactive accounts".
        id: 'inactive-accounts',
        title: 'Accounts without a login for 180 days',
        sql: `SELECT count(*) FROM users
              WHERE deleted_at IS NULL AND coalesce(last_login, created_at) < now() - make_interval(days => $1)`,
        params: [180],
        warn: 0,
        unit: 'accounts',
        severity: 'P4',
      },
      {
        // Monthly access review: "Rotate: API keys and secrets".
        id: 'api-keys-due-rotation',
        title: 'Active API keys older than 90 days',
        sql: `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND created_at < now() - make_interval(days => $1)`,
        params: [90],
        warn: 0,
        unit: 'keys',
        severity: 'P3',
      },
    ],
  },
  // "Verify: Database backups successful", weekly: a dump under half the size of last week's is not one.
  baselines: {
    'heartbeat.db-backup.backup_bytes': { vs: 'previous', failPct: 50, direction: 'below' },
  },
  heartbeats: [
    {
      // The nightly `pg_dump $DATABASE_URL | gzip > backup_….sql.gz` pings when it finishes, with the file's size:
      //   f=backup_$(date +%Y%m%d).sql.gz; pg_dump $DATABASE_URL | gzip > $f; rc=$?; \
      //   curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" -H 'content-type: application/json' \
      //     -d "{\"metrics\":{\"backup_bytes\":$(wc -c < $f)}}" https://<opsbook>/api/heartbeats/db-backup/$rc
      // The pipeline's exit code is gzip's: when pg_dump fails, gzip still exits 0 on a 20-byte file, and
      // only the size shows it.
      name: 'db-backup',
      title: 'Nightly pg_dump',
      cron: '0 3 * * *',
      graceSeconds: 3 * 3600,
      rpoSeconds: DAY + 6 * 3600,
      severity: 'P2',
      // Under 1 MB is an empty dump (a placeholder: set it from your compressed dump's usual size).
      metrics: { backup_bytes: { title: 'Nightly dump size (gzip)', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
  ],
  checklists: [
    {
      id: 'morning',
      title: 'Morning checklist (9 AM UTC)',
      schedule: { type: 'daily', at: '09:00' },
      items: [
        // 1. System status
        { check: 'statuspage.vocavision' },
        { check: 'http.site' },
        { check: 'http.api-health' },
        { check: 'http.vercel-deployments' },
        { check: 'http.sentry-new-issues' },
        // 2. Overnight metrics
        { check: 'sql.active-users' },
        { check: 'sql.error-rate' },
        { check: 'sql.p95-response-time' },
        { check: 'postgres.slow-queries' },
        { check: 'postgres.connections' },
        { check: 'postgres.long-running' },
        { check: 'redis.ping' },
        { check: 'redis.hit-rate' },
        // 3. Alerts and 4. support tickets: people's channels, out of Opsbook's reach.
        { manual: 'Review Slack #incidents-alerts', owner: 'on-call' },
        { manual: 'Verify there are no unacknowledged PagerDuty alerts', owner: 'on-call' },
        { manual: 'Check email for monitoring alerts', owner: 'on-call' },
        { manual: 'Support tickets: handle priority issues and note recurring problems', owner: 'support' },
      ],
    },
    {
      id: 'weekly',
      title: 'Weekly checklist (Monday 10 AM UTC)',
      schedule: { type: 'weekly', days: ['mon'], at: '10:00' },
      items: [
        // 2. Performance review, 3. security scan, 4. backups, 5. capacity
        { check: 'postgres.slow-queries' },
        { check: 'tls' },
        { check: 'heartbeat.db-backup' },
        { check: 'postgres.database-size' },
        { check: 'postgres.largest-tables' },
        { check: 'postgres.vacuum' },
        { check: 'dns' },
        { check: 'statuspage.vercel' },
        // Database maintenance, weekly: "ANALYZE VERBOSE" … "VACUUM ANALYZE" (VACUUM ANALYZE includes ANALYZE).
        { task: 'vacuum-analyze' },
        { manual: 'Review Dependabot PRs and merge security updates', owner: 'dev' },
        { manual: 'Test the merged updates on staging', owner: 'dev' },
        { manual: 'Run npm audit and review the Snyk security scan', owner: 'dev' },
        { manual: 'Analyze Core Web Vitals trends (Vercel Analytics)', owner: 'frontend', link: 'https://vercel.com/vocavision/analytics' },
        { manual: 'Check bundle size changes', owner: 'frontend' },
        { manual: 'Check the backup retention policy', owner: 'dba' },
        { manual: 'Review resource utilization and plan scaling if needed', owner: 'devops' },
      ],
    },
    {
      id: 'monthly',
      title: 'Monthly checklist (first Monday)',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' },
      items: [
        // 1. Access review
        { check: 'sql.inactive-accounts' },
        { check: 'sql.api-keys-due-rotation' },
        // Monthly maintenance: clean up old data, in batches, each batch audited. Two items because the ages
        // differ: the tables of one item share its olderThanDays.
        { task: 'retention-delete', tables: ['audit_logs'], column: 'created_at', olderThanDays: 90 },
        { task: 'retention-delete', tables: ['session_logs'], column: 'created_at', olderThanDays: 30 },
        { check: 'postgres.unused-indexes' },
        { check: 'postgres.duplicate-indexes' },
        // Opsbook's own upkeep: run history, snapshots and reports older than retentionDays (90).
        { task: 'prune-history' },
        { manual: 'Audit user access permissions; soft-delete the inactive accounts listed above', owner: 'security' },
        { manual: 'Rotate the API keys listed above and the secrets due', owner: 'security' },
        { manual: 'Maintenance window: VACUUM FULL ANALYZE and REINDEX DATABASE vocavision (admin action, with confirmation)', owner: 'dba' },
        { manual: 'Test a restore from backup into a scratch database', owner: 'dba' },
        { manual: 'Update runbooks and playbooks; review incident post-mortems; update architecture diagrams', owner: 'devops' },
        { manual: 'Review Vercel usage and costs; optimize the CDN cache hit rate', owner: 'devops', link: 'https://vercel.com/vocavision/analytics' },
        { manual: 'Review data retention policies and verify GDPR compliance', owner: 'security' },
        { manual: 'Check the security audit logs', owner: 'security' },
      ],
    },
    {
      id: 'quarterly',
      title: 'Quarterly security maintenance',
      schedule: { type: 'quarterly', at: '10:00' },
      items: [
        // lastDone: set it when the rotation is done; the report shows it beside the item.
        { manual: 'Rotate secrets (NEXTAUTH_SECRET, OPENAI/ANTHROPIC keys, SENTRY_AUTH_TOKEN): add *_NEW, deploy, verify, remove the old after 24 h', owner: 'security', lastDone: '2024-01-15' },
        { manual: 'Security audit: npm audit, npm run security:scan, vulnerability scan (Snyk), review findings', owner: 'security' },
        { manual: 'Access review: team member access, inactive accounts, API key usage', owner: 'security' },
        { manual: 'Compliance: GDPR, data retention policies, privacy policy updates', owner: 'security' },
      ],
    },
  ],
});
