import type * as z from 'zod';
import { runMaintenance } from './maintenance.js';
import type { TaskDefinition } from './types.js';
import { vacuumAnalyzeParams } from './params.js';

/**
 * `VACUUM (ANALYZE)`: reclaim dead rows and refresh statistics (runbook 002 daily vacuum, 001 weekly
 * VACUUM ANALYZE). VACUUM refuses to run inside a transaction block, so each table is its own statement
 * through `db.exec`, with the task's remaining time as statement timeout; the whole database (every
 * table the role owns, the most dead rows first) when `tables` is omitted.
 */
export { vacuumAnalyzeParams };

export type VacuumAnalyzeParams = z.output<typeof vacuumAnalyzeParams>;

export const vacuumAnalyzeTask: TaskDefinition<VacuumAnalyzeParams> = {
  name: 'vacuum-analyze',
  schema: vacuumAnalyzeParams,
  title: (p) => (p.tables?.length ? `VACUUM ANALYZE ${p.tables.join(', ')}` : 'VACUUM ANALYZE (whole database)'),
  run: (ctx, params) => runMaintenance(ctx, params.tables, { statement: 'VACUUM (ANALYZE)', done: 'vacuumed and analyzed', orderBy: 'dead' }),
};
