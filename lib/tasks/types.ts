import type { z } from 'zod';
import type { CheckOutcome } from '../checks/types.js';
import type { OpsbookConfig } from '../config/schema.js';
import type { Deps } from '../deps.js';

/** What a task's run may use. `dryRun` tasks report what they would do and change nothing. */
export interface TaskContext {
  deps: Deps;
  config: OpsbookConfig;
  dryRun: boolean;
  /** Per-task time limit, ms. */
  timeoutMs: number;
  /** Progress lines for long work (the CLI prints them). */
  progress?: (line: string) => void;
}

/**
 * A maintenance task a checklist runs: ANALYZE, VACUUM ANALYZE, a retention delete, a snapshot…
 * One file per task exporting its params schema (with `task: z.literal(name)`) and `run`.
 * Outcomes are the same data as checks' (ok / warn / fail / error, a summary, bounded details).
 */
export interface TaskDefinition<P extends { task: string } = { task: string }> {
  name: P['task'];
  schema: z.ZodType<P, any>;
  title(params: P): string;
  run(ctx: TaskContext, params: P, now: Date): Promise<CheckOutcome>;
}
