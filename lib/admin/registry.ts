import type { ActionDefinition } from './action.js';
import { action as usersLock } from '../actions/users-lock.js';

/**
 * Every admin action, in one table: its route, its role, its schema. Adding an action is one file in
 * lib/actions/ and one line here. The auth tests walk this table, and the OpenAPI document is built
 * from it.
 */
export const ACTIONS: ActionDefinition<any>[] = [
  usersLock,
];

export function actionById(id: string): ActionDefinition<any> {
  const def = ACTIONS.find((a) => a.id === id);
  // Thrown at import time of the route file: a route that is not in the table cannot deploy.
  if (!def) throw new Error(`No admin action "${id}" in lib/admin/registry.ts`);
  return def;
}
