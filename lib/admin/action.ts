import type { z } from 'zod';
import type { Principal, Role } from '../auth.js';
import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';

/** Everything an action may use, and who asked. */
export interface ActionContext {
  deps: Deps;
  config: OpsbookConfig;
  actor: Principal;
  /** Opsbook's own request id (never the client's). */
  requestId: string;
  /** The client's `x-request-id`, when short and safe: kept next to Opsbook's id in audit rows. */
  clientRequestId?: string;
  ip: string;
  userAgent: string;
  now: Date;
  /** The request carried its dry run's confirm token, verified and spent: the audit row says so. */
  confirmed?: boolean;
}

/** What an action answers: what changed (or, in a dry run, what would), with a sample and a count. */
export interface ActionResult {
  /** `noop` when nothing needed to change (idempotent repeat), `partial` when some targets failed. */
  status: 'ok' | 'noop' | 'partial' | 'not-found';
  summary: string;
  dryRun: boolean;
  /** Rows, keys, pids or jobs affected (or that would be). */
  count?: number;
  sample?: unknown[];
  /** Per-target results for one-by-one actions (terminate). */
  results?: unknown[];
  /** Anything else the caller needs (a lookup's rows, a created token once). */
  data?: unknown;
  auditId?: number;
}

/**
 * One admin action: its route, the role it needs, its body schema, and `run`. One file per action in
 * lib/actions/, one line in the registry; the route table, the OpenAPI document and the auth tests all
 * come from these definitions, so a route cannot exist without its role.
 */
export interface ActionDefinition<S extends z.ZodObject = z.ZodObject> {
  id: string;
  method: 'GET' | 'POST';
  path: string;
  role: Role;
  summary: string;
  /** Body (POST) or query (GET) schema, strict. `dryRun` and `confirm` are added by the pipeline. */
  schema: S;
  /** Bulk or destructive: needs a confirm token from its dry run. May depend on the parameters. */
  confirm: boolean | ((params: z.output<S>) => boolean);
  /** Read-only routes (lookups) skip idempotency and dry runs. */
  mutates: boolean;
  /**
   * The answer holds a secret shown once (a created token): an idempotent replay returns the answer
   * without it, so the secret is never stored in the idempotency table.
   */
  secretResponse?: boolean;
  run(ctx: ActionContext, params: z.output<S>, mode: { dryRun: boolean }): Promise<ActionResult>;
}
