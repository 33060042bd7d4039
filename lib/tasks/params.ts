import * as z from 'zod';
import { columnNameField, tableNameField } from './identifiers.js';

/**
 * Every task's parameters, as the config writes them under a checklist item: leaf schemas with no tie to
 * the tasks' code, so the config schema (and everything that validates a config, health's cold start
 * included) never imports the task registry, the diagnostics runner or the checks behind it. Each task
 * file runs what its schema here describes; test/tasks/registry.test.ts holds the two lists together.
 */

export const analyzeParams = z.strictObject({
  task: z.literal('analyze'),
  /** `table`, `schema.table` or `"schema"."Table"`; the whole database when omitted. */
  tables: z.array(tableNameField).min(1).max(200).optional(),
});

export const vacuumAnalyzeParams = z.strictObject({
  task: z.literal('vacuum-analyze'),
  /** `table`, `schema.table` or `"schema"."Table"`; the whole database when omitted. */
  tables: z.array(tableNameField).min(1).max(200).optional(),
});

export const retentionDeleteParams = z.strictObject({
  task: z.literal('retention-delete'),
  /** `table`, `schema.table` or `"schema"."Table"` (schema public when omitted). */
  table: tableNameField,
  /** A date, timestamp or timestamptz column: `created_at` or `"createdAt"`. */
  column: columnNameField,
  /** Rows with `column` older than this many days are deleted. */
  olderThanDays: z.number().int().min(1).max(3650),
  /** Rows per batch (one transaction each). @default 1000 */
  batchSize: z.number().int().min(1).max(10_000).default(1000),
  /** Batches per run; what is left waits for the next run. @default 100 */
  maxBatches: z.number().int().min(1).max(1000).default(100),
});

export const snapshotParams = z.strictObject({
  task: z.literal('snapshot'),
});

export const pruneHistoryParams = z.strictObject({
  task: z.literal('prune-history'),
  /** Keep this many days. @default config.retentionDays (90) */
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
