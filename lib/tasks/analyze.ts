import type * as z from 'zod';
import { runMaintenance } from './maintenance.js';
import type { TaskDefinition } from './types.js';
import { analyzeParams } from './params.js';

/**
 * `ANALYZE`: refresh the planner's statistics (runbook 001, weekly). The named tables, or every table
 * the role owns when `tables` is omitted, one statement per table with a progress line each.
 */
export { analyzeParams };

export type AnalyzeParams = z.output<typeof analyzeParams>;

export const analyzeTask: TaskDefinition<AnalyzeParams> = {
  name: 'analyze',
  schema: analyzeParams,
  title: (p) => (p.tables?.length ? `ANALYZE ${p.tables.join(', ')}` : 'ANALYZE (whole database)'),
  run: (ctx, params) => runMaintenance(ctx, params.tables, { statement: 'ANALYZE', done: 'analyzed', orderBy: 'mods' }),
};
