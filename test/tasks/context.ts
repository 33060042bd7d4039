import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import type { Deps } from '../../lib/deps.js';
import type { TaskContext } from '../../lib/tasks/types.js';

/** The injected clock every task test runs at. */
export const NOW = new Date('2025-06-15T12:00:00.000Z');

export const daysBefore = (days: number, from = NOW) => new Date(from.getTime() - days * 86_400_000);

/** A TaskContext as the checklist runner builds it, with the progress lines collected. */
export function taskContext(deps: Deps, opts: { config?: OpsbookConfigInput; dryRun?: boolean; timeoutMs?: number } = {}): { ctx: TaskContext; lines: string[] } {
  const lines: string[] = [];
  const ctx: TaskContext = {
    deps,
    config: parseConfig(opts.config ?? {}),
    dryRun: opts.dryRun ?? false,
    timeoutMs: opts.timeoutMs ?? 20_000,
    progress: (line) => lines.push(line),
  };
  return { ctx, lines };
}

/** A checklist with one item, as written in opsbook.config.ts. */
export function withItem(item: Record<string, unknown>): OpsbookConfigInput {
  return { checklists: [{ id: 'maintenance', title: 'Maintenance', schedule: { type: 'daily' }, items: [item as never] }] };
}

/** Statistics reach the shared views asynchronously: poll (bounded) until they show what was arranged. */
export async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
