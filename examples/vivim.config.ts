import { defineConfig } from '../lib/config/define.js';

/**
 * VIVIM (runbook 000): a Bun + Prisma server on Postgres, a Redis cache with an in-memory fallback, and a
 * libp2p network with bootstrap nodes. The runbook is a set of procedures with no schedule of its own,
 * so the daily checklist runs its checks every morning and the weekly one carries the manual procedures.
 *
 *   runbook item                                   → here
 *   pg_dump backup                                 → heartbeat `db-backup` (the backup cron pings)
 *   high memory: stuck CRDT sync / extraction      → queues.backlog, queues.stuck
 *   Redis cache failure, REDIS_URL correct         → redis.ping + env.required (REDIS_URL); /api/health
 *                                                    reports Redis as `degraded`, not down, because
 *                                                    HEALTH_CRITICAL defaults to "database" only
 *   libp2p bootstrap nodes reachable, port open    → tcp.bootstrap-1, tcp.bootstrap-2
 *   TLS certificates valid (secure transport)      → tls.bootstrap-1-wss, tls.bootstrap-2-wss
 *   revoke API key / suspend account               → admin actions, through `app` below
 *   migrations, restart, log levels                → manual items
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
  heartbeats: [
    {
      // The host's backup cron runs the runbook's pg_dump, then pings:
      //   pg_dump -U … -F c -b -v -f /backups/openscroll.dump openscroll; \
      //   curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" https://<opsbook>/api/heartbeats/db-backup/$?
      name: 'db-backup',
      title: 'pg_dump of openscroll',
      periodSeconds: 86_400,
      graceSeconds: 2 * 3600,
      severity: 'P2',
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
