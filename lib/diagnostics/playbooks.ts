import type { Hint } from '../checks/types.js';

/**
 * The runbooks' incident procedures, as ordered diagnostic steps. Each step runs checks (by id or
 * family) and says what the runbook says to look at; suggested actions are the admin endpoints that
 * resolve what the steps usually find. Sources: runbook 004 "P1: Database Connection Issues",
 * "P2: Slow Response Times"; runbook 001 "pool exhausted", "site down"; runbook 003 "worker not
 * processing jobs", "email not sending".
 */
export interface PlaybookStep {
  title: string;
  checks: string[];
}

export interface Playbook {
  name: string;
  title: string;
  steps: PlaybookStep[];
  suggestedActions: Hint[];
}

const dry = (path: string, body: Record<string, unknown>, text: string): Hint => ({
  text,
  action: { method: 'POST', path, body: { ...body, dryRun: true } },
});

export const PLAYBOOKS: Record<string, Playbook> = {
  'database-connections': {
    name: 'database-connections',
    title: 'Database connection issues (pool exhausted, too many connections)',
    steps: [
      { title: 'Is the database answering, and how full is the connection pool?', checks: ['postgres.connections'] },
      { title: 'Who holds the connections (user, application, client address)?', checks: ['postgres.connection-sources'] },
      { title: 'Sessions idle in a transaction hold connections and locks', checks: ['postgres.idle-in-transaction'] },
      { title: 'Queries running for minutes', checks: ['postgres.long-running'] },
      { title: 'Queries waiting on locks, and who blocks them', checks: ['postgres.blocked'] },
    ],
    suggestedActions: [
      dry('/api/admin/db/terminate', { idleLongerThan: '10m' }, 'Terminate sessions idle for more than 10 minutes (runbook 001)'),
      dry('/api/admin/db/terminate', { runningLongerThan: '5m' }, 'Terminate queries running for more than 5 minutes (runbook 001, database emergency)'),
    ],
  },
  'service-down': {
    name: 'service-down',
    title: 'Service down',
    steps: [
      { title: 'Do the endpoints answer?', checks: ['http'] },
      { title: 'Does the name resolve?', checks: ['dns'] },
      { title: 'Are the certificates valid?', checks: ['tls'] },
      { title: 'Are ports reachable?', checks: ['tcp'] },
      { title: 'Is a provider having an incident?', checks: ['statuspage'] },
      { title: 'Are the database and Redis up?', checks: ['postgres.connections', 'redis.ping'] },
      { title: 'Are required variables set?', checks: ['env'] },
    ],
    suggestedActions: [dry('/api/admin/maintenance', { enabled: true, message: 'We are investigating an outage.' }, 'Turn on maintenance mode while you investigate')],
  },
  'slow-responses': {
    name: 'slow-responses',
    title: 'Slow response times',
    steps: [
      { title: 'Which queries take the time?', checks: ['postgres.slow-queries'] },
      { title: 'Is the working set in memory?', checks: ['postgres.cache-hit'] },
      { title: 'Lock waits and long queries', checks: ['postgres.blocked', 'postgres.long-running'] },
      { title: 'Table bloat and stale statistics', checks: ['postgres.vacuum'] },
      { title: 'Redis latency, memory and slow commands', checks: ['redis.ping', 'redis.memory', 'redis.slowlog', 'redis.hit-rate'] },
      { title: 'Endpoint latency', checks: ['http'] },
    ],
    suggestedActions: [dry('/api/admin/db/maintenance', { op: 'analyze' }, 'Refresh planner statistics (ANALYZE)')],
  },
  'queue-stuck': {
    name: 'queue-stuck',
    title: 'Queue stuck or worker not processing jobs',
    steps: [
      { title: 'Which queues have waiting jobs and nothing active?', checks: ['queues.stuck'] },
      { title: 'Backlog per queue', checks: ['queues.backlog'] },
      { title: 'Failed jobs and their growth', checks: ['queues.failed'] },
      { title: 'Is Redis healthy?', checks: ['redis.ping', 'redis.memory', 'redis.clients'] },
    ],
    suggestedActions: [dry('/api/admin/queues/retry', { queue: '<queue>', limit: 100 }, 'Retry failed jobs once the worker is back')],
  },
  'email-not-sending': {
    name: 'email-not-sending',
    title: 'Email not sending',
    steps: [
      { title: 'Failed jobs in the email queue', checks: ['queues.failed', 'queues.stuck'] },
      { title: 'Is the email provider up?', checks: ['statuspage'] },
      { title: 'Are the email credentials configured?', checks: ['env'] },
    ],
    suggestedActions: [dry('/api/admin/queues/retry', { queue: 'email', limit: 100 }, 'Retry failed email jobs after the cause is fixed')],
  },
};

export type PlaybookName = keyof typeof PLAYBOOKS;
