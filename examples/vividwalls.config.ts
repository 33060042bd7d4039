import { defineConfig } from '../lib/config/define.js';

/**
 * VividWalls MAS (runbook 002): one DigitalOcean droplet running docker-compose (n8n, Postgres, Caddy,
 * MCP servers). The runbook's rhythm, kept as is: every morning, end of day, Monday / Wednesday /
 * Friday, the first to fourth Monday of the month, and quarterly items from its security checklist.
 *
 * What needs a shell on the droplet (alerts.log, docker stats, log rotation, apt upgrade, SSH logs) is
 * out of Opsbook's reach: those are manual items, and the droplet's own cron jobs push heartbeats for
 * the scripts and backups they run, e.g. at the end of daily_maintenance.sh:
 *   curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" \
 *     https://<opsbook>/api/heartbeats/daily-maintenance/$?
 *
 * Severities follow the runbook's P1–P4: P1 complete outage, P2 key service degraded, P3 minor, P4 low.
 * The n8n API key is read from N8N_API_KEY (never printed). Hostnames are placeholders.
 */
const DAY = 86_400;

export default defineConfig({
  service: 'VividWalls MAS',
  recipients: ['admin@vividwalls.example.com'],
  links: {
    n8n: 'https://n8n.vividwalls.example.com/',
    DigitalOcean: 'https://cloud.digitalocean.com/droplets',
  },
  checks: {
    http: [
      // "Verify all services are accessible": each service Caddy serves.
      { id: 'site', title: 'Main site (Caddy)', url: 'https://vividwalls.example.com', severity: 'P1' },
      {
        id: 'n8n',
        title: 'n8n health',
        url: 'https://n8n.vividwalls.example.com/healthz',
        conditions: [{ path: 'status', op: 'eq', value: 'ok' }],
        severity: 'P1',
      },
      {
        // "Check for any failed workflows": executions that ended in error (n8n public API).
        id: 'n8n-failed-executions',
        title: 'n8n failed executions',
        url: 'https://n8n.vividwalls.example.com/api/v1/executions?status=error&limit=50',
        headers: { 'X-N8N-API-KEY': { env: 'N8N_API_KEY' } },
        conditions: [{ path: 'data.length', op: 'eq', value: 0 }],
        severity: 'P2',
      },
      {
        // Monday workflow review, "Show statistics": the active workflows are still there.
        id: 'n8n-active-workflows',
        title: 'n8n active workflows',
        url: 'https://n8n.vividwalls.example.com/api/v1/workflows?active=true&limit=250',
        headers: { 'X-N8N-API-KEY': { env: 'N8N_API_KEY' } },
        conditions: [{ path: 'data.length', op: 'gt', value: 0 }],
        severity: 'P2',
      },
    ],
    // Security checklist: "Verify SSL certificates monthly" (Caddy renews; a warning means it stopped).
    tls: [
      { id: 'site-cert', host: 'vividwalls.example.com' },
      { id: 'n8n-cert', host: 'n8n.vividwalls.example.com' },
    ],
    sqlMetrics: [
      {
        // Security checklist: "Check for failed login attempts" (app logins recorded in auth_events).
        // The runbook gives no threshold: tune these to your normal week.
        id: 'failed-logins',
        title: 'Failed login attempts (last 7 days)',
        sql: `SELECT count(*) FROM auth_events WHERE event = 'login_failed' AND created_at > now() - interval '7 days'`,
        warn: 25,
        fail: 100,
        unit: 'attempts',
        severity: 'P2',
      },
    ],
  },
  // Backup schedule: daily database and workflows, weekly configuration, monthly full backup (first Monday).
  heartbeats: [
    { name: 'daily-maintenance', title: 'daily_maintenance.sh on the droplet', periodSeconds: DAY, graceSeconds: 2 * 3600, severity: 'P3' },
    { name: 'db-backup', title: 'Daily database backup', periodSeconds: DAY, graceSeconds: 3 * 3600, severity: 'P2' },
    { name: 'workflows-backup', title: 'Daily n8n workflow export', periodSeconds: DAY, graceSeconds: 3 * 3600, severity: 'P2' },
    { name: 'config-backup', title: 'Weekly configuration backup', periodSeconds: 7 * DAY, graceSeconds: DAY, severity: 'P3' },
    // First Monday to first Monday is 4 or 5 weeks.
    { name: 'full-backup', title: 'Monthly full system backup', periodSeconds: 35 * DAY, graceSeconds: DAY, severity: 'P3' },
    // examples/host-agent.sh from the droplet's cron every ten minutes: what df -h, free -h and docker ps show.
    {
      name: 'droplet',
      title: 'Droplet (disk, memory, containers)',
      periodSeconds: 600,
      graceSeconds: 1200,
      severity: 'P2',
      metrics: {
        disk_used_pct: { title: 'Droplet disk used (df -h /)', warn: 80, fail: 90, unit: '%' },
        mem_used_pct: { title: 'Droplet memory used (free -h)', warn: 85, fail: 95, unit: '%' },
        docker_not_running: { title: 'Containers not running (exited, dead, restarting)', fail: 0 },
      },
    },
  ],
  checklists: [
    {
      id: 'morning',
      title: 'Morning health check',
      schedule: { type: 'daily', at: '08:00' },
      items: [
        { check: 'http.site' },
        { check: 'http.n8n' },
        { check: 'postgres.connections' },
        { check: 'postgres.long-running' },
        { check: 'heartbeat.daily-maintenance' },
        { check: 'heartbeat.db-backup' },
        { check: 'heartbeat.workflows-backup' },
        // The droplet's disk, memory and containers (docker ps), pushed by examples/host-agent.sh.
        { check: 'heartbeat.droplet' },
        // Daily maintenance: "Database vacuum".
        { task: 'vacuum-analyze' },
        // Daily sizes and query statistics, so the third Monday's capacity review has a trend to read.
        { task: 'snapshot' },
        { manual: 'Check overnight alerts: tail -20 /var/log/vividwalls/alerts.log on the droplet', owner: 'on-call' },
      ],
    },
    {
      id: 'end-of-day',
      title: 'End of day review',
      schedule: { type: 'daily', at: '17:00' },
      items: [
        { check: 'http' },
        { manual: 'Review the daily maintenance report (container health, resource usage, log rotation, security checks)', owner: 'on-call' },
        { manual: 'Note any issues for follow-up', owner: 'on-call' },
      ],
    },
    {
      id: 'monday',
      title: 'Monday: workflow review',
      schedule: { type: 'weekly', days: ['mon'], at: '09:00' },
      items: [
        { check: 'http.n8n-failed-executions' },
        { check: 'http.n8n-active-workflows' },
        { check: 'heartbeat.workflows-backup' },
        { manual: 'Review workflow performance (./scripts/workflow_manager.sh, option 7) and update inactive workflows', owner: 'automation' },
        { manual: 'Export a workflow backup (./scripts/workflow_manager.sh)', owner: 'automation' },
      ],
    },
    {
      id: 'wednesday',
      title: 'Wednesday: system updates',
      schedule: { type: 'weekly', days: ['wed'], at: '09:00' },
      items: [
        { manual: 'apt update && apt upgrade -y on the droplet', owner: 'sysadmin' },
        { manual: 'docker-compose pull (test first); restart only if the updates are critical', owner: 'sysadmin' },
      ],
    },
    {
      id: 'friday',
      title: 'Friday: performance review',
      schedule: { type: 'weekly', days: ['fri'], at: '09:00' },
      items: [
        { check: 'heartbeat.config-backup' },
        { check: 'postgres.slow-queries' },
        { check: 'sql.failed-logins' },
        { manual: 'Performance report: docker stats --no-stream and docker system df, saved to reports/', owner: 'sysadmin' },
        { manual: 'Docker cleanup: docker system prune -af and docker volume prune -f', owner: 'sysadmin' },
        { manual: 'Review SSH access logs (weekly, security checklist)', owner: 'security' },
      ],
    },
    {
      id: 'first-monday',
      title: 'First Monday: full system backup and database optimization',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' },
      items: [
        { check: 'heartbeat.full-backup' },
        // Database optimization, "run monthly": VACUUM ANALYZE (REINDEX is an admin action).
        { task: 'vacuum-analyze' },
        { check: 'postgres.invalid-indexes' },
        // Opsbook's own upkeep: run history, snapshots and reports older than retentionDays (90).
        { task: 'prune-history' },
        { manual: 'Check /backup/vivid_mas_full_<yyyymm>.tar.gz exists and lists (tar -tzf)', owner: 'sysadmin' },
        { manual: 'REINDEX DATABASE postgres in a quiet hour (admin action, with confirmation)', owner: 'sysadmin' },
        { manual: 'Update system packages (monthly, security checklist)', owner: 'sysadmin' },
      ],
    },
    {
      id: 'second-monday',
      title: 'Second Monday: security audit',
      schedule: { type: 'nth-weekday', nth: 2, weekday: 'mon', at: '10:00' },
      items: [
        { check: 'tls' },
        { check: 'sql.failed-logins' },
        { manual: 'Review SSH access logs and check for unusual activity (grep "Failed password" /var/log/auth.log)', owner: 'security' },
        { manual: 'Update passwords if needed', owner: 'security' },
        { manual: 'Review firewall rules (ufw status verbose)', owner: 'security' },
      ],
    },
    {
      id: 'third-monday',
      title: 'Third Monday: capacity planning',
      schedule: { type: 'nth-weekday', nth: 3, weekday: 'mon', at: '10:00' },
      items: [
        { check: 'postgres.database-size' },
        { check: 'postgres.largest-tables' },
        // df -h and free -h, as the host agent last pushed them.
        { check: 'heartbeat.droplet.disk_used_pct' },
        { check: 'heartbeat.droplet.mem_used_pct' },
        { manual: 'Review disk usage trends (docker system df)', owner: 'sysadmin' },
        { manual: 'Plan for scaling needs', owner: 'sysadmin' },
        { manual: 'Review backup retention', owner: 'sysadmin' },
      ],
    },
    {
      id: 'fourth-monday',
      title: 'Fourth Monday: disaster recovery test',
      schedule: { type: 'nth-weekday', nth: 4, weekday: 'mon', at: '10:00' },
      items: [
        { check: 'heartbeat.db-backup' },
        { check: 'heartbeat.workflows-backup' },
        { manual: 'Disaster recovery test: restore the latest database and workflow backups on a staging droplet', owner: 'sysadmin' },
      ],
    },
    {
      id: 'quarterly',
      title: 'Quarterly security',
      schedule: { type: 'quarterly', at: '10:00' },
      items: [
        { manual: 'Review container vulnerabilities (docker scout cves / trivy on each image)', owner: 'security' },
        { manual: 'Rotate passwords (access control: strong passwords, rotated quarterly)', owner: 'security', lastDone: '2025-01-10' },
      ],
    },
  ],
});
