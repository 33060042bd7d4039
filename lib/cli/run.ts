import type { OpsbookConfig } from '../config/index.js';
import { createDeps } from '../deps.js';
import { getEnv } from '../env.js';
import { runChecklist } from '../checklists/run.js';
import { flagString, type FlagValues } from './args.js';

/**
 * `opsbook run <checklist>`: the same items the cron runs, from a terminal or CI (the model is
 * `checkly test`). A manual run is its own run: it never takes the scheduled period's slot.
 */
export async function runCommand(id: string | undefined, flags: FlagValues, config: OpsbookConfig, out: (l: string) => void): Promise<number> {
  if (!id) {
    out(`Which checklist? One of: ${config.checklists.map((c) => c.id).join(', ') || '(none configured)'}`);
    return 2;
  }
  const atFlag = flagString(flags, 'at');
  const now = atFlag ? new Date(atFlag) : new Date();
  if (Number.isNaN(now.getTime())) {
    out(`--at must be an ISO date, e.g. 2026-12-07T09:00:00Z (got "${atFlag}")`);
    return 2;
  }
  const deps = await createDeps(getEnv());
  try {
    const result = await runChecklist(deps, config, id, now, {
      mode: 'manual',
      dryRun: flags['dry-run'] === true,
      send: flags.send === true,
      progress: out,
    });
    if (result.status !== 'completed') {
      out(JSON.stringify(result));
      return 1;
    }
    out('');
    out(result.text);
    const r = result.report;
    out(
      r.delivery === 'dry-run'
        ? 'Dry run: nothing was stored or sent.'
        : `Run #${result.runId} stored. Report: ${r.delivery}${r.location ? ` (${r.location})` : ''}${r.error ? ` — ${r.error}` : ''}${r.delivery === 'not-needed' ? ' (use --send to email it)' : ''}`,
    );
    return result.counts.fail + result.counts.error > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled([deps.db.close(), deps.redis.close(), deps.errors.flush()]);
  }
}
