import * as z from 'zod';
import { columnNameField, tableNameField } from './identifiers.js';

/**
 * Every task's parameters, as the config writes them under a checklist item: leaf schemas with no tie to
 * the tasks' code, so the config schema (and everything that validates a config, health's cold start
 * included) never imports the task registry, the diagnostics runner or the checks behind it. Each task
 * file runs what its schema here describes; test/tasks/registry.test.ts holds the two lists together.
 *
 * Every task that acts on tables takes `tables`, a list, written the same way everywhere.
 */

export const analyzeParams = z.strictObject({
  /**
   * `ANALYZE`: refresh the planner's statistics, one table at a time, with a progress line each; stops before the item's time limit.
   * @example { "task": "analyze", "tables": ["users", "orders"] }
   */
  task: z.literal('analyze'),
  /**
   * Tables to analyze, each `table` (schema public), `schema.table` or `"schema"."Table"` (quoted: exact case); every table this role owns when omitted.
   * @default every table the role owns
   * @example ["users", "app.sessions", "public.\"AuditLogs\""]
   */
  tables: z.array(tableNameField).min(1).max(200).optional(),
});

export const vacuumAnalyzeParams = z.strictObject({
  /**
   * `VACUUM (ANALYZE)`: reclaim dead rows and refresh statistics, one table at a time (outside a transaction, as VACUUM requires); stops before the item's time limit.
   * @example { "task": "vacuum-analyze", "tables": ["orders", "app.sessions"] }
   */
  task: z.literal('vacuum-analyze'),
  /**
   * Tables to vacuum, each `table` (schema public), `schema.table` or `"schema"."Table"` (quoted: exact case); every table this role owns, most dead rows first, when omitted.
   * @default every table the role owns
   * @example ["orders", "app.sessions"]
   */
  tables: z.array(tableNameField).min(1).max(200).optional(),
});

export const retentionDeleteParams = z.strictObject({
  /**
   * Delete rows older than `olderThanDays` from each of `tables`, in batches that are each one transaction with its audit row; each table is checked and reported on its own, so a missing table or a column that is not a date is refused by name while the others are still cleaned.
   * @example { "task": "retention-delete", "tables": ["audit_logs", "app.session_logs"], "column": "created_at", "olderThanDays": 90 }
   */
  task: z.literal('retention-delete'),
  /**
   * Tables to delete old rows from, one after the other, each `table` (schema public), `schema.table` or `"schema"."Table"` (quoted: exact case); at most 20, since each is a clause of the report and a share of the item's time limit.
   * @example ["audit_logs", "app.session_logs"]
   */
  tables: z.array(tableNameField).min(1).max(20),
  /**
   * The date, timestamp or timestamptz column that dates a row, the same name in every table: `created_at`, or `"createdAt"` quoted for a mixed-case name; a timestamp without time zone is read as UTC.
   * @example "created_at"
   */
  column: columnNameField,
  /** Rows whose `column` is more than this many days before the run are deleted. @example 90 */
  olderThanDays: z.number().int().min(1).max(3650),
  /** Rows per batch, each batch its own transaction with its own audit row. @default 1000 */
  batchSize: z.number().int().min(1).max(10_000).default(1000),
  /**
   * Batches per table per run (so at most batchSize × maxBatches rows per table), so one table's backlog never uses up the others' turn; what is left waits for the next run, reported as a warning.
   * @default 100
   */
  maxBatches: z.number().int().min(1).max(1000).default(100),
});

export const snapshotParams = z.strictObject({
  /**
   * Store database and table sizes, query statistics and queue counts, for the report's trends and the next diagnostics' diffs; it takes no parameters.
   * @example { "task": "snapshot" }
   */
  task: z.literal('snapshot'),
});

export const pruneHistoryParams = z.strictObject({
  /**
   * Delete Opsbook's own run history, snapshots and sent reports older than `days`, in audited batches, keeping each checklist's latest successful run and each kind's latest snapshot.
   * @example { "task": "prune-history", "days": 30 }
   */
  task: z.literal('prune-history'),
  /**
   * Days of Opsbook's own history to keep.
   * @default the config's retentionDays (90)
   * @example 30
   */
  days: z.number().int().min(1).max(3650).optional(),
});

/** The params schema of each task, by name: what the config schema validates a task item with. */
export const TASK_PARAMS: Record<string, z.ZodType<{ task: string } & Record<string, unknown>, any>> = {
  'analyze': analyzeParams,
  'vacuum-analyze': vacuumAnalyzeParams,
  'retention-delete': retentionDeleteParams,
  'snapshot': snapshotParams,
  'prune-history': pruneHistoryParams,
};
