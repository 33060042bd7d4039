import type { ActionDefinition } from './action.js';
import { action as usersLock } from '../actions/users-lock.js';
import { action as usersSuspend } from '../actions/users-suspend.js';
import { action as usersReinstate } from '../actions/users-reinstate.js';
import { action as usersDelete } from '../actions/users-delete.js';
import { action as usersLookup } from '../actions/users-lookup.js';
import { action as apiKeysRevoke } from '../actions/api-keys-revoke.js';
import { action as tokensCreate } from '../actions/tokens-create.js';
import { action as tokensRevoke } from '../actions/tokens-revoke.js';
import { action as auditQuery } from '../actions/audit-query.js';
import { action as queuesRetry } from '../actions/queues-retry.js';
import { action as queuesClean } from '../actions/queues-clean.js';
import { pause as queuesPause, resume as queuesResume } from '../actions/queues-pause.js';
import { action as cacheDelete } from '../actions/cache-delete.js';
import { action as cacheFlush } from '../actions/cache-flush.js';
import { action as dbTerminate } from '../actions/db-terminate.js';
import { action as dbMaintenance } from '../actions/db-maintenance.js';
import { setAction as flagsSet, getAction as flagsGet } from '../actions/flags.js';
import { action as maintenanceSet } from '../actions/maintenance-mode.js';
import { action as checklistsRun } from '../actions/checklists-run.js';

/**
 * Every admin action, in one table: its route, its role, its schema. Adding an action is one file in
 * lib/actions/ and one line here. The auth tests walk this table, and the OpenAPI document is built
 * from it.
 */
export const ACTIONS: ActionDefinition<any>[] = [
  usersLock,
  usersSuspend,
  usersReinstate,
  usersDelete,
  usersLookup,
  apiKeysRevoke,
  tokensCreate,
  tokensRevoke,
  auditQuery,
  queuesRetry,
  queuesClean,
  queuesPause,
  queuesResume,
  cacheDelete,
  cacheFlush,
  dbTerminate,
  dbMaintenance,
  flagsSet,
  flagsGet,
  maintenanceSet,
  checklistsRun,
];

export function actionById(id: string): ActionDefinition<any> {
  const def = ACTIONS.find((a) => a.id === id);
  // Thrown at import time of the route file: a route that is not in the table cannot deploy.
  if (!def) throw new Error(`No admin action "${id}" in lib/admin/registry.ts`);
  return def;
}
