import { defineConfig } from '../lib/config/define.js';

/**
 * VIVIM (runbook 000): a Bun + Prisma server on Postgres, a Redis cache with an in-memory fallback, and a
 * libp2p network with bootstrap nodes. The runbook is a set of procedures with no schedule of its own,
 * so the daily checklist runs its checks every morning and the weekly one carries the manual procedures.
 *
 *   runbook item                                   → here
 *   pg_dump backup                                 → heartbeat `db-backup` (the backup cron pings with the
 *                                                    dump's size: backup_bytes, and a baseline)
 *   high memory: stuck CRDT sync / extraction      → queues.backlog, queues.stuck; the host's memory,
 *                                                    heartbeat.server.mem_used_pct (examples/host-agent.sh)
 *   vivim-server under pm2                         → heartbeat.server.pm2_not_online (host-agent.sh)
 *   Redis cache failure, REDIS_URL correct         → redis.ping + env.required (REDIS_URL); /api/health
 *                                                    reports Redis as `degraded`, not down, because
 *                                                    HEALTH_CRITICAL defaults to "database" only
 *   libp2p bootstrap nodes reachable, port open    → tcp.bootstrap-1, tcp.bootstrap-2
 *   TLS certificates valid (secure transport)      → tls.bootstrap-1-wss, tls.bootstrap-2-wss
 *   revoke API key / suspend account               → admin actions, through `app` below
 *   migrations, restart, log levels                → manual items
 *
 * The runbook names no disk, load or file-descriptor trouble, so the host agent sends only memory and pm2
 * (OPSBOOK_METRICS="mem_used_pct pm2_not_online": a metric the heartbeat does not declare is refused).
 * It gives no memory threshold either: 85 % warn and 95 % fail are placeholders to tune.
 *
 * Hostnames are placeholders: put your own.
 */
export default defineConfig({
  service: 'VIVIM',
  recipients: ['ops@vivim.example.com'],
  links: {
    Sentry: 'https://sentry.io/organizations/example-org/projects/vivim-server/',
    Logs: 'https://logs.vivim.example.com/',
  },
  // The runbook's own SQL: `UPDATE users SET status = 'SUSPENDED', "suspendedAt" = NOW(),
  // "suspensionReason" = …` (Prisma's camelCase columns) and `DELETE FROM api_keys WHERE id = …`.
  app: {
    users: {
      table: 'users',
      columns: { id: 'id', email: 'email', status: 'status', suspendedAt: 'suspendedAt', suspensionReason: 'suspensionReason' },
    },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'userId' } },
  },
  checks: {
    // The CRDT sync (Yjs) and memory-extraction pipelines run as BullMQ queues on the same Redis.
    // Discovery by SCAN finds them; a pipeline with work waiting and nothing active is stuck.
    queues: { prefix: 'bull', stuckAfterSeconds: 600 },
    requiredEnv: ['DATABASE_URL', 'REDIS_URL'],
    // "Check if the Bootstrap nodes are reachable" and "the firewall allows the configured libp2p port".
    tcp: [
      { id: 'bootstrap-1', host: 'bootstrap-1.vivim.example.com', port: 4001, severity: 'P2' },
      { id: 'bootstrap-2', host: 'bootstrap-2.vivim.example.com', port: 4001, severity: 'P2' },
    ],
    // "Verify TLS certificates are valid if secure transport is enforced" (libp2p over secure WebSockets).
    tls: [
      { id: 'bootstrap-1-wss', host: 'bootstrap-1.vivim.example.com', port: 443 },
      { id: 'bootstrap-2-wss', host: 'bootstrap-2.vivim.example.com', port: 443 },
    ],
  },
  // A dump much smaller than the week's is a broken one, even when pg_dump exited 0.
  baselines: {
    'heartbeat.db-backup.backup_bytes': { vs: 'median-7d', failPct: 50, direction: 'below' },
  },
  heartbeats: [
    {
      // The host's backup cron runs the runbook's pg_dump, then pings with its exit code and the dump's size:
      //   pg_dump -U … -F c -b -v -f /backups/openscroll.dump openscroll; rc=$?; \
      //   curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" -H 'content-type: application/json' \
      //     -d "{\"metrics\":{\"backup_bytes\":$(wc -c < /backups/openscroll.dump)}}" https://<opsbook>/api/heartbeats/db-backup/$rc
      name: 'db-backup',
      title: 'pg_dump of openscroll',
      periodSeconds: 86_400,
      graceSeconds: 2 * 3600,
      severity: 'P2',
      // Under 1 MB is an empty dump whatever the exit code said (a placeholder: set it from your dump's size).
      metrics: { backup_bytes: { title: 'openscroll dump size', unit: 'bytes', fail: 1_000_000, direction: 'below' } },
    },
    {
      // examples/host-agent.sh from the server's cron every five minutes (what free and pm2 status show):
      //   */5 * * * * OPSBOOK_URL=https://<opsbook> OPSBOOK_HEARTBEAT=server OPSBOOK_TOKEN=… \
      //     OPSBOOK_METRICS="mem_used_pct pm2_not_online" /opt/opsbook/host-agent.sh
      name: 'server',
      title: 'vivim-server host (memory, pm2)',
      periodSeconds: 300,
      graceSeconds: 600,
      severity: 'P2',
      metrics: {
        // 3.1 High memory usage.
        mem_used_pct: { title: 'Server memory used', warn: 85, fail: 95, unit: '%' },
        // 2.1 "pm2 restart vivim-server": a process pm2 shows errored or stopped needs it.
        pm2_not_online: { title: 'pm2 processes not online (vivim-server)', fail: 0 },
      },
    },
  ],
  checklists: [
    {
      id: 'daily',
      title: 'VIVIM morning checks',
      schedule: { type: 'daily', at: '08:00' },
      items: [
        { check: 'postgres.connections' },
        { check: 'postgres.long-running' },
        { check: 'postgres.idle-in-transaction' },
        { check: 'postgres.blocked' },
        { check: 'redis.ping' },
        { check: 'redis.memory' },
        { check: 'env.required' },
        { check: 'queues.backlog' },
        { check: 'queues.stuck' },
        { check: 'queues.failed' },
        { check: 'tcp' },
        { check: 'tls' },
        { check: 'heartbeat.db-backup' },
        // Memory and pm2 status, pushed every five minutes by examples/host-agent.sh on the server.
        { check: 'heartbeat.server' },
        {
          manual: 'If a queue is stuck or memory is high: look for OutOfMemoryError in the logs (bun run start | bunx pino-pretty), then pm2 restart vivim-server; raise the container memory limit if it recurs',
          owner: 'on-call',
        },
      ],
    },
    {
      id: 'weekly',
      title: 'VIVIM weekly maintenance',
      schedule: { type: 'weekly', days: ['mon'], at: '10:00' },
      items: [
        { check: 'postgres.slow-queries' },
        { check: 'postgres.vacuum' },
        { check: 'postgres.largest-tables' },
        // Opsbook's own upkeep: run history, snapshots and reports older than retentionDays (90).
        { task: 'prune-history' },
        { manual: 'Apply pending schema changes in production: bunx prisma migrate deploy (never prisma db push outside development)', owner: 'backend' },
        { manual: 'Restore test: pg_restore -1 the latest openscroll dump into a scratch database and spot-check users and api_keys', owner: 'backend' },
        { manual: 'Reset LOG_LEVEL to info if it was raised to debug or trace for an investigation', owner: 'on-call' },
      ],
    },
  ],
});
