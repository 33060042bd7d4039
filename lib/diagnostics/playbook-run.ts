import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { OpsbookError } from '../errors.js';
import { allChecks } from '../checks/registry.js';
import { worst } from '../checks/outcome.js';
import type { CheckResult, CheckStatus, Hint } from '../checks/types.js';
import { PLAYBOOKS } from './playbooks.js';
import { runDiagnostics, selects, type DiagnosticsOptions } from './run.js';

export interface PlaybookStepResult {
  step: number;
  title: string;
  status: CheckStatus;
  checks: CheckResult[];
  /** Set when none of the step's checks exists in this config. */
  note?: string;
}

export interface PlaybookReport {
  playbook: string;
  title: string;
  status: CheckStatus;
  startedAt: string;
  durationMs: number;
  steps: PlaybookStepResult[];
  suggestedActions: Hint[];
}

/**
 * Run an incident procedure: every check its steps name, in one diagnostics run (so still two Postgres
 * round trips), then the results regrouped in the runbook's order.
 */
export async function runPlaybook(deps: Deps, config: OpsbookConfig, name: string, opts: DiagnosticsOptions, now: Date): Promise<PlaybookReport> {
  const playbook = PLAYBOOKS[name];
  if (!playbook) {
    throw new OpsbookError('BAD_REQUEST', `Unknown playbook "${name.slice(0, 64)}".`, { details: { known: Object.keys(PLAYBOOKS) } });
  }
  const available = allChecks(config);
  const wanted = playbook.steps.flatMap((s) => s.checks).filter((sel) => available.some((c) => selects(sel, c)));
  const report = await runDiagnostics(deps, config, { ...opts, only: [...new Set(wanted)] }, now);
  const steps = playbook.steps.map((s, i): PlaybookStepResult => {
    const checks = report.checks.filter((c) => s.checks.some((sel) => selects(sel, c)));
    return {
      step: i + 1,
      title: s.title,
      status: checks.length ? worst(checks.map((c) => c.status)) : 'skipped',
      checks,
      ...(checks.length ? {} : { note: `not configured: ${s.checks.join(', ')}` }),
    };
  });
  return {
    playbook: playbook.name,
    title: playbook.title,
    status: report.status,
    startedAt: report.startedAt,
    durationMs: report.durationMs,
    steps,
    suggestedActions: playbook.suggestedActions,
  };
}
