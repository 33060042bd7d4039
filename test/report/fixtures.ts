import type { CheckStatus } from '../../lib/checks/types.js';
import type { ReportItem, ReportModel, TrendPoint } from '../../lib/report/model.js';

/** Report models for the renderer's tests and the sample: realistic, huge and hostile. */

const DAY_MS = 86_400_000;
const GENERATED = '2025-03-10T09:00:07.412Z';

/** Dates of the `n` days up to the report's, oldest first (from a fixed date: no clock). */
export function days(n: number, end = '2025-03-10'): string[] {
  const last = Date.parse(`${end}T00:00:00Z`);
  return Array.from({ length: n }, (_, i) => new Date(last - (n - 1 - i) * DAY_MS).toISOString().slice(0, 10));
}

export function countsOf(items: ReportItem[], manual: number): ReportModel['counts'] {
  const counts = { ok: 0, warn: 0, fail: 0, skipped: 0, error: 0, manual };
  for (const i of items) counts[i.status]++;
  return counts;
}

export function item(id: string, status: CheckStatus, summary: string, extra: Partial<ReportItem> = {}): ReportItem {
  return { key: `check:${id}`, kind: 'check', id, title: id, area: 'Postgres', status, summary, severity: 'P3', ...extra };
}

/** A model with counts derived from its items; transitions default to none. */
export function model(partial: Partial<ReportModel> & { items?: ReportItem[] } = {}): ReportModel {
  const items = partial.items ?? [];
  const manual = partial.manual ?? [];
  return {
    service: 'VocaVision',
    checklist: { id: 'daily', title: 'Morning Checklist (9 AM UTC)', schedule: 'daily at 09:00 UTC' },
    period: '2025-03-10',
    runId: 418,
    generatedAt: GENERATED,
    transitions: { newFailures: [], recovered: [], stillFailing: [] },
    trends: {},
    links: {},
    ...partial,
    items,
    manual,
    counts: partial.counts ?? countsOf(items, manual.length),
  };
}

const terminate = (body: Record<string, unknown>) => ({ method: 'POST' as const, path: '/api/admin/db/terminate', body: { ...body, dryRun: true } });

