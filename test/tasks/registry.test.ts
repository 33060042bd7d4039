import { describe, expect, it } from 'vitest';
import { TASK_PARAMS } from '../../lib/tasks/params.js';
import { TASKS } from '../../lib/tasks/registry.js';

/** The config validates task items with lib/tasks/params.ts; the registry runs them. They must agree. */
describe('task registry and task params', () => {
  it('every task in the registry has its params schema, and nothing else has one', () => {
    expect(Object.keys(TASK_PARAMS).sort()).toEqual(TASKS.map((t) => t.name).sort());
  });

  it.each(TASKS.map((t) => [t.name, t] as const))('%s runs with the very schema the config validates it with', (name, task) => {
    expect(task.schema).toBe(TASK_PARAMS[name]);
  });
});
