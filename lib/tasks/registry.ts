import type { TaskDefinition } from './types.js';
import { analyzeTask } from './analyze.js';
import { vacuumAnalyzeTask } from './vacuum-analyze.js';
import { retentionDeleteTask } from './retention-delete.js';
import { snapshotTask } from './snapshot.js';
import { pruneHistoryTask } from './prune-history.js';

/**
 * Every task, by name. Adding a task is one file and one line here. Kept as a plain list so the config
 * schema can build the checklist item union from it.
 */
export const TASKS: TaskDefinition<any>[] = [
  analyzeTask,
  vacuumAnalyzeTask,
  retentionDeleteTask,
  snapshotTask,
  pruneHistoryTask,
];

export function taskByName(name: string): TaskDefinition<any> | undefined {
  return TASKS.find((t) => t.name === name);
}