/** The morning checklist of a small SaaS on a bad-ish day: what a person reads at 9 AM. */
export function sampleModel(): ReportModel {
  const connections = item('postgres.connections', 'fail', '92 of 100 connections in use (92%, 88 to vocavision): 14 active, 61 idle, 17 idle in transaction; fail above 90%', {
    title: 'Connections',
    severity: 'P1',
    details: [
      { application: 'vercel-fn (api)', state: 'idle', count: 48, oldest: '41 min' },
      { application: 'vercel-fn (api)', state: 'idle in transaction', count: 17, oldest: '2 h 14 min' },
      { application: 'worker-transcode', state: 'active', count: 9, oldest: '3 min' },
      { application: 'metabase', state: 'idle', count: 13, oldest: '6 h 2 min' },
      { application: 'psql', state: 'active', count: 1, oldest: '12 s' },
    ],
    more: 2,
    hint: {
      text: 'Close sessions idle for more than 10 minutes, then look at idle-in-transaction and long-running sessions; lower the app pool size or put a pooler in front (PgBouncer, or the -pooler host on Neon).',
      action: terminate({ idleLongerThan: '10m' }),
    },
  });
  const idleTx = item('postgres.idle-in-transaction', 'warn', '17 sessions idle in transaction longer than 5 min, the oldest for 2 h 14 min', {
    title: 'Idle in transaction',
    details: [
      { pid: 48211, user: 'app', application: 'vercel-fn (api)', idleFor: '2 h 14 min', query: "UPDATE lessons SET progress = progress + 1 WHERE user_id = $1 AND lesson_id = 'l-204'" },
      { pid: 48390, user: 'app', application: 'vercel-fn (api)', idleFor: '1 h 02 min', query: 'SELECT * FROM subscriptions WHERE user_id = $1 FOR UPDATE' },
    ],
    more: 15,
    hint: {
      text: 'An open transaction holds its locks and stops vacuum from cleaning up: fix the code path that leaves it open (set idle_in_transaction_session_timeout), and terminate sessions idle longer than 5 min.',
      action: terminate({ idleInTransactionLongerThan: '5m' }),
    },
  });
  const slow = item('postgres.slow-queries', 'warn', '3 new slow queries since the previous snapshot (mean above 500 ms)', {
    title: 'Slow queries',
    details: [
      { query: 'SELECT w.*, count(r.*) FROM words w LEFT JOIN reviews r ON r.word_id = w.id WHERE w.deck_id = $1 GROUP BY w.id', calls: 18_204, meanMs: 812.4, new: true },
      { query: 'SELECT * FROM events WHERE created_at > $1 ORDER BY created_at DESC LIMIT 500', calls: 2_311, meanMs: 640.2, new: true },
      { query: "UPDATE users SET last_seen_at = now() WHERE id = ANY($1)", calls: 96_120, meanMs: 522.9, new: true },
    ],
    hint: { text: 'EXPLAIN (ANALYZE, BUFFERS) the new ones; the first scans reviews without an index on word_id.' },
  });
  const vacuum = item('postgres.vacuum', 'warn', '2 tables need VACUUM ANALYZE: reviews (38% dead rows), events (21% dead rows)', {
    title: 'Vacuum',
    details: [
      { table: 'public.reviews', deadRows: 4_210_344, deadPct: 38.2, lastAutovacuum: '2025-03-02T03:11:09Z' },
      { table: 'public.events', deadRows: 1_002_118, deadPct: 21.4, lastAutovacuum: '2025-03-06T22:40:51Z' },
    ],
    hint: {
      text: 'Run VACUUM ANALYZE on public.reviews (and the others listed). Autovacuum is falling behind: lower autovacuum_vacuum_scale_factor on reviews.',
      action: { method: 'POST', path: '/api/admin/db/maintenance', body: { op: 'vacuum-analyze', tables: ['public.reviews', 'public.events'], dryRun: true } },
    },
  });
  const items: ReportItem[] = [
    connections,
    idleTx,
    slow,
    vacuum,
    item('postgres.cache-hit', 'ok', 'cache hit ratio 99.2% (tables), 99.8% (indexes)', { title: 'Cache hit ratio' }),
    item('postgres.database-size', 'ok', 'vocavision is 4.1 GB (+1.8% in 7 days)', { title: 'Database size' }),
    item('postgres.largest-tables', 'ok', 'largest: public.reviews 1.9 GB (46% of the database)', {
      title: 'Largest tables',
      details: [
        { table: 'public.reviews', bytes: 2_040_109_056, tableBytes: 1_503_238_144, indexBytes: 536_870_912 },
        { table: 'public.events', bytes: 912_261_120, tableBytes: 801_112_064, indexBytes: 111_149_056 },
        { table: 'public.words', bytes: 402_653_184, tableBytes: 268_435_456, indexBytes: 134_217_728 },
      ],
      more: 41,
    }),
    item('postgres.wraparound', 'ok', 'oldest transaction ID age 212 M (10% of the limit)', { title: 'Wraparound' }),
    item('postgres.replication', 'skipped', 'no replicas: this is the primary and nothing replicates from it', {
      title: 'Replication',
      hint: { text: 'Nothing to do unless you add a read replica.' },
    }),
    item('redis.memory', 'warn', 'used_memory 812 MB of 1 GB maxmemory (79%); eviction policy noeviction', {
      title: 'Memory',
      area: 'Redis',
      hint: { text: 'With noeviction, writes fail when memory is full: set TTLs on cache keys (cache:* has 214k keys without one) or raise the plan.' },
    }),
    item('redis.ping', 'ok', 'PONG in 3 ms', { title: 'Ping', area: 'Redis' }),
    item('redis.latency', 'ok', 'p99 command latency 4 ms over the last 100 samples', { title: 'Latency', area: 'Redis' }),
    item('queues.email.failed', 'fail', 'email: 214 failed jobs (fail above 50); last error: 451 4.7.1 Temporary local problem, please try again later', {
      title: 'Email queue failures',
      area: 'Queues',
      severity: 'P2',
      failingDays: 3,
      details: [
        { jobId: 'email:88123', name: 'lesson-reminder', attempts: 5, failedReason: '451 4.7.1 Temporary local problem, please try again later', failedAt: '2025-03-10T08:41:12Z' },
        { jobId: 'email:88119', name: 'lesson-reminder', attempts: 5, failedReason: '451 4.7.1 Temporary local problem, please try again later', failedAt: '2025-03-10T08:40:57Z' },
        { jobId: 'email:88007', name: 'receipt', attempts: 5, failedReason: 'Resend API 429: rate limit exceeded', failedAt: '2025-03-10T07:12:03Z' },
      ],
      more: 211,
      hint: {
        text: 'The mail provider is throttling: check the Resend dashboard for the sending limit, then retry the failed jobs once the cause is fixed.',
        action: { method: 'POST', path: '/api/admin/queues/retry', body: { queue: 'email', limit: 100, dryRun: true } },
      },
    }),
    item('queues.transcode.backlog', 'ok', 'transcode: 12 waiting, 3 active, oldest waiting 48 s', { title: 'Transcode backlog', area: 'Queues' }),
    item('queues.stalled', 'ok', 'no stalled jobs in 4 queues', { title: 'Stalled jobs', area: 'Queues' }),
    item('http.api-health', 'ok', 'GET https://api.vocavision.com/health → 200 in 142 ms', { title: 'API health', area: 'Endpoints' }),
    item('http.app', 'ok', 'GET https://app.vocavision.com/ → 200 in 388 ms', { title: 'Web app', area: 'Endpoints' }),
    item('tls.api.vocavision.com', 'warn', 'certificate expires in 12 days (2025-03-22), issued by R11', {
      title: 'TLS api.vocavision.com',
      area: 'Endpoints',
      hint: { text: 'Auto-renewal should have happened at 30 days: check the DNS CAA record and the Vercel domain settings.' },
    }),
    item('statuspage.vercel', 'ok', 'All Systems Operational', { title: 'Vercel status', area: 'Endpoints' }),
    item('statuspage.neon', 'error', 'status page did not answer within 5000 ms', { title: 'Neon status', area: 'Endpoints' }),
    item('heartbeat.nightly-backup', 'ok', 'up: last success 6 h ago, next expected by 2025-03-11T03:30:00Z', { title: 'Nightly backup', area: 'Heartbeats' }),
    item('heartbeat.billing-sync', 'fail', 'down: no success since 26 h ago; expected by 2025-03-09T08:00:00Z, grace (1 h) passed', {
      title: 'Billing sync',
      area: 'Heartbeats',
      severity: 'P2',
      failingDays: 1,
      hint: { text: 'Look at the last run in the billing-sync logs on Vercel (cron /api/cron/billing-sync); a Stripe API key rotated on 2025-03-08 is the likely cause.' },
    }),
    item('heartbeat.search-reindex', 'warn', 'late: last success 3 h ago, expected by 2025-03-10T08:00:00Z; down at 2025-03-10T10:00:00Z', {
      title: 'Search reindex',
      area: 'Heartbeats',
    }),
    item('sql.signups-24h', 'ok', '412 sign-ups in 24 h', { title: 'Sign-ups (24 h)', area: 'Metrics' }),
    item('sql.failed-payments', 'warn', '23 failed payments in 24 h (warn above 20)', {
      title: 'Failed payments (24 h)',
      area: 'Metrics',
      details: [
        { reason: 'card_declined', count: 14 },
        { reason: 'insufficient_funds', count: 6 },
        { reason: 'expired_card', count: 3 },
      ],
    }),
    {
      key: 'task:0:purge-expired-sessions',
      kind: 'task',
      id: 'purge-expired-sessions',
      title: 'Purge expired sessions',
      area: 'Maintenance',
      status: 'ok',
      summary: 'deleted 18,204 expired sessions in 3 batches',
    },
  ];
  const byId = (id: string) => items.find((i) => i.id === id)!;
  const manual = [
    { text: 'Review new error spikes in Sentry', owner: 'alice', link: 'https://vocavision.sentry.io/issues/?statsPeriod=24h', lastDone: '2025-03-07' },
    { text: 'Check the support inbox and alert channels', owner: 'on-call' },
    { text: 'Verify that last night’s backup restored in staging', owner: 'bob', link: 'https://runbooks.vocavision.com/backup-restore', lastDone: '2025-03-03' },
  ];
  const sizeDays = days(30);
  const databaseSize: TrendPoint[] = sizeDays.map((date, i) => ({ date, value: Math.round(3.9 * 2 ** 30 + i * 7.4e6 + ((i * 37) % 11) * 2.1e6) }));
  const queueFailures: TrendPoint[] = sizeDays.map((date, i) => ({ date, value: i >= 27 ? [61, 140, 214][i - 27]! : [0, 2, 0, 0, 5, 1, 0][i % 7]! }));
  return model({
    items,
    manual,
    transitions: {
      newFailures: [connections, byId('statuspage.neon')],
      stillFailing: [byId('queues.email.failed'), byId('heartbeat.billing-sync')],
      recovered: [byId('redis.latency')],
    },
    trends: {
      databaseSize,
      queueFailures,
      newSlowQueries: 3,
      heartbeats: [
        { name: 'nightly-backup', state: 'up', lastSuccessAgeSeconds: 6 * 3600 + 12 * 60 },
        { name: 'billing-sync', state: 'down', lastSuccessAgeSeconds: 26 * 3600 + 4 * 60 },
        { name: 'search-reindex', state: 'late', lastSuccessAgeSeconds: 3 * 3600 + 9 * 60 },
        { name: 'usage-rollup', state: 'up', lastSuccessAgeSeconds: 14 * 60 },
      ],
    },
    links: {
      Grafana: 'https://grafana.vocavision.com/d/ops',
      'Neon console': 'https://console.neon.tech/app/projects/vocavision',
      Sentry: 'https://vocavision.sentry.io/',
      Vercel: 'https://vercel.com/vocavision/app',
      Upstash: 'https://console.upstash.com/redis',
    },
    notes: ['Maintenance window Tue 2025-03-11 02:00–03:00 UTC: Postgres minor upgrade (16.6 → 16.8). Expect a 30 s failover; the 02:30 heartbeats may be late.'],
  });
}

