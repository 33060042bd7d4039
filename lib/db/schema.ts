import type { Db, Statement } from './types.js';

/**
 * Opsbook's own tables, in their own schema so they never collide with the app's. Every statement is
 * idempotent, and the whole list runs in one transaction under an advisory lock, so two cold starts
 * racing to migrate serialise instead of failing. Add to the end; never edit a shipped statement.
 */
const MIGRATIONS: string[] = [
  'CREATE SCHEMA IF NOT EXISTS opsbook',
  `CREATE TABLE IF NOT EXISTS opsbook.job_runs (
     id bigserial PRIMARY KEY,
     job text NOT NULL,
     period text NOT NULL,
     status text NOT NULL CHECK (status IN ('running', 'ok', 'failed')),
     started_at timestamptz NOT NULL,
     finished_at timestamptz,
     summary jsonb,
     error text,
     UNIQUE (job, period)
   )`,
  'CREATE INDEX IF NOT EXISTS job_runs_job_started ON opsbook.job_runs (job, started_at DESC)',
  // Diagnostics snapshots (query stats, sizes, queue counts) for diffs and trends.
  `CREATE TABLE IF NOT EXISTS opsbook.snapshots (
     id bigserial PRIMARY KEY,
     kind text NOT NULL,
     taken_at timestamptz NOT NULL,
     data jsonb NOT NULL
   )`,
  'CREATE INDEX IF NOT EXISTS snapshots_kind_taken ON opsbook.snapshots (kind, taken_at DESC)',
  // Checklist runs reuse job_runs (job = checklist id); each item's result, and the report outbox.
  `CREATE TABLE IF NOT EXISTS opsbook.run_results (
     run_id bigint NOT NULL REFERENCES opsbook.job_runs (id) ON DELETE CASCADE,
     item_key text NOT NULL,
     kind text NOT NULL CHECK (kind IN ('check', 'task', 'manual')),
     status text NOT NULL,
     summary text NOT NULL,
     failing_since timestamptz,
     data jsonb NOT NULL DEFAULT '{}'::jsonb,
     PRIMARY KEY (run_id, item_key)
   )`,
  `CREATE TABLE IF NOT EXISTS opsbook.reports (
     id bigserial PRIMARY KEY,
     run_id bigint UNIQUE REFERENCES opsbook.job_runs (id) ON DELETE CASCADE,
     checklist text NOT NULL,
     period text NOT NULL,
     subject text NOT NULL,
     html text NOT NULL,
     text text NOT NULL,
     recipients jsonb NOT NULL DEFAULT '[]'::jsonb,
     idempotency_key text NOT NULL,
     created_at timestamptz NOT NULL,
     delivery text NOT NULL DEFAULT 'pending' CHECK (delivery IN ('pending', 'sent', 'not-needed')),
     sent_at timestamptz,
     message_id text,
     attempts int NOT NULL DEFAULT 0,
     last_error text,
     claimed_until timestamptz
   )`,
  'CREATE INDEX IF NOT EXISTS reports_checklist_created ON opsbook.reports (checklist, created_at DESC)',
  "CREATE INDEX IF NOT EXISTS reports_pending ON opsbook.reports (created_at) WHERE delivery = 'pending'",
  // The audit log: every state change, written in the change's own transaction. Append-only: the
  // trigger refuses UPDATE and DELETE (pruning is the only delete, through opsbook.prune_audit).
  `CREATE TABLE IF NOT EXISTS opsbook.audit_log (
     id bigserial PRIMARY KEY,
     at timestamptz NOT NULL DEFAULT now(),
     actor text NOT NULL,
     role text NOT NULL,
     action text NOT NULL,
     target text,
     params jsonb NOT NULL DEFAULT '{}'::jsonb,
     before jsonb,
     after jsonb,
     result text NOT NULL,
     request_id text,
     ip text,
     user_agent text
   )`,
  'CREATE INDEX IF NOT EXISTS audit_log_at ON opsbook.audit_log (at DESC)',
  'CREATE INDEX IF NOT EXISTS audit_log_actor_at ON opsbook.audit_log (actor, at DESC)',
  'CREATE INDEX IF NOT EXISTS audit_log_action_at ON opsbook.audit_log (action, at DESC)',
  `CREATE OR REPLACE FUNCTION opsbook.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
   BEGIN
     IF current_setting('opsbook.pruning', true) = 'on' AND TG_OP = 'DELETE' THEN RETURN OLD; END IF;
     RAISE EXCEPTION 'opsbook.audit_log is append-only';
   END $$`,
  // Created only when missing: re-creating it on every cold start would lock the table each time.
  `DO $$ BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'audit_log_append_only' AND tgrelid = 'opsbook.audit_log'::regclass) THEN
       CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON opsbook.audit_log
         FOR EACH ROW EXECUTE FUNCTION opsbook.audit_log_append_only();
     END IF;
   END $$`,
  // Heartbeats: every ping (body capped at 10 KB), and each heartbeat's latest timestamps, updated in the
  // ping's transaction so the check reads one row per heartbeat. Old pings go with prune-history.
  `CREATE TABLE IF NOT EXISTS opsbook.heartbeat_pings (
     id bigserial PRIMARY KEY,
     name text NOT NULL,
     kind text NOT NULL CHECK (kind IN ('success', 'start', 'fail', 'exit')),
     exit_code int CHECK (exit_code BETWEEN 0 AND 255),
     received_at timestamptz NOT NULL,
     body text CHECK (octet_length(body) <= 10240),
     source_ip text,
     user_agent text,
     CHECK ((kind = 'exit') = (exit_code IS NOT NULL))
   )`,
  'CREATE INDEX IF NOT EXISTS heartbeat_pings_name_received ON opsbook.heartbeat_pings (name, received_at DESC)',
  `CREATE TABLE IF NOT EXISTS opsbook.heartbeats (
     name text PRIMARY KEY,
     last_ping_at timestamptz NOT NULL,
     last_ping_kind text NOT NULL,
     last_exit_code int,
     last_success_at timestamptz,
     last_start_at timestamptz,
     last_fail_at timestamptz,
     last_fail_exit_code int,
     pings bigint NOT NULL DEFAULT 0
   )`,
];

