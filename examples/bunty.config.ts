import { defineConfig } from '../lib/config/define.js';

/**
 * Bunty ZKP (runbook 004): a Node backend under pm2 behind Nginx on a droplet, Postgres, Redis with a
 * password, and Plaid / Stripe / Sila. The runbook's maintenance schedule (daily, weekly, monthly,
 * quarterly) becomes the checklists; its incident steps become the checks that answer them first.
 *
 * Severities: the runbook's P0–P3 map to Opsbook's P1–P4 (P0 complete outage → P1, and so on).
 * Credentials stay in the environment. PLAID_CLIENT_ID and PLAID_SECRET are sent as Plaid's own headers;
 * STRIPE_API_AUTHORIZATION holds the whole header value, "Bearer sk_live_…". Without them those checks
 * report `skipped`. `env.required` reads Opsbook's own environment: run Opsbook with the backend's
 * variables (or drop the ones it does not have).
 *
 * pm2, top, df, certbot and Nginx need a shell on the droplet: manual items, and the backup script
 * pushes a heartbeat when it finishes.
 */
const DAY = 86_400;

export default defineConfig({
  service: 'Bunty',
  recipients: ['oncall@bunty.example.com', 'devops-lead@bunty.example.com'],
  links: {
    DigitalOcean: 'https://cloud.digitalocean.com/droplets',
    'GitHub Actions': 'https://github.com/example-org/bunty/actions',
    Plaid: 'https://status.plaid.com',
    Stripe: 'https://status.stripe.com',
    Sila: 'https://status.silamoney.com',
  },
  checks: {
    http: [
      {
        // The runbook's expected /health: {"status":"healthy","services":{"database":"connected","redis":"connected","midnight":"connected"}}
        id: 'api-health',
        title: 'API /health',
        url: 'https://api.bunty.io/health',
        conditions: [
          { path: 'status', op: 'eq', value: 'healthy' },
          { path: 'services.database', op: 'eq', value: 'connected' },
          { path: 'services.redis', op: 'eq', value: 'connected' },
          { path: 'services.midnight', op: 'eq', value: 'connected' },
        ],
        // P2 "slow response times: API response times > 2 seconds".
        degradedMs: 2000,
        failMs: 5000,
        severity: 'P1',
      },
      { id: 'frontend', title: 'Frontend', url: 'https://bunty.io', severity: 'P1' },
      {
        // "Test API connectivity" with the backend's credentials: Plaid takes them as headers.
        id: 'plaid-api',
        title: 'Plaid API with our credentials',
        url: 'https://production.plaid.com/institutions/get',
        method: 'POST',
        headers: { 'PLAID-CLIENT-ID': { env: 'PLAID_CLIENT_ID' }, 'PLAID-SECRET': { env: 'PLAID_SECRET' } },
        body: '{"count":1,"offset":0,"country_codes":["US"]}',
        conditions: [{ path: 'institutions.length', op: 'gte', value: 1 }],
        severity: 'P2',
      },
      {
        id: 'stripe-api',
        title: 'Stripe API with our key',
        url: 'https://api.stripe.com/v1/balance',
        headers: { Authorization: { env: 'STRIPE_API_AUTHORIZATION' } },
        conditions: [{ path: 'object', op: 'eq', value: 'balance' }],
        severity: 'P2',
      },
    ],
    // P1 external API failures: "Check API status pages".
    statusPages: [
      { id: 'plaid', title: 'Plaid', url: 'https://status.plaid.com', severity: 'P2' },
      { id: 'stripe', title: 'Stripe', url: 'https://status.stripe.com', severity: 'P2' },
      { id: 'sila', title: 'Sila', url: 'https://status.silamoney.com', severity: 'P2' },
    ],
    // "Verify API credentials": grep -E "PLAID|STRIPE|SILA" .env, without reading a value.
    requiredEnv: ['PLAID_CLIENT_ID', 'PLAID_SECRET', 'STRIPE_SECRET_KEY', 'SILA_APP_HANDLE', 'SILA_PRIVATE_KEY', 'JWT_SECRET'],
    // Certificate management: certbot renews at 30 days left, so 21 days left means renewal is failing.
    tls: [
      { id: 'api-cert', host: 'api.bunty.io', warnDays: 21, failDays: 7, severity: 'P1' },
      { id: 'frontend-cert', host: 'bunty.io', warnDays: 21, failDays: 7, severity: 'P1' },
    ],
  },
  heartbeats: [
    {
      // examples/host-agent.sh from the droplet's cron every five minutes: what pm2 status, top and df -h show.
      name: 'droplet',
      title: 'Droplet (pm2, memory, disk)',
      periodSeconds: 300,
      graceSeconds: 600,
      severity: 'P2',
      metrics: {
        disk_used_pct: { title: 'Droplet disk used (df -h /)', warn: 80, fail: 90, unit: '%' },
        mem_used_pct: { title: 'Droplet memory used', warn: 85, fail: 95, unit: '%' },
        load1: { title: 'Droplet load (1 min)', warn: 4 },
        pm2_not_online: { title: 'pm2 processes not online', fail: 0 },
      },
    },
    {
      // pg_dump "$DATABASE_URL" | gzip > /var/backups/bunty/bunty-$(date …).sql.gz, then the curl ping.
      name: 'db-backup',
      title: 'Nightly pg_dump to /var/backups/bunty',
      cron: '30 2 * * *',
      graceSeconds: 2 * 3600,
      rpoSeconds: DAY + 4 * 3600,
      severity: 'P2',
    },
  ],
  checklists: [
    {
      id: 'daily',
      title: 'Daily: health endpoints, errors, disk',
      schedule: { type: 'daily', at: '09:00' },
      items: [
        { check: 'http.api-health' },
        { check: 'http.frontend' },
        { check: 'statuspage' },
        { check: 'http.plaid-api' },
        { check: 'http.stripe-api' },
        { check: 'env.required' },
        // Database health: total / active / idle connections, long-running queries.
        { check: 'postgres.connections' },
        { check: 'postgres.long-running' },
        { check: 'postgres.blocked' },
        // Redis health: ping, memory, connected clients.
        { check: 'redis.ping' },
        { check: 'redis.memory' },
        { check: 'redis.clients' },
        { check: 'heartbeat.db-backup' },
        { manual: 'Review error logs: pm2 logs bunty-backend --err --lines 100', owner: 'on-call' },
        // pm2 status, top and df -h, pushed every five minutes by examples/host-agent.sh on the droplet.
        { check: 'heartbeat.droplet' },
        {
          manual: 'If /health fails: pm2 restart bunty-backend; if the last deploy broke it, roll back to bunty-backend-previous (DEPLOYMENT.md)',
          owner: 'on-call',
        },
      ],
    },
    {
      id: 'weekly',
      title: 'Weekly: performance, backups, patches',
      schedule: { type: 'weekly', days: ['mon'], at: '10:00' },
      items: [
        { check: 'postgres.slow-queries' },
        { check: 'postgres.cache-hit' },
        { check: 'redis.hit-rate' },
        { check: 'redis.slowlog' },
        { check: 'heartbeat.db-backup' },
        { manual: 'Check backup integrity: gunzip -t the latest /var/backups/bunty dump', owner: 'devops' },
        { manual: 'Update dependencies (security patches) through a hotfix branch', owner: 'dev' },
      ],
    },
    {
      id: 'monthly',
      title: 'Monthly: database optimization, security, certificates',
      schedule: { type: 'nth-weekday', nth: 1, weekday: 'mon', at: '10:00' },
      items: [
        // Optimizing database: ANALYZE; VACUUM ANALYZE (REINDEX is an admin action).
        { task: 'analyze' },
        { task: 'vacuum-analyze' },
        { check: 'postgres.vacuum' },
        { check: 'postgres.database-size' },
        { check: 'postgres.invalid-indexes' },
        // Opsbook's own upkeep: run history, snapshots and reports older than retentionDays (90).
        { task: 'prune-history' },
        // Certificate renewal check.
        { check: 'tls' },
        { manual: 'REINDEX DATABASE bunty_prod if the index checks ask for it (admin action, with confirmation)', owner: 'devops' },
        { manual: 'Log cleanup: check pm2-logrotate (max_size 10M, retain 7, compress)', owner: 'devops' },
        { manual: 'Security audit: SSH access, firewall, Nginx config, dependency advisories', owner: 'security' },
        { manual: 'certbot certificates on the droplet: the renewal timer ran', owner: 'devops' },
      ],
    },
    {
      id: 'quarterly',
      title: 'Quarterly: DR drill, capacity, rotation',
      schedule: { type: 'quarterly', at: '10:00' },
      items: [
        { manual: 'Disaster recovery drill: restore the latest dump into a scratch database and count users', owner: 'devops' },
        { manual: 'Capacity planning review (droplet size, connections, Redis memory)', owner: 'devops' },
        { manual: 'Rotate the Plaid secret (dashboard → GitHub secrets → deploy)', owner: 'security', lastDone: '2024-01-15' },
        { manual: 'Rotate the Stripe secret key and its webhook secret', owner: 'security', lastDone: '2024-01-15' },
        { manual: 'Rotate JWT_SECRET (openssl rand -base64 64); old tokens are invalidated', owner: 'security', lastDone: '2024-01-15' },
        { manual: 'Update this runbook and hold the team training', owner: 'devops' },
      ],
    },
  ],
});
