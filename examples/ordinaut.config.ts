import { defineConfig } from '../lib/config/define.js';

/**
 * Ordinaut (an outside runbook: github.com/yoda-digital/ordinaut, ops/PRODUCTION_RUNBOOK.md): a task
 * scheduler of an API, a scheduler, workers, PostgreSQL and Redis under docker-compose on one host, with
 * Prometheus, Grafana and Alertmanager beside it. The runbook is a set of shell scripts; their rhythm is
 * kept: a morning check (08:00), an evening check (18:00), the daily capacity check, Sunday 02:00 weekly
 * maintenance, first-Sunday 01:00 monthly maintenance, and the restart procedures, whose verification
 * steps are the on-demand `post-deploy` checklist (run from a deploy hook or after a restart).
 *
 * Ordinaut's work queue is a Postgres table (`due_work`, taken with SKIP LOCKED) and its workers report
 * in `worker_heartbeat`, so the queue and the workers are SQL metrics. `checks.queues.limits` guards the
 * BullMQ queues that share the Redis (the `webhooks` delivery queue here); Ordinaut itself has none.
 *
 * Everything the scripts do on the host (docker ps, docker stats, df, free, docker logs, find … -delete,
 * docker system prune, pg_dump, tar) needs a shell there: examples/host-agent.sh pushes the host's figures
 * on the `host` heartbeat, a small log-scan cron pushes the API's error count, and the backup and
 * host-maintenance scripts ping their heartbeats when they finish (the backups with their size).
 *
 * The hosts are placeholders (*.ordinaut.example.com): the runbook curls localhost, which a Vercel
 * function cannot reach, so expose the health endpoints (or run Opsbook with `npm start` on the host).
 */
const DAY = 86_400;
const GB = 1_000_000_000;

