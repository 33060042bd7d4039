import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import example from '../../examples/ordinaut.config.js';
import type { CheckStatus } from '../../lib/checks/types.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { referenceProblems } from '../../lib/cli/check-config.js';
import { parseConfig, type OpsbookConfig } from '../../lib/config/index.js';
import { REDIS_URL } from '../support/services.js';
import { coverageProblems, type CoverageRow } from './support/coverage.js';
import {
  days,
  deleteKeys,
  dueAt,
  expectedKeys,
  hours,
  openScenario,
  ping,
  plus,
  runEveryChecklist,
  runProblems,
  scenarioBase,
  section,
  statuses,
  type ChecklistRun,
  type Scenario,
} from './support/scenario.js';
import { localize, offMachineTargets, startInternet, type Internet } from './support/world.js';

/**
 * An outside runbook: Ordinaut's ops/PRODUCTION_RUNBOOK.md (github.com/yoda-digital/ordinaut, "Last
 * Updated 2025-01-10"), which nobody at Opsbook wrote. Its shell scripts, step by step (item names are
 * ours, short), each judged:
 *
 * - clean: Opsbook does it directly from the config;
 * - awkward: possible but bent (a pushed metric from a host script, a heartbeat of a job the host runs,
 *   one number where the runbook prints a table, a manual line beside a partial check);
 * - impossible: Opsbook can neither do nor verify any part of it (a manual line may remind a person).
 */
type Verdict = 'clean' | 'awkward' | 'impossible';
type Row = CoverageRow & { n: number; verdict: Verdict; why: string };

