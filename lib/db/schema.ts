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
];

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
