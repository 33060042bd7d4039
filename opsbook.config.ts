import { defineConfig } from './lib/config/define.js';

/**
 * The default configuration: general-purpose checks that work on any Postgres and Redis (PgHero's
 * thresholds), and the runbooks' rhythm of daily, weekly, monthly and quarterly checklists. On the
 * embedded defaults `npm start` runs the daily checklist at 09:00 UTC and writes its report to
 * .opsbook/outbox/; `npx opsbook run daily` runs it now. Copy an example from examples/ to run a
 * specific runbook.
 */
export default defineConfig({
  service: 'Opsbook',
  links: {},
  // Every runbook has a backup job outside Opsbook. Until yours pings it, the morning report shows this as
  // "never pinged", with the curl line to add to the backup script.
  heartbeats: [{ name: 'db-backup', title: 'Database backup', periodSeconds: 86_400, graceSeconds: 6 * 3600 }],
  checklists: [
    {
      id: 'daily',
      title: 'Morning checklist',
      schedule: { type: 'daily', at: '09:00' },
      notify: 'always',
      items: [
        { check: 'postgres' },
        { check: 'redis' },
        { check: 'queues' },
        { check: 'heartbeats' },
        { check: 'http' },
        { check: 'tls' },
        { check: 'statuspage' },
        { manual: 'Review new error spikes in Sentry' },
        { manual: 'Check the support inbox and alert channels' },
      ],
    },
    {
      id: 'weekly',
      title: 'Weekly checklist',
      schedule: { type: 'weekly', days: ['mon'], at: '10:00' },
      notify: 'always',
      items: [
        { check: 'postgres.slow-queries' },
        { check: 'postgres.vacuum' },
        { check: 'postgres.largest-tables' },
        { check: 'postgres.unused-indexes' },
        { check: 'postgres.duplicate-indexes' },
        { task: 'analyze' },
        { manual: 'Review Dependabot pull requests and npm audit' },
        { manual: 'Verify that last week’s backups restore' },
      ],
    },
    {
      id: 'monthly',
      title: 'Monthly checklist (first Monday)',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' },
      notify: 'always',
      items: [
        { check: 'postgres.wraparound' },
        { check: 'postgres.sequences' },
        { check: 'postgres.invalid-indexes' },
        // Opsbook's own run history, snapshots and sent reports, after retentionDays (90).
        { task: 'prune-history' },
        { manual: 'Review costs (Vercel, database, Redis)' },
        { manual: 'Review access: remove people who left' },
      ],
    },
    {
      id: 'quarterly',
      title: 'Quarterly checklist',
      schedule: { type: 'quarterly', at: '10:00' },
      notify: 'always',
      items: [
        { manual: 'Rotate secrets (API keys, JWT secret, database password)' },
        { manual: 'Disaster recovery drill: restore the latest backup into a scratch database' },
      ],
    },
  ],
});