const AREAS = ['Postgres', 'Redis', 'Queues', 'Endpoints', 'Heartbeats', 'Metrics', 'Maintenance'];

/**
 * A big system: `n` items with long summaries and many detail rows each; about 4% fail or error,
 * 10% warn, 3% skipped, the rest ok. Half the failures are new.
 */
export function bigModel(n = 2000): ReportModel {
  const filler = 'lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore ';
  const items: ReportItem[] = [];
  for (let i = 0; i < n; i++) {
    const status: CheckStatus = i % 50 === 7 ? 'fail' : i % 100 === 13 ? 'error' : i % 10 === 3 ? 'warn' : i % 33 === 5 ? 'skipped' : 'ok';
    const id = `${AREAS[i % AREAS.length]!.toLowerCase()}.check-${String(i).padStart(4, '0')}`;
    items.push({
      key: `check:${id}`,
      kind: 'check',
      id,
      title: `Check number ${i} with a descriptive title that goes on for a while`,
      area: AREAS[i % AREAS.length]!,
      status,
      severity: (['P1', 'P2', 'P3', 'P4'] as const)[i % 4],
      summary: `${id}: ${filler.repeat(6)}`,
      details: Array.from({ length: 40 }, (_, r) => ({
        relation: `public.some_really_long_table_name_${r}_${'x'.repeat(40)}`,
        rows: r * 1_000_003,
        bytes: r * 1_048_576 * 7,
        query: `SELECT ${'column_name, '.repeat(30)} FROM t${r} WHERE id = $1`,
        note: filler.repeat(3),
        a: r,
        b: 'b'.repeat(200),
        c: { nested: filler },
      })),
      more: 500,
      hint: {
        text: `${filler.repeat(10)}`,
        action: { method: 'POST', path: '/api/admin/db/maintenance', body: { op: 'vacuum-analyze', tables: Array.from({ length: 30 }, (_, t) => `public.table_${t}`), dryRun: true } },
      },
    });
  }
  const failing = items.filter((i) => i.status === 'fail' || i.status === 'error');
  const sizeDays = days(30);
  return model({
    service: 'VocaVision',
    items,
    transitions: {
      newFailures: failing.filter((_, k) => k % 2 === 0),
      stillFailing: failing.filter((_, k) => k % 2 === 1).map((i, k) => ({ ...i, failingDays: k })),
      recovered: items.filter((i) => i.status === 'ok').slice(0, 40),
    },
    trends: {
      databaseSize: sizeDays.map((date, i) => ({ date, value: 1e11 + i * 1e9 })),
      queueFailures: sizeDays.map((date, i) => ({ date, value: i * 3 })),
      newSlowQueries: 17,
      heartbeats: Array.from({ length: 60 }, (_, i) => ({ name: `job-${i}-${'n'.repeat(50)}`, state: i % 5 === 0 ? 'down' : 'up', lastSuccessAgeSeconds: i * 600 })),
    },
    manual: Array.from({ length: 80 }, (_, i) => ({ text: `Manual step ${i}: ${filler.repeat(5)}`, owner: `owner-${i}`, link: `https://runbooks.example.com/${i}`, lastDone: '2025-03-01' })),
    links: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`Dashboard ${i}`, `https://grafana.example.com/d/${i}`])),
    notes: Array.from({ length: 10 }, (_, i) => `Note ${i}: ${filler.repeat(8)}`),
  });
}

