import type { TaskDefinition } from './types.js';

/**
 * Every task, by name. Adding a task is one file and one line here. Kept as a plain list so the config
 * schema can build the checklist item union from it.
 */
export const TASKS: TaskDefinition<any>[] = [];

export function taskByName(name: string): TaskDefinition<any> | undefined {
  return TASKS.find((t) => t.name === name);
}