/** Admin tokens, idempotency keys, flags and maintenance mode (admin actions). */
MIGRATIONS.push(
  `CREATE TABLE IF NOT EXISTS opsbook.tokens (
     id bigserial PRIMARY KEY,
     name text NOT NULL,
     role text NOT NULL CHECK (role IN ('read', 'operate', 'admin', 'heartbeat')),
     hash text NOT NULL UNIQUE,
     prefix text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now(),
     created_by text,
     revoked_at timestamptz,
     last_used_at timestamptz
   )`,
  `CREATE TABLE IF NOT EXISTS opsbook.idempotency_keys (
     actor text NOT NULL,
     key text NOT NULL,
     request_hash text NOT NULL,
     state text NOT NULL CHECK (state IN ('in-flight', 'done')),
     status int,
     body jsonb,
     created_at timestamptz NOT NULL,
     PRIMARY KEY (actor, key)
   )`,
  `CREATE TABLE IF NOT EXISTS opsbook.settings (
     key text PRIMARY KEY,
     value jsonb NOT NULL,
     updated_at timestamptz NOT NULL,
     updated_by text NOT NULL
   )`,
);

/**
 * Alerting: each check's threshold state (one row per check, shared by every checklist that runs it, so
 * restarts and cold starts lose nothing), missed-run alerts (one per checklist and period), and runs a
 * later invocation may take over (a run that failed or was left running past its limit).
 */
MIGRATIONS.push(
  `CREATE TABLE IF NOT EXISTS opsbook.alert_state (
     key text PRIMARY KEY,
     state text NOT NULL CHECK (state IN ('ok', 'degraded', 'failing')),
     failures int NOT NULL DEFAULT 0,
     successes int NOT NULL DEFAULT 0,
     seq int NOT NULL DEFAULT 0,
     incident jsonb,
     notified_seq int NOT NULL DEFAULT 0,
     notified_at timestamptz,
     version bigint NOT NULL,
     updated_at timestamptz NOT NULL,
     checklist text
   )`,
  `CREATE TABLE IF NOT EXISTS opsbook.missed_alerts (
     checklist text NOT NULL,
     period text NOT NULL,
     expected_at timestamptz NOT NULL,
     raised_at timestamptz NOT NULL,
     raised_by text NOT NULL,
     muted boolean NOT NULL DEFAULT false,
     PRIMARY KEY (checklist, period)
   )`,
  'ALTER TABLE opsbook.job_runs ADD COLUMN IF NOT EXISTS attempts int NOT NULL DEFAULT 1',
);