/** Strings that break naive HTML: markup, attribute breakouts, SQL, URLs with schemes, controls. */
export const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '</td></tr></table><iframe src="http://evil.example/x"></iframe>',
  '<style>body{background:url(http://evil.example/x.png)}</style>',
  "'; DROP TABLE users; -- \" OR 1=1",
  '<a href="javascript:alert(1)">click</a>',
  '&amp; &lt;not-a-tag&gt; <!-- comment --> ]]>',
  'line\r\nBcc: victim@example.com\u0000\u202Egnp.exe',
] as const;

/** Every string field of a model set to hostile text. */
export function hostileModel(): ReportModel {
  const h = (i: number) => HOSTILE[i % HOSTILE.length]!;
  const statuses: CheckStatus[] = ['fail', 'error', 'warn', 'ok', 'skipped'];
  const items: ReportItem[] = HOSTILE.map((_, i) => ({
    key: `check:${h(i)}`,
    kind: 'check',
    id: h(i + 1),
    title: h(i + 2),
    area: h(i + 3),
    status: statuses[i % statuses.length]!,
    severity: 'P1',
    summary: h(i + 4),
    details: [{ [h(i + 5)]: h(i + 6), [h(i + 7)]: h(i + 8), num: 1 }],
    more: 3,
    hint: { text: h(i + 2), action: { method: 'POST', path: h(i + 3), body: { [h(i)]: h(i + 1), nested: { x: h(i + 4) } } } },
  }));
  const failing = items.filter((i) => i.status === 'fail' || i.status === 'error');
  return model({
    service: h(0),
    checklist: { id: h(1), title: h(2), schedule: h(3) },
    period: h(4),
    generatedAt: h(5),
    items,
    transitions: { newFailures: failing.slice(0, 1), stillFailing: failing.slice(1), recovered: items.filter((i) => i.status === 'ok') },
    trends: {
      databaseSize: HOSTILE.map((s, i) => ({ date: s, value: 1000 * (i + 1) })),
      queueFailures: HOSTILE.map((s, i) => ({ date: s, value: i })),
      heartbeats: HOSTILE.map((s, i) => ({ name: s, state: h(i + 1), lastSuccessAgeSeconds: i * 60 })),
    },
    manual: HOSTILE.map((s, i) => ({ text: s, owner: h(i + 1), link: i % 2 ? 'javascript:alert(1)' : h(i + 2), lastDone: h(i + 3) })),
    links: Object.fromEntries(HOSTILE.map((s, i) => [s, i % 2 ? 'javascript:alert(document.cookie)' : `https://ok.example/${h(i)}`])),
    notes: [...HOSTILE],
  });
}