const COVERAGE: Row[] = [
  // 1. Morning health check (08:00)
  { n: 1, item: 'container status and restart counts (docker ps)', kind: 'pushed metric', verdict: 'awkward', why: 'host-agent.sh pushes containers not running; restart counts are not pushed', by: [{ check: 'heartbeat.host.docker_not_running' }] },
  { n: 2, item: 'API /health', kind: 'check', verdict: 'clean', why: 'http check', by: [{ check: 'http.api-health' }] },
  { n: 3, item: 'API /health/ready', kind: 'check', verdict: 'clean', why: 'http check', by: [{ check: 'http.api-ready' }] },
  { n: 4, item: 'Prometheus healthy', kind: 'check', verdict: 'clean', why: 'http check', by: [{ check: 'http.prometheus' }] },
  { n: 5, item: 'Grafana health', kind: 'check', verdict: 'clean', why: 'http check with a JSON condition', by: [{ check: 'http.grafana' }] },
  { n: 6, item: 'Alertmanager status', kind: 'check', verdict: 'clean', why: 'http check', by: [{ check: 'http.alertmanager' }] },
  { n: 7, item: 'pg_isready', kind: 'check', verdict: 'clean', why: 'postgres.reachable', by: [{ check: 'postgres.reachable' }] },
  { n: 8, item: 'database size', kind: 'check', verdict: 'clean', why: 'postgres.database-size', by: [{ check: 'postgres.database-size' }] },
  { n: 9, item: 'active connections', kind: 'check', verdict: 'clean', why: 'postgres.connections', by: [{ check: 'postgres.connections' }] },
  { n: 10, item: 'active tasks count', kind: 'sql metric', verdict: 'clean', why: 'one-number SQL metric', by: [{ check: 'sql.active-tasks' }] },
  { n: 11, item: 'Redis PING', kind: 'check', verdict: 'clean', why: 'redis.ping', by: [{ check: 'redis.ping' }] },
  { n: 12, item: 'Redis keyspace', kind: 'check', verdict: 'clean', why: 'redis.dbsize', by: [{ check: 'redis.dbsize' }] },
  { n: 13, item: 'work queue: due now / locked / future', kind: 'sql metric', verdict: 'clean', why: 'the queue is a Postgres table: SQL metric, graded at the scaling threshold', by: [{ check: 'sql.due-now' }, { setting: 'checks.sqlMetrics.1.warn', is: 1000 }] },
  { n: 14, item: 'workers seen recently; none in 2 min is a failure', kind: 'sql metric', verdict: 'clean', why: 'SQL metric, direction below', by: [{ check: 'sql.active-workers' }] },
  { n: 15, item: 'API errors in docker logs (24 h)', kind: 'pushed metric', verdict: 'awkward', why: 'a host cron greps the logs and pushes the count', by: [{ check: 'heartbeat.log-scan.api_errors_24h' }] },
  { n: 16, item: 'API response time', kind: 'check', verdict: 'clean', why: 'http degradedMs at the 200 ms SLA', by: [{ check: 'http.api-health' }, { setting: 'checks.http.0.degradedMs', is: 200 }] },
  { n: 17, item: 'firing alerts count', kind: 'check', verdict: 'clean', why: 'http condition on the Alertmanager list length', by: [{ check: 'http.firing-alerts' }] },
  { n: 18, item: 'disk usage (df, docker system df)', kind: 'pushed metric + manual', verdict: 'awkward', why: 'host-agent.sh pushes one filesystem; docker system df is a manual line', by: [{ check: 'heartbeat.host.disk_used_pct' }, { manual: /^docker system df/ }] },
  { n: 19, item: 'overall status summary', kind: 'report', verdict: 'clean', why: 'the emailed report of the morning checklist', by: [{ schedule: { type: 'daily', at: '08:00' } }] },
  // 2. Evening health check (18:00)
  { n: 20, item: 'tasks completed / failed today, success rate', kind: 'sql metric', verdict: 'clean', why: 'SQL metric', by: [{ check: 'sql.success-rate-today' }] },
  { n: 21, item: 'average / max execution time today', kind: 'sql metric', verdict: 'clean', why: 'SQL metric', by: [{ check: 'sql.max-execution-today' }] },
  { n: 22, item: 'work scheduled for tomorrow', kind: 'sql metric', verdict: 'clean', why: 'SQL metric', by: [{ check: 'sql.scheduled-tomorrow' }] },
  { n: 23, item: 'docker stats per container', kind: 'pushed metric', verdict: 'awkward', why: 'only host-wide memory and load are pushed, not per container', by: [{ check: 'heartbeat.host.mem_used_pct' }, { check: 'heartbeat.host.load1' }] },
  { n: 24, item: 'data growth: table sizes and inserts', kind: 'check + task', verdict: 'clean', why: 'largest tables and the daily snapshot', by: [{ check: 'postgres.largest-tables' }, { task: 'snapshot', in: 'evening' }] },
  { n: 25, item: "today's backup ran", kind: 'heartbeat', verdict: 'clean', why: 'the backup job pings its heartbeat', by: [{ heartbeat: 'db-backup', rpoSeconds: 86_400 + 6 * 3600 }] },
  // 3. Weekly maintenance (Sunday 02:00)
  { n: 26, item: 'VACUUM ANALYZE five tables', kind: 'task', verdict: 'clean', why: 'vacuum-analyze with tables', by: [{ task: 'vacuum-analyze', table: 'due_work', in: 'weekly' }, { schedule: { type: 'cron', cron: '0 2 * * 0' } }] },
  { n: 27, item: 'ANALYZE', kind: 'task', verdict: 'clean', why: 'analyze task', by: [{ task: 'analyze', in: 'weekly' }] },
  { n: 28, item: 'table and index sizes', kind: 'check', verdict: 'clean', why: 'largest tables and indexes', by: [{ check: 'postgres.largest-tables' }, { check: 'postgres.largest-indexes' }] },
  { n: 29, item: 'docker log rotation (7 days)', kind: 'heartbeat', verdict: 'awkward', why: 'the host script does it; Opsbook only sees its heartbeat', by: [{ heartbeat: 'host-maintenance' }] },
  { n: 30, item: 'delete audit_log older than 90 days', kind: 'task', verdict: 'clean', why: 'retention-delete on column at', by: [{ task: 'retention-delete', table: 'audit_log', olderThanDays: 90, in: 'weekly' }] },
  { n: 31, item: 'delete task_run older than 30 days', kind: 'task', verdict: 'clean', why: 'retention-delete on created_at', by: [{ task: 'retention-delete', table: 'task_run', olderThanDays: 30, in: 'weekly' }] },
  { n: 32, item: 'delete old due_work except active tasks’', kind: 'sql metric + manual', verdict: 'awkward', why: 'retention-delete takes no row filter: a metric counts them, a person deletes', by: [{ check: 'sql.old-due-work' }, { manual: /^Delete due_work older than 7 days/ }] },
  { n: 33, item: 'docker system / volume prune', kind: 'heartbeat', verdict: 'awkward', why: 'host script, watched by its heartbeat', by: [{ heartbeat: 'host-maintenance' }] },
  { n: 34, item: 'REINDEX DATABASE', kind: 'action + manual', verdict: 'awkward', why: 'REINDEX is an admin action per table with confirmation, not a checklist task', by: [{ action: 'db/maintenance reindex' }, { check: 'postgres.invalid-indexes' }, { manual: /^REINDEX only the indexes/ }] },
  { n: 35, item: 'pg_stat_reset()', kind: 'none', verdict: 'impossible', why: 'no task or action resets statistics (slow queries are diffed between snapshots instead)', by: [] },
  // 4. Monthly maintenance (first Sunday 01:00)
  { n: 36, item: 'full pg_dump | gzip', kind: 'heartbeat + metric + baseline', verdict: 'awkward', why: 'the host runs the dump; Opsbook grades its ping and size', by: [{ heartbeat: 'monthly-backup' }, { check: 'heartbeat.monthly-backup.backup_bytes' }, { schedule: { type: 'nth-weekday', nth: 1, weekday: 'sun', at: '01:00' } }] },
  { n: 37, item: 'configuration backup (tar)', kind: 'heartbeat', verdict: 'awkward', why: 'host job, watched by its heartbeat', by: [{ heartbeat: 'config-backup' }] },
  { n: 38, item: 'monthly performance analysis', kind: 'sql metric', verdict: 'clean', why: 'SQL metric of last month', by: [{ check: 'sql.month-success-rate' }] },
  { n: 39, item: 'capacity: tasks created per day (30 days)', kind: 'sql metric + baseline + manual', verdict: 'awkward', why: 'a metric is one number: the daily count and its baseline, the table is manual', by: [{ check: 'sql.tasks-created-24h' }, { manual: /^Capacity planning/ }] },
  { n: 40, item: 'security audit: audit actions by count and actor', kind: 'sql metric + manual', verdict: 'awkward', why: 'one total; the breakdown is a manual review', by: [{ check: 'sql.audit-actions-30d' }, { manual: /^Security audit/ }] },
  { n: 41, item: 'delete backups older than 180 days', kind: 'heartbeat', verdict: 'awkward', why: 'host script, watched by its heartbeat', by: [{ heartbeat: 'host-maintenance' }] },
  // 5. Daily capacity check
  { n: 42, item: 'database growth / monthly estimate', kind: 'check', verdict: 'clean', why: 'postgres.growth against sizeLimitBytes', by: [{ check: 'postgres.growth' }, { setting: 'checks.postgres.sizeLimitBytes', is: 50_000_000_000 }] },
  { n: 43, item: 'queue depth per hour, average wait', kind: 'sql metric', verdict: 'awkward', why: 'one average, no hourly table', by: [{ check: 'sql.avg-wait' }] },
  { n: 44, item: 'worker utilization (tasks per hour per worker)', kind: 'sql metric', verdict: 'awkward', why: 'one overall rate, no per-worker table', by: [{ check: 'sql.processing-rate' }] },
  { n: 45, item: 'API p95 from Prometheus', kind: 'check', verdict: 'clean', why: 'http condition on the query result', by: [{ check: 'http.api-p95' }] },
  { n: 46, item: 'disk usage > 85 %', kind: 'pushed metric', verdict: 'awkward', why: 'host-agent.sh', by: [{ check: 'heartbeat.host.disk_used_pct' }, { setting: 'heartbeats.0.metrics.disk_used_pct.warn', is: 85 }] },
  { n: 47, item: 'memory usage > 90 %', kind: 'pushed metric', verdict: 'awkward', why: 'host-agent.sh', by: [{ check: 'heartbeat.host.mem_used_pct' }, { setting: 'heartbeats.0.metrics.mem_used_pct.warn', is: 90 }] },
  { n: 48, item: 'scaling recommendation (pending > 1000 and workers < 5)', kind: 'sql metrics + manual', verdict: 'awkward', why: 'two separate metrics; no compound condition; scaling is by hand', by: [{ check: 'sql.due-now' }, { check: 'sql.active-workers' }, { manual: /^Scale workers/ }] },
  // 6. Performance baseline verification
  { n: 49, item: 'API p95 < 200 ms over 50 requests', kind: 'check', verdict: 'awkward', why: 'one timed request per run, plus the Prometheus p95', by: [{ check: 'http.api-health' }, { check: 'http.api-p95' }] },
  { n: 50, item: 'scheduling latency test (create a task, wait, read task_run)', kind: 'manual', verdict: 'impossible', why: 'no check writes, waits and reads back', by: [{ manual: /^Scheduling latency/ }] },
  { n: 51, item: 'database query time < 100 ms', kind: 'check', verdict: 'clean', why: 'slow queries at a 100 ms mean', by: [{ check: 'postgres.slow-queries' }, { setting: 'checks.postgres.thresholds.slowQueryMeanMs', is: 100 }] },
  { n: 52, item: 'worker processing rate > 100 tasks/min', kind: 'sql metric', verdict: 'clean', why: 'SQL metric, direction below', by: [{ check: 'sql.processing-rate' }] },
  // 7. Operational procedures
  { n: 53, item: 'restart API, then verify health', kind: 'manual checklist', verdict: 'awkward', why: 'the restart needs the host; the verification is the on-demand checklist', by: [{ schedule: { type: 'manual' } }, { check: 'http.api-health' }] },
  { n: 54, item: 'restart scheduler, read its logs', kind: 'manual', verdict: 'impossible', why: 'no scheduler endpoint or logs reach Opsbook', by: [{ manual: /^Scheduler restarted/ }] },
  { n: 55, item: 'rolling restart of workers, count active workers', kind: 'manual checklist', verdict: 'awkward', why: 'restart by hand; workers counted after', by: [{ check: 'sql.active-workers' }] },
  { n: 56, item: 'database restart in a maintenance window', kind: 'window + manual checklist', verdict: 'awkward', why: 'a maintenance window and the post-restart checks; the restart by hand', by: [{ setting: 'maintenanceWindows.0.id', is: 'sunday-maintenance' }, { check: 'postgres.reachable' }] },
  { n: 57, item: 'Redis restart, then PING', kind: 'manual checklist', verdict: 'awkward', why: 'restart by hand; PING after', by: [{ check: 'redis.ping' }] },
  { n: 58, item: 'scale workers up / down / emergency', kind: 'manual', verdict: 'impossible', why: 'Opsbook has no docker-compose', by: [{ manual: /^Scale workers/ }] },
  { n: 59, item: 'log analysis: error patterns, slow queries, deadlocks, resource warnings', kind: 'manual', verdict: 'impossible', why: 'Opsbook reads no container logs', by: [{ manual: /^Scan the API, worker and Postgres logs/ }] },
  { n: 60, item: 'security events in audit_log', kind: 'sql metric', verdict: 'clean', why: 'SQL metric', by: [{ check: 'sql.security-events' }] },
];