/**
 * Delivery that cannot collide or loop, and runs that a killed process cannot hold:
 * - `opsbook.install`: one row, a random id made on the first migration of this database. It is this
 *   deployment's identity in Resend idempotency keys (two deployments on one Resend team never share a
 *   key); it survives restarts and redeploys, and a different database gets a different one. (The
 *   cluster's system identifier would be shared by every database of the cluster and by Neon branches.)
 * - `job_runs.lease_until`: a running run renews a short lease while it works; once it lapses, the run's
 *   process is gone and the next invocation of anything takes the run over.
 * - `reports.delivery = 'failed'`: a report Resend refuses for good stops being retried.
 */
MIGRATIONS.push(
  `CREATE TABLE IF NOT EXISTS opsbook.install (
     singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
     install_id text NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now()
   )`,
  `INSERT INTO opsbook.install (install_id) VALUES (replace(gen_random_uuid()::text, '-', '')) ON CONFLICT (singleton) DO NOTHING`,
  'ALTER TABLE opsbook.job_runs ADD COLUMN IF NOT EXISTS lease_until timestamptz',
  // When Resend first refused the report for good: that refusal is the one Sentry event about it.
  'ALTER TABLE opsbook.reports ADD COLUMN IF NOT EXISTS refused_at timestamptz',
  "CREATE INDEX IF NOT EXISTS job_runs_running_lease ON opsbook.job_runs (lease_until) WHERE status = 'running'",
  // A run's writes are fenced by its attempt: a run that was taken over (its lease lapsed while it was
  // alive but could not renew) stores nothing over its successor's.
  `CREATE OR REPLACE FUNCTION opsbook.assert_run_owner(run bigint, attempt int) RETURNS void LANGUAGE plpgsql AS $$
   BEGIN
     PERFORM 1 FROM opsbook.job_runs WHERE id = run AND attempts = attempt AND status = 'running' FOR UPDATE;
     IF NOT FOUND THEN RAISE EXCEPTION 'opsbook run % (attempt %) was taken over by another invocation', run, attempt; END IF;
   END $$`,
  // Replaced only when missing: re-adding it on every cold start would lock and scan the table each time.
  `DO $$ BEGIN
     IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'reports_delivery_states' AND conrelid = 'opsbook.reports'::regclass) THEN
       ALTER TABLE opsbook.reports DROP CONSTRAINT IF EXISTS reports_delivery_check;
       ALTER TABLE opsbook.reports ADD CONSTRAINT reports_delivery_states CHECK (delivery IN ('pending', 'sent', 'not-needed', 'failed'));
     END IF;
   END $$`,
);

/**
 * Confirm tokens are spent once (lib/admin/confirm.ts): one row per spent token (its hash), pruned once
 * the token would have expired anyway. Audit rows keep a client's own request id next to Opsbook's.
 */
MIGRATIONS.push(
  `CREATE TABLE IF NOT EXISTS opsbook.confirm_uses (
     token_hash text PRIMARY KEY,
     used_at timestamptz NOT NULL
   )`,
  'ALTER TABLE opsbook.audit_log ADD COLUMN IF NOT EXISTS client_request_id text',
);

/**
 * Metrics pushed with heartbeat pings: kept on the ping, and the latest value of each (with when it came)
 * on the heartbeat's row, which the checks read.
 */
MIGRATIONS.push(
  'ALTER TABLE opsbook.heartbeat_pings ADD COLUMN IF NOT EXISTS metrics jsonb',
  'ALTER TABLE opsbook.heartbeats ADD COLUMN IF NOT EXISTS last_metrics jsonb',
);

/**
 * Incidents and the notifications about them (issue 14). An incident is one alert incident of one check
 * (`alert_state.key` and its `seq`): opened when its alert opens, resolved when it recovers. What happened
 * during it (results, audited actions) is read by time range from run_results and audit_log; what is
 * stored here is what cannot be read back later: the root cause and the suppressed checks as Opsbook saw
 * them, and the diagnostics snapshots at open and at resolution.
 *
 * A notification is one message about one transition (`open`, `resolved`, `missed`) to one channel; its
 * unique key is the exactly-once claim (a second instance inserting the same row gets nothing back). For
 * an incident `subject` is `<alert key>#<seq>`; for a missed run `<checklist>@<period>`. A row stays
 * `pending` until delivered, and is retried with backoff until `failed` (given up, reported).
 */