/**
 * The 9 a.m. report a new user got (issue 14 item 4): 40-odd passing checks with detail rows, the only
 * warning far down in its section, six Redis checks skipped with the same hint, and trends one day old.
 */
export function morningModel(): ReportModel {
  const pg = (id: string, summary: string, extra: Partial<ReportItem> = {}) => item(`postgres.${id}`, 'ok', summary, { title: id, ...extra });
  const rows = (n: number, f: (i: number) => Record<string, unknown>) => Array.from({ length: n }, (_, i) => f(i));
  const redisHint = {
    text: 'No Redis is configured, so Opsbook uses a Map inside this process and there is no server to measure. Set REDIS_URL (TCP) or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN.',
  };
  const items: ReportItem[] = [
    pg('reachable', 'connected in 4 ms (PostgreSQL 16.4)'),
    pg('connections', '14 of 100 connections in use (14%)', { details: rows(5, (i) => ({ application: `app-${i}`, state: i % 2 ? 'idle' : 'active', count: 3 - (i % 3), oldest: `${i + 1} min` })) }),
    pg('idle-in-transaction', 'no session idle in transaction longer than 5 min'),
    pg('long-running', 'no query running longer than 5 min'),
    pg('locks', 'no blocked lock waits', { details: rows(3, (i) => ({ mode: ['AccessShareLock', 'RowExclusiveLock', 'ExclusiveLock'][i], granted: 12 - i })) }),
    pg('cache-hit', 'cache hit ratio 99.4% (tables), 99.9% (indexes)'),
    pg('database-size', 'app is 2.3 GB'),
    pg('largest-tables', 'largest: public.events 1.1 GB (48% of the database)', {
      details: rows(5, (i) => ({ table: `public.table_with_a_name_${i}`, bytes: 1_100_000_000 / (i + 1), tableBytes: 800_000_000 / (i + 1), indexBytes: 300_000_000 / (i + 1) })),
      more: 37,
    }),
    pg('table-bloat', 'no table above 30% estimated bloat', { details: rows(5, (i) => ({ table: `public.t${i}`, bloatPct: 12 - i, wastedBytes: 4_000_000 * (5 - i) })) }),
    pg('index-bloat', 'no index above 30% estimated bloat', { details: rows(5, (i) => ({ index: `public.t${i}_pkey`, bloatPct: 9 - i, wastedBytes: 1_000_000 * (5 - i) })) }),
    pg('unused-indexes', 'no unused index larger than 10 MB'),
    pg('wraparound', 'oldest transaction ID age 41 M (2% of the limit)'),
    pg('replication', 'no replicas'),
    pg('slow-queries', 'no new slow query since the previous snapshot', { details: rows(5, (i) => ({ query: `SELECT * FROM t${i} WHERE id = $1`, calls: 10_000 * (i + 1), meanMs: 12.5 + i })) }),
    pg('sequences', 'no sequence above 50% of its range'),
    pg('settings', 'statement_timeout 30 s, idle_in_transaction_session_timeout 60 s'),
    pg('statements', 'pg_stat_statements installed, 1,204 statements tracked'),
    pg('vacuum', 'no table above 20% dead rows', { details: rows(5, (i) => ({ table: `public.t${i}`, deadRows: 1000 * i, deadPct: i, lastAutovacuum: '2025-03-09T22:40:51Z' })) }),
    ...['ping', 'memory', 'clients', 'hit-rate', 'dbsize', 'slowlog'].map((c) =>
      item(`redis.${c}`, 'skipped', 'in-memory fallback: set REDIS_URL or UPSTASH_REDIS_REST_URL', { title: `Redis ${c}`, area: 'Redis', hint: redisHint }),
    ),
    item('queues.email', 'warn', 'email: 7 failed jobs (warn at 5); last error: 451 4.7.1 Temporary local problem, please try again later', {
      title: 'Queue email',
      area: 'Queues',
      details: [{ jobId: 'email:88123', name: 'lesson-reminder', attempts: 5, failedReason: '451 4.7.1 Temporary local problem', failedAt: '2025-03-10T08:41:12Z' }],
      more: 6,
      hint: {
        text: 'The mail provider is throttling: check its dashboard for the sending limit, then retry the failed jobs once the cause is fixed.',
        action: { method: 'POST', path: '/api/admin/queues/retry', body: { queue: 'email', limit: 100, dryRun: true } },
      },
    }),
    ...['transcode', 'billing', 'webhooks'].map((q) =>
      item(`queues.${q}`, 'ok', `${q}: 0 failed, 2 waiting, oldest waiting 4 s`, {
        title: `Queue ${q}`,
        area: 'Queues',
        details: [{ queue: q, waiting: 2, active: 1, delayed: 0, failed: 0, completed: 1_204 }],
      }),
    ),
    ...['api', 'app', 'docs', 'status'].map((h) => item(`http.${h}`, 'ok', `GET https://${h}.example.com/ → 200 in 142 ms`, { title: `HTTP ${h}`, area: 'Endpoints', details: [{ url: `https://${h}.example.com/`, status: 200, ms: 142 }] })),
    item('tls.api.example.com', 'ok', 'certificate valid for 61 days', { title: 'TLS api.example.com', area: 'Endpoints' }),
    ...['nightly-backup', 'billing-sync', 'search-reindex'].map((h) =>
      item(`heartbeat.${h}`, 'ok', 'up: last success 2 h ago', { title: h, area: 'Heartbeats', details: [{ state: 'up', lastSuccess: '2025-03-10T07:00:00Z', nextDue: '2025-03-11T07:00:00Z' }] }),
    ),
    item('sql.signups-24h', 'ok', '412 sign-ups in 24 h', { title: 'Sign-ups (24 h)', area: 'Metrics', value: 412 }),
  ];
  return model({
    items,
    manual: [{ text: 'Review new error spikes in Sentry', owner: 'on-call' }],
    trends: {
      databaseSize: [{ date: '2025-03-10', value: 2.3 * 2 ** 30 }],
      queueFailures: [{ date: '2025-03-10', value: 0 }],
      newSlowQueries: 0,
      heartbeats: [
        { name: 'nightly-backup', state: 'up', lastSuccessAgeSeconds: 7200 },
        { name: 'billing-sync', state: 'up', lastSuccessAgeSeconds: 7300 },
        { name: 'search-reindex', state: 'up', lastSuccessAgeSeconds: 7400 },
      ],
    },
    links: { Grafana: 'https://grafana.example.com/d/ops' },
  });
}
