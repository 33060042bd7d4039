import type * as z from 'zod';
import { allChecks } from '../checks/registry.js';
import { errored, ok, skipped, warn } from '../checks/outcome.js';
import { ensureSchema } from '../db/schema.js';
import { runDiagnostics, selects } from '../diagnostics/run.js';
import { errorText } from './identifiers.js';
import type { TaskDefinition } from './types.js';
import { snapshotParams } from './params.js';

/**
 * Capture sizes, query statistics and queue counts for trends and diffs: the diagnostics checks that
 * record them, run with `snapshot: true`, which stores one opsbook.snapshots row per kind at `now`.
 * Only the checks this config defines are asked for (a config without queues must not be a 400).
 */
export { snapshotParams };

export type SnapshotParams = z.output<typeof snapshotParams>;

/** The checks whose results feed the snapshot kinds (database_size, table_sizes, pg_stat_statements, queue_counts). */
export const SNAPSHOT_CHECKS = ['postgres.database-size', 'postgres.largest-tables', 'postgres.slow-queries', 'queues.backlog'] as const;

export const snapshotTask: TaskDefinition<SnapshotParams> = {
  name: 'snapshot',
  schema: snapshotParams,
  title: () => 'Snapshot sizes, query stats and queue counts',
  async run(ctx, _params, now) {
    const available = allChecks(ctx.config);
    const only = SNAPSHOT_CHECKS.filter((id) => available.some((c) => selects(id, c)));
    if (only.length === 0) {
      return skipped('no snapshot check is enabled in this config', 'Enable checks.postgres (sizes, query stats) or checks.queues (queue counts).');
    }
    if (ctx.dryRun) {
      return ok(`dry run: would run ${only.join(', ')} and store what they measure in opsbook.snapshots`, { value: only.length, unit: 'checks', details: only.map((check) => ({ check })) });
    }

    const { db } = ctx.deps;
    await ensureSchema(db);
    const budgetMs = Math.max(1000, ctx.timeoutMs - 1000);
    const report = await runDiagnostics(
      ctx.deps,
      ctx.config,
      { only: [...only], snapshot: true, budgetMs, checkTimeoutMs: Math.min(ctx.config.diagnostics.checkTimeoutMs, budgetMs) },
      now,
    );
    for (const c of report.checks) ctx.progress?.(`snapshot ${c.id}: ${c.status} — ${c.summary}`);
    const details = report.checks.map((c) => ({ check: c.id, status: c.status, summary: c.summary }));
    if (report.snapshotStored === false) return errored('the snapshot could not be stored (see the log)', { details });

    let kinds: string[];
    try {
      const { rows } = await db.query<{ kind: string }>('SELECT DISTINCT kind FROM opsbook.snapshots WHERE taken_at = $1 ORDER BY kind', [now.toISOString()]);
      kinds = rows.map((r) => r.kind);
    } catch (err) {
      return errored(`stored, but could not be read back: ${errorText(err)}`, { details });
    }
    const failed = report.checks.filter((c) => c.status === 'error');
    if (kinds.length === 0) return warn('nothing was stored: every snapshot check was skipped or failed', { value: 0, unit: 'kinds', details });
    const head = `stored ${kinds.length} snapshot kind(s): ${kinds.join(', ')}`;
    if (failed.length) return warn(`${head}; ${failed.map((c) => c.id).join(', ')} failed`, { value: kinds.length, unit: 'kinds', details });
    return ok(head, { value: kinds.length, unit: 'kinds', details });
  },
};