MIGRATIONS.push(
  `CREATE TABLE IF NOT EXISTS opsbook.incidents (
     id bigserial PRIMARY KEY,
     alert_key text NOT NULL,
     seq int NOT NULL,
     checklist text NOT NULL,
     check_id text NOT NULL,
     title text NOT NULL,
     severity text NOT NULL,
     opened_at timestamptz NOT NULL,
     resolved_at timestamptz,
     root_cause jsonb,
     suppressed jsonb NOT NULL DEFAULT '[]'::jsonb,
     snapshot_open jsonb,
     snapshot_resolved jsonb,
     UNIQUE (alert_key, seq)
   )`,
  'CREATE INDEX IF NOT EXISTS incidents_opened ON opsbook.incidents (opened_at DESC)',
  "CREATE INDEX IF NOT EXISTS incidents_open ON opsbook.incidents (opened_at) WHERE resolved_at IS NULL",
  `CREATE TABLE IF NOT EXISTS opsbook.notifications (
     id bigserial PRIMARY KEY,
     subject text NOT NULL,
     event text NOT NULL CHECK (event IN ('open', 'resolved', 'missed')),
     channel text NOT NULL,
     status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
     payload jsonb NOT NULL,
     attempts int NOT NULL DEFAULT 0,
     last_error text,
     next_attempt_at timestamptz,
     claimed_until timestamptz,
     created_at timestamptz NOT NULL,
     sent_at timestamptz,
     UNIQUE (subject, event, channel)
   )`,
  "CREATE INDEX IF NOT EXISTS notifications_pending ON opsbook.notifications (next_attempt_at) WHERE status = 'pending'",
);

/**
 * Incident records (lib/incidents/): an incident opened while a maintenance window muted its check is
 * recorded too, marked, with the window's title. Audit rows say whether the action ran with the confirm
 * token of its dry run (`confirmed`; NULL on rows written before this column, and on system rows).
 */
MIGRATIONS.push(
  'ALTER TABLE opsbook.incidents ADD COLUMN IF NOT EXISTS muted boolean NOT NULL DEFAULT false',
  'ALTER TABLE opsbook.incidents ADD COLUMN IF NOT EXISTS muted_by text',
  "CREATE INDEX IF NOT EXISTS incidents_resolved ON opsbook.incidents (resolved_at) WHERE resolved_at IS NOT NULL",
  'ALTER TABLE opsbook.audit_log ADD COLUMN IF NOT EXISTS confirmed boolean',
);

/**
 * Notification delivery (issue 14 item 1): which checklist a message belongs to (its next report names a
 * channel that failed) and when it was given up (`failed`), so that report, and Sentry once, can say so.
 */
MIGRATIONS.push(
  'ALTER TABLE opsbook.notifications ADD COLUMN IF NOT EXISTS checklist text',
  'ALTER TABLE opsbook.notifications ADD COLUMN IF NOT EXISTS failed_at timestamptz',
  "CREATE INDEX IF NOT EXISTS notifications_checklist_open ON opsbook.notifications (checklist) WHERE status <> 'sent'",
);

const LOCK_KEY = 7_341_559; // any constant; identifies Opsbook's migration lock in pg_locks

export function schemaStatements(): Statement[] {
  return [{ text: `SELECT pg_advisory_xact_lock(${LOCK_KEY})` }, ...MIGRATIONS.map((text) => ({ text }))];
}

const migrated = new WeakMap<Db, Promise<void>>();

/** Bring Opsbook's schema up to date, once per Db instance. Not on the health path. */
export function ensureSchema(db: Db): Promise<void> {
  let done = migrated.get(db);
  if (!done) {
    done = db.batch(schemaStatements(), { readOnly: false }).then(() => undefined);
    // A failed attempt is retried by the next caller rather than cached.
    done.catch(() => migrated.delete(db));
    migrated.set(db, done);
  }
  return done;
}