/** Config entries that serve the issue-13 features but no runbook item (Ordinaut has no BullMQ queue and no replica). */
const EXTRAS: CoverageRow[] = [
  { item: 'BullMQ queues sharing the Redis: absolute limits', kind: 'check', by: [{ check: 'queues.failed' }, { setting: 'checks.queues.limits.webhooks.failedFail', is: 20 }] },
  { item: 'replica lag, if a replica is added', kind: 'check', by: [{ check: 'postgres.replication-lag' }, { setting: 'checks.postgres.thresholds.replicationLagFailSeconds', is: 30 }] },
];

const url = new URL(REDIS_URL);
const connection = { host: url.hostname, port: Number(url.port || 6379) };
const GB = 1_000_000_000;
const PREFIX = 'ordinaut-ops:';

describe('Ordinaut example (examples/ordinaut.config.ts, an outside runbook)', () => {
  let s: Scenario;
  let internet: Internet;
  const closers: Array<() => Promise<unknown>> = [];
  let config: OpsbookConfig;
  let runs: Map<string, ChecklistRun>;
  let postDeploy: ChecklistRun;
  let postDeployScheduled: Awaited<ReturnType<typeof runChecklist>>;
  const base = scenarioBase();
  let p95 = '0.35';
  const hostPing = { disk_used_pct: 96, mem_used_pct: 72.5, load1: 1.2, open_fds: 3200, pm2_not_online: 0, docker_not_running: 0 };

  beforeAll(async () => {
    s = await openScenario();
    internet = await startInternet({
      'api.ordinaut.example.com/health': { json: { status: 'healthy' } },
      'api.ordinaut.example.com/health/ready': { json: { status: 'ready', database: 'ok', redis: 'ok' } },
      'prometheus.ordinaut.example.com/-/healthy': { text: 'Prometheus Server is Healthy.' },
      'grafana.ordinaut.example.com/api/health': { json: { commit: 'abc123', database: 'ok', version: '10.2.0' } },
      'alertmanager.ordinaut.example.com/api/v2/status': { json: { cluster: { status: 'ready' }, uptime: '2025-01-10T08:00:00Z' } },
      // Two alerts firing: under the summary's five.
      'alertmanager.ordinaut.example.com/api/v1/alerts': {
        json: {
          status: 'success',
          data: [
            { labels: { alertname: 'HighTaskFailureRate' }, status: { state: 'active' } },
            { labels: { alertname: 'WorkerHeartbeatMissing' }, status: { state: 'active' } },
          ],
        },
      },
      // The intended failure: p95 0.35 s, over the 200 ms SLA (Prometheus sends the value as a string).
      'prometheus.ordinaut.example.com/api/v1/query': () => ({ json: { status: 'success', data: { resultType: 'vector', result: [{ metric: {}, value: [1736496000, p95] }] } } }),
    });
    closers.push(() => internet.close());
    config = parseConfig(localize(example, { internet: internet.url, queuePrefix: s.prefix }));

    // Ordinaut's schema, reduced to the columns the runbook reads. Times relative to the database's own
    // clock (now()) for the SQL metrics, which read now().
    await s.admin.query(`
      CREATE TABLE task (id bigserial PRIMARY KEY, title text NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE task_run (id bigserial PRIMARY KEY, task_id bigint NOT NULL, started_at timestamptz, finished_at timestamptz, success boolean, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE due_work (id bigserial PRIMARY KEY, task_id bigint NOT NULL, run_at timestamptz NOT NULL, locked_until timestamptz, created_at timestamptz NOT NULL DEFAULT now());
      CREATE TABLE audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL, action text NOT NULL, actor_agent_id text, details jsonb);
      CREATE TABLE worker_heartbeat (worker_id text PRIMARY KEY, last_seen timestamptz NOT NULL, processed_count int NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO task (title, status) SELECT 'task ' || g, CASE WHEN g <= 20 THEN 'active' ELSE 'paused' END FROM generate_series(1, 25) g;
      -- 100 runs today, spread since midnight; 10 failed and one still running (89 %: under the 95 % placeholder,
      -- a warning). At most 99 finished, so under 100 a minute whatever the hour.
      INSERT INTO task_run (task_id, started_at, finished_at, success)
        SELECT 1 + g % 20, now() - (now() - date_trunc('day', now())) * g / 101.0,
               CASE WHEN g < 100 THEN now() - (now() - date_trunc('day', now())) * g / 101.0 + interval '2 seconds' END,
               CASE WHEN g < 100 THEN g > 10 END
        FROM generate_series(1, 100) g;
      -- 1500 items due and unlocked (past the runbook's 1000), 40 scheduled for tomorrow.
      INSERT INTO due_work (task_id, run_at) SELECT 1 + g % 20, now() - interval '1 minute' FROM generate_series(1, 1500) g;
      INSERT INTO due_work (task_id, run_at) SELECT 1 + g % 20, date_trunc('day', now()) + interval '1 day 6 hours' FROM generate_series(1, 40) g;
      -- Three items of paused tasks left from last month: the weekly clean-up's leftovers.
      INSERT INTO due_work (task_id, run_at, created_at) SELECT 21 + g, now() - interval '30 days', now() - interval '30 days' FROM generate_series(1, 3) g;
      -- The intended failure: the only worker was last seen 10 minutes ago ("No active workers detected").
      INSERT INTO worker_heartbeat (worker_id, last_seen, processed_count) VALUES ('worker-1', now() - interval '10 minutes', 4200);
      -- 12 failed logins in the last day: over the placeholder 10.
      INSERT INTO audit_log (at, action, actor_agent_id) SELECT now() - (g || ' minutes')::interval, 'login_failed', 'agent-' || g FROM generate_series(1, 12) g;`);
    // Retention: rows older than the weekly run's cut-offs, planted against the scenario clock (the run's time).
    const weeklyAt = runAt('weekly');
    await s.admin.query(
      `INSERT INTO audit_log (at, action, actor_agent_id) SELECT $1::timestamptz - interval '120 days', 'task.create', 'agent-old' FROM generate_series(1, 7);
       INSERT INTO audit_log (at, action, actor_agent_id) SELECT $1::timestamptz - interval '60 days', 'task.update', 'agent-kept' FROM generate_series(1, 5);
       INSERT INTO task_run (task_id, started_at, finished_at, success, created_at) SELECT 1, $1::timestamptz - interval '45 days', $1::timestamptz - interval '45 days', true, $1::timestamptz - interval '45 days' FROM generate_series(1, 40);
       -- The scenario clock runs weeks ahead of the database's: date today's runs a day before the weekly run, so they are kept.
       UPDATE task_run SET created_at = $1::timestamptz - interval '1 day' WHERE started_at >= date_trunc('day', now());`.replace(
        /\$1/g,
        `'${weeklyAt.toISOString()}'`,
      ),
    );

    // A BullMQ queue sharing the Redis: webhook deliveries, 25 failed (past failedFail 20); `reports`, 2 failed (under "*": 10).
    const webhooks = new Queue('webhooks', { connection, prefix: s.prefix });
    const reports = new Queue('reports', { connection, prefix: s.prefix });
    closers.push(() => webhooks.close(), () => reports.close());
    await webhooks.addBulk(Array.from({ length: 25 }, (_, i) => ({ name: 'deliver', data: { hook: i }, opts: { attempts: 1 } })));
    await reports.addBulk(Array.from({ length: 6 }, (_, i) => ({ name: 'render', data: { fail: i < 2 }, opts: { attempts: 1 } })));
    await Promise.all([
      drain('webhooks', 25, async () => {
        throw new Error('POST https://hooks.example.com: 502');
      }),
      drain('reports', 6, async (job) => {
        if (job.data.fail) throw new Error('template missing');
        return 'ok';
      }),
    ]);

    vi.stubEnv('DATABASE_URL', 'postgres://ordinaut@db.internal/orchestrator');
    vi.stubEnv('REDIS_URL', 'redis://redis.internal:6379');

    // Three earlier evenings: the nightly dump is about 1.2 GB. They give the backup-size baseline its history.
    const history = [3, 2, 1].map((n) => plus(base, -days(n)));
    for (const [i, day] of history.entries()) {
      await ping(s.deps, config, 'db-backup', plus(day, hours(2) + 10 * 60_000), '0', { backup_bytes: 1.2 * GB + i * 10_000_000 });
      await ping(s.deps, config, 'host', plus(day, hours(18) - 60_000), undefined, { ...hostPing, disk_used_pct: 70 });
      const r = await runChecklist(s.deps, config, 'evening', plus(day, hours(18)), { mode: 'scheduled' });
      if (r.status !== 'completed') throw new Error(`history evening ${day.toISOString()}: ${r.status}`);
    }

    const scheduled = { ...config, checklists: config.checklists.filter((l) => l.schedule.type !== 'manual') };
    runs = await runEveryChecklist(s, scheduled, base, async (now) => {
      const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
      // Tonight's dump exited 0 but is 0.45 GB: less than half of the week's median.
      await ping(s.deps, config, 'db-backup', plus(day, hours(2) + 10 * 60_000), '0', { backup_bytes: 0.45 * GB });
      // examples/host-agent.sh's latest push, a minute before the run: / is 96 % full (fail above 95).
      await ping(s.deps, config, 'host', new Date(now.getTime() - 60_000), undefined, hostPing);
      // The log-scan cron's push: 64 errors in 24 h (warn above 50).
      await ping(s.deps, config, 'log-scan', new Date(now.getTime() - 2 * 60_000), undefined, { api_errors_24h: 64 });
      // The host's own weekly and monthly jobs finish before the checklists that watch them.
      await ping(s.deps, config, 'host-maintenance', new Date(now.getTime() - 20 * 60_000), '0');
      await ping(s.deps, config, 'monthly-backup', new Date(now.getTime() - 30 * 60_000), '0', { backup_bytes: 0.3 * GB });
      await ping(s.deps, config, 'config-backup', new Date(now.getTime() - 30 * 60_000), '0');
    });

    // After the scheduled runs: a deploy at 11:00 on the scenario's first day, and its verification on demand.
    const deployAt = plus(base, hours(11));
    p95 = '0.12';
    const id = 'post-deploy';
    postDeployScheduled = await runChecklist(s.deps, config, id, deployAt, { mode: 'scheduled' });
    const result = await runChecklist(s.deps, config, id, deployAt, { mode: 'manual', send: true });
    if (result.status !== 'completed') throw new Error(`post-deploy: ${result.status} ${JSON.stringify(result)}`);
    const { rows } = await s.admin.query<{ item_key: string; kind: string; status: CheckStatus; summary: string }>(
      'SELECT item_key, kind, status, summary FROM opsbook.run_results WHERE run_id = $1',
      [result.runId],
    );
    const list = config.checklists.find((l) => l.id === id)!;
    postDeploy = { id, now: deployAt, result, items: new Map(rows.map((r) => [r.item_key, { kind: r.kind, status: r.status, summary: r.summary }])), expectedKeys: expectedKeys(config, list) };
  });

  afterAll(async () => {
    vi.unstubAllEnvs();
    for (const close of closers.reverse()) await close().catch(() => undefined);
    if (s) await deleteKeys(s.redis, `${PREFIX}*`).catch(() => undefined);
    await s?.close();
  });

  /** The first scheduled time of a checklist at or after the scenario base (when runEveryChecklist runs it). */
  function runAt(id: string): Date {
    return dueAt(parseConfig(example).checklists.find((l) => l.id === id)!, base);
  }

  /** Process `n` jobs of a queue with `fn`, then stop. */
  function drain(name: string, n: number, fn: (job: { data: Record<string, unknown> }) => Promise<unknown>): Promise<void> {
    return new Promise<void>((resolve) => {
      let settled = 0;
      const worker = new Worker(name, fn, { connection, prefix: s.prefix });
      worker.on('error', () => undefined);
      const done = () => ++settled === n && resolve();
      worker.on('completed', done);
      worker.on('failed', done);
      closers.push(() => worker.close());
    });
  }

  it('parses, and every checklist item names a check that exists', () => {
    expect(referenceProblems(parseConfig(example))).toEqual([]);
  });

  it('covers the runbook item by item: every covering entry exists and runs; the classification is counted', () => {
    expect(COVERAGE.map((r) => r.n)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(coverageProblems(parseConfig(example), COVERAGE.filter((r) => r.by.length > 0))).toEqual([]);
    expect(coverageProblems(parseConfig(example), EXTRAS)).toEqual([]);
    const count = (v: Verdict) => COVERAGE.filter((r) => r.verdict === v).length;
    expect({ clean: count('clean'), awkward: count('awkward'), impossible: count('impossible') }).toEqual({ clean: 32, awkward: 23, impossible: 5 });
    // An impossible item is at most a reminder for a person; a clean one never leans on a manual line.
    for (const r of COVERAGE.filter((r) => r.verdict === 'impossible')) expect(r.by.every((c) => 'manual' in c), `#${r.n}`).toBe(true);
    for (const r of COVERAGE.filter((r) => r.verdict === 'clean')) expect(r.by.some((c) => 'manual' in c), `#${r.n}`).toBe(false);
  });

  it('the scenario copy of the config reaches nothing off this machine', () => {
    expect(offMachineTargets(config)).toEqual([]);
  });

  it('runs every scheduled checklist on its due day: every automated item has a result, none errored or skipped, manual items are in the sent report', () => {
    expect([...runs.keys()].sort()).toEqual(['capacity', 'evening', 'monthly', 'morning', 'weekly']);
    expect([...runs.values()].flatMap((r) => runProblems(config, r))).toEqual([]);
    expect(internet.unknown).toEqual([]);
  });

  it('morning: the endpoints answer; no worker seen in 2 minutes fails; 1500 due items warn; the host disk over its fail level fails', () => {
    const morning = runs.get('morning')!;
    expect(
      statuses(morning, [
        'check:http.api-health',
        'check:http.api-ready',
        'check:http.prometheus',
        'check:http.grafana',
        'check:http.alertmanager',
        'check:http.firing-alerts',
        'check:postgres.reachable',
        'check:redis.ping',
        'check:sql.active-tasks',
        'check:sql.due-now',
        'check:sql.active-workers',
        'check:sql.security-events',
        'check:heartbeat.host',
        'check:heartbeat.log-scan',
      ]),
    ).toEqual({
      'check:http.api-health': 'ok',
      'check:http.api-ready': 'ok',
      'check:http.prometheus': 'ok',
      'check:http.grafana': 'ok',
      'check:http.alertmanager': 'ok',
      'check:http.firing-alerts': 'ok',
      'check:postgres.reachable': 'ok',
      'check:redis.ping': 'ok',
      'check:sql.active-tasks': 'ok',
      'check:sql.due-now': 'warn',
      'check:sql.active-workers': 'fail',
      'check:sql.security-events': 'warn',
      'check:heartbeat.host': 'ok',
      'check:heartbeat.log-scan': 'ok',
    });
    expect(morning.items.get('check:sql.active-tasks')!.summary).toMatch(/^20 tasks/);
    expect(morning.items.get('check:sql.active-workers')!.summary).toMatch(/^0 workers/);
    expect(morning.items.get('check:sql.security-events')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/^12 events/) });
    expect(morning.items.get('check:sql.due-now')!.summary).toMatch(/^1503 items/);
  });

  it('pushed host metrics are graded by their levels: disk 96 % fails (fail above 95), 64 API errors warn (warn above 50), memory is fine', () => {
    const capacity = runs.get('capacity')!;
    expect(statuses(capacity, ['check:heartbeat.host.disk_used_pct', 'check:heartbeat.host.mem_used_pct'])).toEqual({
      'check:heartbeat.host.disk_used_pct': 'fail',
      'check:heartbeat.host.mem_used_pct': 'ok',
    });
    expect(capacity.items.get('check:heartbeat.host.disk_used_pct')!.summary).toMatch(/^disk_used_pct 96 % \(warn above 85, fail above 95\)/);
    const morning = runs.get('morning')!;
    // `heartbeat.log-scan` selects the heartbeat and its metric: the count arrived as a number and warns.
    expect(statuses(morning, ['check:heartbeat.log-scan', 'check:heartbeat.log-scan.api_errors_24h', 'check:heartbeat.host.docker_not_running'])).toEqual({
      'check:heartbeat.log-scan': 'ok',
      'check:heartbeat.log-scan.api_errors_24h': 'warn',
      'check:heartbeat.host.docker_not_running': 'ok',
    });
    expect(morning.items.get('check:heartbeat.log-scan.api_errors_24h')!.summary).toMatch(/^api_errors_24h 64 \(warn above 50, fail above 100\)/);
    const failing = section(morning.result.text, 'FAILING (3)');
    for (const id of ['heartbeat.host.disk_used_pct', 'queues.failed', 'sql.active-workers']) expect(failing).toContain(`(${id})`);
  });

  it('morning: the BullMQ queue past its absolute limit fails (25 failed ≥ failedFail 20); the other queue stays under "*"', () => {
    const morning = runs.get('morning')!;
    const failed = morning.items.get('check:queues.failed')!;
    expect(failed.status).toBe('fail');
    expect(failed.summary).toContain('webhooks');
    expect(failed.summary).not.toMatch(/reports[^,;]*fail/);
  });

  it('evening: the backup exited 0 but is less than half its 7-day median: the baseline fails it; the success rate of 89 % warns', () => {
    const evening = runs.get('evening')!;
    expect(statuses(evening, ['check:heartbeat.db-backup', 'check:heartbeat.db-backup.backup_bytes', 'check:sql.success-rate-today', 'check:sql.scheduled-tomorrow', 'task:0:snapshot'])).toEqual({
      'check:heartbeat.db-backup': 'ok',
      'check:heartbeat.db-backup.backup_bytes': 'fail',
      'check:sql.success-rate-today': 'warn',
      'check:sql.scheduled-tomorrow': 'ok',
      'task:0:snapshot': 'ok',
    });
    expect(evening.items.get('check:heartbeat.db-backup.backup_bytes')!.summary).toMatch(/below its 7-day median/);
    expect(evening.items.get('check:sql.scheduled-tomorrow')!.summary).toMatch(/^40 items/);
    expect(evening.items.get('check:sql.success-rate-today')!.summary).toBe('89 %: below the warn threshold 95');
  });

  it('capacity: the Prometheus p95 of 0.35 s fails the 200 ms SLA; 100 runs today is under 100 a minute (warn)', () => {
    const capacity = runs.get('capacity')!;
    expect(statuses(capacity, ['check:http.api-p95', 'check:sql.processing-rate', 'check:postgres.growth'])).toEqual({
      'check:http.api-p95': 'fail',
      'check:sql.processing-rate': 'warn',
      'check:postgres.growth': 'ok',
    });
    // Graded on the value itself (a numeric string), not on a missing path.
    expect(capacity.items.get('check:http.api-p95')!.summary).toMatch(/data\.result\[0\]\.value\[1\] = '0\.35', expected < 0\.2/);
  });

  it('weekly (cron "0 2 * * 0"): audit_log older than 90 days and task_run older than 30 days are deleted, newer rows kept; old due_work is counted', async () => {
    const weekly = runs.get('weekly')!;
    expect(weekly.now.getUTCDay()).toBe(0);
    expect(weekly.now.getUTCHours()).toBe(2);
    expect(statuses(weekly, ['task:0:vacuum-analyze', 'task:1:analyze', 'task:2:retention-delete', 'task:3:retention-delete', 'check:sql.old-due-work', 'check:heartbeat.host-maintenance'])).toEqual({
      'task:0:vacuum-analyze': 'ok',
      'task:1:analyze': 'ok',
      'task:2:retention-delete': 'ok',
      'task:3:retention-delete': 'ok',
      'check:sql.old-due-work': 'warn',
      'check:heartbeat.host-maintenance': 'ok',
    });
    const audit = await s.admin.query<{ action: string; n: number }>('SELECT action, count(*)::int AS n FROM audit_log GROUP BY action ORDER BY action');
    expect(audit.rows).toEqual([
      { action: 'login_failed', n: 12 },
      { action: 'task.update', n: 5 },
    ]);
    const left = await s.admin.query<{ n: number; oldest: Date }>('SELECT count(*)::int AS n, min(created_at) AS oldest FROM task_run');
    expect(left.rows[0]!.n).toBe(100);
    expect(left.rows[0]!.oldest.getTime()).toBe(weekly.now.getTime() - days(1));
    expect(weekly.items.get('task:3:retention-delete')!.summary).toMatch(/^deleted 40 "public"\."task_run" rows with "created_at" before .* \(older than 30 d\)/);
    expect(weekly.items.get('task:2:retention-delete')!.summary).toMatch(/^deleted 7 "public"\."audit_log" rows with "at" before .* \(older than 90 d\)/);
  });

  it('monthly (first Sunday 01:00): the full backup and the configuration backup reported in', () => {
    const monthly = runs.get('monthly')!;
    expect(monthly.now.getUTCDay()).toBe(0);
    expect(monthly.now.getUTCDate()).toBeLessThanOrEqual(7);
    expect(statuses(monthly, ['check:heartbeat.monthly-backup', 'check:heartbeat.config-backup', 'task:0:prune-history'])).toEqual({
      'check:heartbeat.monthly-backup': 'ok',
      'check:heartbeat.config-backup': 'ok',
      'task:0:prune-history': 'ok',
    });
  });

  it('post-deploy (schedule manual): never due on a schedule, runs on demand with its checks and to-dos, and the report is sent', () => {
    expect(postDeployScheduled.status).toBe('not-due');
    expect(runProblems(config, postDeploy)).toEqual([]);
    expect(statuses(postDeploy, ['check:http.api-health', 'check:http.api-ready', 'check:redis.ping', 'check:sql.active-workers', 'check:http.api-p95', 'check:queues.failed'])).toEqual({
      'check:http.api-health': 'ok',
      'check:http.api-ready': 'ok',
      'check:redis.ping': 'ok',
      'check:sql.active-workers': 'fail',
      'check:http.api-p95': 'ok',
      'check:queues.failed': 'fail',
    });
  });

  it("Opsbook's own Redis keys carry the configured redisKeyPrefix", async () => {
    const at = plus(base, days(40));
    await ping(s.deps, config, 'log-scan', at, undefined, { api_errors_24h: 3 });
    const keys = await scan(`${PREFIX}*`);
    expect(keys.some((k) => k.startsWith(`${PREFIX}`) && k.includes('log-scan'))).toBe(true);
    expect((await scan('opsbook:*')).filter((k) => k.includes('log-scan'))).toEqual([]);
  });

  async function scan(pattern: string): Promise<string[]> {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await s.redis.command<[string, string[]]>(['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]);
      cursor = String(next);
      found.push(...keys);
    } while (cursor !== '0');
    return found;
  }
});