export default defineConfig({
  service: 'Ordinaut',
  recipients: ['ops@ordinaut.example.com'],
  // Ordinaut's Redis holds its own keys; Opsbook's rate limiters stay apart under this prefix.
  redisKeyPrefix: 'ordinaut-ops:',
  links: {
    Grafana: 'https://grafana.ordinaut.example.com/d/orchestrator-overview',
    Prometheus: 'https://prometheus.ordinaut.example.com/alerts',
    Alertmanager: 'https://alertmanager.ordinaut.example.com/#/alerts',
  },
  checks: {
    postgres: {
      thresholds: {
        // SLA: database queries under 100 ms.
        slowQueryMeanMs: 100,
        slowQueryMinCalls: 50,
        cacheHitWarnPct: 99,
        cacheHitFailPct: 95,
        // The runbook runs no replica; these grade one if it is added (scheduling SLA: 30 s).
        replicationLagWarnSeconds: 5,
        replicationLagFailSeconds: 30,
      },
      // The volume the database lives on (placeholder: 50 GB); growth says how many days are left.
      sizeLimitBytes: 50 * GB,
    },
    redis: {
      // The runbook scales at 90 % memory; Redis past it starts evicting.
      thresholds: { memoryWarnPct: 80, memoryFailPct: 90 },
    },
    queues: {
      limits: {
        '*': { failedWarn: 10, failedFail: 100 },
        webhooks: { failedWarn: 5, failedFail: 20, waitingWarn: 500, waitingFail: 1000, oldestWaitingWarnSeconds: 300, oldestWaitingFailSeconds: 1800 },
      },
    },
    http: [
      // SLA: API responses under 200 ms.
      { id: 'api-health', title: 'API /health', url: 'https://api.ordinaut.example.com/health', degradedMs: 200, failMs: 1000, severity: 'P1' },
      { id: 'api-ready', title: 'API /health/ready', url: 'https://api.ordinaut.example.com/health/ready', degradedMs: 200, failMs: 1000, severity: 'P1' },
      { id: 'prometheus', title: 'Prometheus', url: 'https://prometheus.ordinaut.example.com/-/healthy', severity: 'P3' },
      { id: 'grafana', title: 'Grafana', url: 'https://grafana.ordinaut.example.com/api/health', conditions: [{ path: 'database', value: 'ok' }], severity: 'P3' },
      { id: 'alertmanager', title: 'Alertmanager', url: 'https://alertmanager.ordinaut.example.com/api/v2/status', severity: 'P3' },
      {
        // "Currently firing alerts": the summary calls five or more unhealthy. Silenced and inhibited ones are left out.
        id: 'firing-alerts',
        title: 'Alertmanager: fewer than 5 firing alerts',
        url: 'https://alertmanager.ordinaut.example.com/api/v1/alerts?silenced=false&inhibited=false',
        conditions: [{ path: 'data.length', op: 'lt', value: 5 }],
        severity: 'P2',
      },
      {
        // The daily capacity check's p95 from Prometheus (SLA 200 ms); Prometheus answers the value as a string.
        id: 'api-p95',
        title: 'API p95 latency (Prometheus) under 0.2 s',
        url: 'https://prometheus.ordinaut.example.com/api/v1/query?query=histogram_quantile(0.95,sum(rate(http_request_duration_seconds_bucket[5m]))by(le))',
        conditions: [
          { path: 'status', value: 'success' },
          // Prometheus answers the number as a string; lt compares it as a number.
          { path: 'data.result[0].value[1]', op: 'lt', value: 0.2 },
        ],
        severity: 'P2',
      },
    ],
    requiredEnv: ['DATABASE_URL', 'REDIS_URL'],
    sqlMetrics: [
      { id: 'active-tasks', title: 'Active tasks', sql: "SELECT count(*) FROM task WHERE status = 'active'", unit: 'tasks' },
      {
        // The runbook's scaling rule: more than 1000 due items means add workers.
        id: 'due-now',
        title: 'Work due now and not locked',
        sql: 'SELECT count(*) FROM due_work WHERE run_at <= now() AND (locked_until IS NULL OR locked_until < now())',
        warn: 1000,
        fail: 5000,
        unit: 'items',
        severity: 'P2',
      },
      {
        // "No active workers detected" is the morning check's failure: fail below 1, so at 0.
        id: 'active-workers',
        title: 'Workers seen in the last 2 minutes',
        sql: "SELECT count(*) FROM worker_heartbeat WHERE last_seen > now() - interval '2 minutes'",
        direction: 'below',
        fail: 1,
        unit: 'workers',
        severity: 'P1',
      },
      {
        // No threshold in the runbook: 95 % and 80 % are placeholders to tune.
        id: 'success-rate-today',
        title: 'Task runs succeeded today',
        sql: 'SELECT COALESCE(round(100.0 * count(*) FILTER (WHERE success) / NULLIF(count(*), 0), 2), 100) FROM task_run WHERE started_at >= current_date',
        direction: 'below',
        warn: 95,
        fail: 80,
        unit: '%',
      },
      {
        id: 'max-execution-today',
        title: 'Longest task run today',
        sql: 'SELECT COALESCE(max(extract(epoch FROM finished_at - started_at)), 0) FROM task_run WHERE started_at >= current_date AND finished_at IS NOT NULL',
        unit: 's',
      },
      { id: 'scheduled-tomorrow', title: 'Work scheduled for tomorrow', sql: 'SELECT count(*) FROM due_work WHERE run_at::date = current_date + 1', unit: 'items' },
      {
        // SLA: more than 100 tasks a minute; under it the runbook says CAUTION.
        id: 'processing-rate',
        title: 'Task runs finished per minute (last hour)',
        sql: "SELECT COALESCE(count(*) / GREATEST(extract(epoch FROM now() - min(started_at)) / 60, 1), 0) FROM task_run WHERE started_at > now() - interval '1 hour' AND finished_at IS NOT NULL",
        direction: 'below',
        warn: 100,
        unit: '/min',
      },
      {
        id: 'avg-wait',
        title: 'Average wait of work created in the last 24 h',
        sql: "SELECT COALESCE(avg(extract(epoch FROM COALESCE(locked_until, now()) - created_at)), 0) FROM due_work WHERE created_at > now() - interval '24 hours'",
        warn: 30,
        unit: 's',
      },
      {
        // Counted every day so the baseline below can say when creation jumps or stops (capacity planning).
        id: 'tasks-created-24h',
        title: 'Tasks created in the last 24 h',
        sql: "SELECT count(*) FROM task WHERE created_at > now() - interval '24 hours'",
        unit: 'tasks',
      },
      {
        // No threshold in the runbook: placeholders.
        id: 'security-events',
        title: 'Failed logins and denied access (24 h)',
        sql: "SELECT count(*) FROM audit_log WHERE at > now() - interval '24 hours' AND action IN ('login_failed', 'unauthorized_access', 'permission_denied')",
        warn: 10,
        fail: 100,
        unit: 'events',
      },
      {
        // What the weekly clean-up of completed due_work leaves: retention-delete cannot skip active tasks' rows.
        id: 'old-due-work',
        title: 'due_work rows older than 7 days, not of an active task',
        sql: "SELECT count(*) FROM due_work WHERE created_at < now() - interval '7 days' AND task_id NOT IN (SELECT id FROM task WHERE status = 'active')",
        warn: 1,
        unit: 'rows',
      },
      {
        id: 'month-success-rate',
        title: 'Task runs succeeded last month',
        sql: "SELECT COALESCE(round(100.0 * count(*) FILTER (WHERE success) / NULLIF(count(*), 0), 2), 100) FROM task_run WHERE started_at >= date_trunc('month', current_date - interval '1 month') AND started_at < date_trunc('month', current_date)",
        direction: 'below',
        warn: 95,
        unit: '%',
      },
      {
        id: 'audit-actions-30d',
        title: 'Audit log entries (30 days)',
        sql: "SELECT count(*) FROM audit_log WHERE at > current_date - interval '30 days'",
        unit: 'entries',
      },
    ],
  },
  baselines: {
    // A backup much smaller than the last week's is a broken dump, even when the script exited 0.
    'heartbeat.db-backup.backup_bytes': { vs: 'median-7d', warnPct: 30, failPct: 50, direction: 'below' },
    'heartbeat.monthly-backup.backup_bytes': { vs: 'previous', failPct: 50, direction: 'below' },
    'sql.tasks-created-24h': { vs: 'median-7d', warnPct: 50, direction: 'either' },
  },
  heartbeats: [
    {
      // examples/host-agent.sh from the host's cron every five minutes: df, free, uptime, docker ps.
      name: 'host',
      title: 'Docker host (disk, memory, containers)',
      periodSeconds: 300,
      graceSeconds: 600,
      severity: 'P2',
      metrics: {
        disk_used_pct: { title: 'Disk used on /', warn: 85, fail: 95, unit: '%' },
        mem_used_pct: { title: 'Memory used', warn: 90, fail: 97, unit: '%' },
        load1: { title: 'Load (1 min)', warn: 8 },
        open_fds: { title: 'Open file descriptors', warn: 50_000 },
        pm2_not_online: { title: 'pm2 processes not online', fail: 0 },
        docker_not_running: { title: 'Containers not running (api, scheduler, worker, postgres, redis…)', fail: 0 },
      },
    },
    {
      // A cron line on the host: `docker logs api --since 24h | grep -cE 'ERROR|CRITICAL|FATAL'`, pushed as ?api_errors_24h=N.
      name: 'log-scan',
      title: 'API log scan (24 h)',
      periodSeconds: 3600,
      graceSeconds: 1800,
      severity: 'P3',
      metrics: { api_errors_24h: { title: 'API errors in the last 24 h', warn: 50, fail: 100 } },
    },
    {
      // The nightly pg_dump, with its size: `…/api/heartbeats/db-backup/$?` and {"metrics":{"backup_bytes":N}}.
      name: 'db-backup',
      title: 'Nightly database backup',
      cron: '0 2 * * *',
      graceSeconds: 2 * 3600,
      rpoSeconds: DAY + 6 * 3600,
      severity: 'P2',
      metrics: { backup_bytes: { title: 'Dump size', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
    {
      // monthly_maintenance.sh: the full pg_dump | gzip on the first Sunday.
      name: 'monthly-backup',
      title: 'Monthly full backup (pg_dump | gzip)',
      periodSeconds: 31 * DAY,
      graceSeconds: 7 * DAY,
      severity: 'P2',
      metrics: { backup_bytes: { title: 'Compressed dump size', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
    { name: 'config-backup', title: 'Monthly configuration backup (compose files, Prometheus, Grafana, migrations)', periodSeconds: 31 * DAY, graceSeconds: 7 * DAY, severity: 'P3' },
    {
      // weekly_maintenance.sh's host half (docker log rotation, docker system/volume prune, backups older than
      // 180 days), moved to 01:30 so it has reported by the time the 02:00 checklist looks.
      name: 'host-maintenance',
      title: 'Weekly host clean-up (logs, docker prune, old backups)',
      cron: '30 1 * * 0',
      graceSeconds: 6 * 3600,
      severity: 'P3',
    },
  ],
  maintenanceWindows: [
    // The weekly maintenance VACUUMs and REINDEXes: slow queries and locks then are expected.
    { id: 'sunday-maintenance', title: 'Weekly database maintenance', weekday: ['sun'], start: '02:00', durationMinutes: 120, checks: ['postgres', 'sql'] },
  ],
  alerts: {
    perCheck: { 'sql.active-workers': { alertAfter: 1 }, 'http.api-health': { alertAfter: 1 } },
  },
  checklists: [
    {
      id: 'morning',
      title: 'Morning health check',
      schedule: { type: 'daily', at: '08:00' },
      items: [
        { check: 'heartbeat.host' },
        { check: 'http.api-health' },
        { check: 'http.api-ready' },
        { check: 'http.prometheus' },
        { check: 'http.grafana' },
        { check: 'http.alertmanager' },
        { check: 'http.firing-alerts' },
        { check: 'postgres.reachable' },
        { check: 'postgres.database-size' },
        { check: 'postgres.connections' },
        { check: 'postgres.cache-hit' },
        { check: 'postgres.replication' },
        { check: 'redis.ping' },
        { check: 'redis.memory' },
        { check: 'redis.dbsize' },
        { check: 'queues' },
        { check: 'sql.active-tasks' },
        { check: 'sql.due-now' },
        { check: 'sql.active-workers' },
        { check: 'sql.security-events' },
        { check: 'heartbeat.log-scan' },
        { manual: 'docker system df: images and build cache are not eating the disk', owner: 'ops' },
      ],
    },
    {
      id: 'evening',
      title: 'Evening health check',
      schedule: { type: 'daily', at: '18:00' },
      items: [
        { check: 'sql.success-rate-today' },
        { check: 'sql.max-execution-today' },
        { check: 'sql.scheduled-tomorrow' },
        { check: 'heartbeat.host.mem_used_pct' },
        { check: 'heartbeat.host.load1' },
        { check: 'postgres.largest-tables' },
        { check: 'heartbeat.db-backup' },
        { task: 'snapshot' },
      ],
    },
    {
      id: 'capacity',
      title: 'Daily capacity check',
      schedule: { type: 'daily', at: '07:30' },
      items: [
        { check: 'postgres.growth' },
        { check: 'sql.avg-wait' },
        { check: 'sql.processing-rate' },
        { check: 'sql.tasks-created-24h' },
        { check: 'http.api-p95' },
        { check: 'heartbeat.host.disk_used_pct' },
        { check: 'heartbeat.host.mem_used_pct' },
        { manual: 'Scale workers if due work stays over 1000 with fewer than 5 workers (docker-compose up -d --scale worker=N)', owner: 'ops' },
      ],
    },
    {
      id: 'weekly',
      title: 'Weekly maintenance (Sunday 02:00)',
      schedule: { type: 'cron', cron: '0 2 * * 0' },
      items: [
        { task: 'vacuum-analyze', tables: ['task', 'task_run', 'due_work', 'audit_log', 'worker_heartbeat'] },
        { task: 'analyze' },
        { check: 'postgres.largest-tables' },
        { check: 'postgres.vacuum' },
        { task: 'retention-delete', tables: ['audit_log'], column: 'at', olderThanDays: 90 },
        { task: 'retention-delete', tables: ['task_run'], column: 'created_at', olderThanDays: 30 },
        { check: 'sql.old-due-work' },
        { check: 'heartbeat.host-maintenance' },
        { check: 'postgres.largest-indexes' },
        { check: 'postgres.invalid-indexes' },
        { check: 'postgres.duplicate-indexes' },
        {
          manual: 'Delete due_work older than 7 days that no active task needs (sql.old-due-work counts them)',
          owner: 'ops',
        },
        { manual: 'REINDEX only the indexes the index checks name (db/maintenance reindex, with confirmation), not REINDEX DATABASE', owner: 'ops' },
      ],
    },
    {
      id: 'monthly',
      title: 'Monthly maintenance (first Sunday 01:00)',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'sun', at: '01:00' },
      items: [
        { check: 'heartbeat.monthly-backup' },
        { check: 'heartbeat.config-backup' },
        { check: 'sql.month-success-rate' },
        { check: 'sql.audit-actions-30d' },
        { task: 'prune-history' },
        { manual: 'Capacity planning: tasks created per day over the last 30 days (sql.tasks-created-24h trend)', owner: 'ops' },
        { manual: 'Security audit: audit_log actions by count and distinct actors (30 days)', owner: 'security' },
      ],
    },
    {
      id: 'post-deploy',
      title: 'Post-deploy and post-restart verification',
      schedule: { type: 'manual' },
      items: [
        { check: 'http.api-health' },
        { check: 'http.api-ready' },
        { check: 'postgres.reachable' },
        { check: 'redis.ping' },
        { check: 'sql.active-workers' },
        { check: 'sql.processing-rate' },
        // The performance baseline's SLAs: p95 under 200 ms, database queries under 100 ms.
        { check: 'http.api-p95' },
        { check: 'postgres.slow-queries' },
        { check: 'queues' },
        { manual: 'Scheduler restarted: docker logs scheduler --tail 10 shows it picking up schedules', owner: 'ops' },
        { manual: 'Scheduling latency: create a one-off noop task 30 s ahead and see its task_run start', owner: 'ops' },
        { manual: 'Scan the API, worker and Postgres logs of the last hour for errors, deadlocks and pool exhaustion', owner: 'ops' },
      ],
    },
  ],
});
