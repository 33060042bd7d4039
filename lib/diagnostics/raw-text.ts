import { auditRow } from '../admin/audit.js';
import { roleAllows, type Principal } from '../auth.js';
import type { OpsbookConfig } from '../config/index.js';
import type { Deps } from '../deps.js';
import { ensureSchema } from '../db/schema.js';
import { OpsbookError } from '../errors.js';
import { clientIp } from '../http.js';
import type { DiagnosticsQuery } from './query.js';

/** The audit action written when an admin reads other sessions' SQL text unnormalised. */
export const RAW_QUERY_TEXT_ACTION = 'diagnostics.query-text-raw';

/**
 * `?queryText=raw` shows other sessions' SQL as the server has it, literals and passwords included:
 * only an admin may ask, and the request is in the audit log before anything is read. If the audit row
 * cannot be written the request fails, rather than showing raw text that nobody can trace.
 */
export async function authorizeRawQueryText(
  deps: Deps,
  config: OpsbookConfig,
  actor: Principal,
  request: Request,
  requestId: string,
  query: DiagnosticsQuery,
  now: Date,
): Promise<void> {
  if (!roleAllows(actor.role, 'admin')) {
    throw new OpsbookError('FORBIDDEN', 'queryText=raw shows other sessions\' SQL with its literals: it needs the admin role (without it, query text is normalised).');
  }
  await ensureSchema(deps.db);
  const ctx = { deps, config, actor, requestId, ip: clientIp(request), userAgent: request.headers.get('user-agent') ?? '', now };
  const params = { only: query.only ?? [], playbook: query.playbook ?? null, format: query.format };
  await deps.db.batch([auditRow(ctx, { action: RAW_QUERY_TEXT_ACTION, target: query.playbook ? `playbook:${query.playbook}` : null, params, result: 'ok' })], { readOnly: false });
}
