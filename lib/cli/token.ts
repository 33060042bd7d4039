import { randomUUID } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { ActionContext, ActionDefinition } from '../admin/action.js';
import { action as createAction } from '../actions/tokens-create.js';
import { action as revokeAction } from '../actions/tokens-revoke.js';
import { ensureSchema } from '../db/schema.js';
import { parseConfig } from '../config/index.js';
import { createDeps, type Deps } from '../deps.js';
import { getEnv } from '../env.js';
import { OpsbookError } from '../errors.js';
import { didYouMean, flagString, HELP_FLAG, parseCommandArgs, type FlagSpecs } from './args.js';

export const TOKEN_HELP = `Usage:
  opsbook token create --name <name> --role <heartbeat|read|operate|admin>
      Create a stored token and print it once. Only its SHA-256 and prefix are kept.
  opsbook token revoke --name <name> | --id <id>
      Revoke a token: it is refused from the next request on.
  opsbook token list [--json]
      Every token: id, name, role, prefix (never the token), created, last used, revoked.
Talks to the database of DATABASE_URL directly (no server needed); each change is audited as cli:<user>.`;

/** Who the CLI acts as in the audit log: the local user, who holds the database credentials. */
function cliActor(): string {
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    user = process.env.USER;
  }
  return `cli:${(user || 'unknown').slice(0, 64)}`;
}

function cliContext(deps: Deps): ActionContext {
  return {
    deps,
    config: parseConfig({}),
    actor: { name: cliActor(), role: 'admin', via: 'bootstrap' },
    requestId: `cli-${randomUUID()}`,
    ip: 'local',
    userAgent: `opsbook-cli (${hostname()})`,
    now: new Date(),
  };
}

/** Validate flags with the action's own schema, so the CLI and the HTTP route accept the same input. */
function paramsFor<D extends ActionDefinition<any>>(def: D, input: Record<string, unknown>): Record<string, unknown> {
  const parsed = def.schema.strict().safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i: { path: PropertyKey[]; message: string }) => `--${i.path.join('.') || 'arguments'}: ${i.message}`);
    throw new OpsbookError('BAD_REQUEST', `Invalid arguments: ${problems.join('; ')}\n\n${TOKEN_HELP}`);
  }
  return parsed.data as Record<string, unknown>;
}

/** The flags of each token subcommand. */
const SUBCOMMANDS: Record<string, FlagSpecs> = {
  create: { name: { type: 'string' }, role: { type: 'string' }, ...HELP_FLAG },
  revoke: { name: { type: 'string' }, id: { type: 'string' }, ...HELP_FLAG },
  list: { json: { type: 'boolean' }, ...HELP_FLAG },
};

/** `opsbook token create|revoke|list`. Returns the exit code. */
export async function tokenCommand(argv: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') {
    out(TOKEN_HELP);
    return 0;
  }
  const flags = sub === undefined ? undefined : SUBCOMMANDS[sub];
  if (!flags) {
    const hint = sub === undefined || sub.startsWith('-') ? undefined : didYouMean(sub, Object.keys(SUBCOMMANDS));
    err(sub ? `Unknown token command "${sub}".${hint ? ` Did you mean "${hint}"?` : ''}\n\n${TOKEN_HELP}` : TOKEN_HELP);
    return 2;
  }
  // Parsed before the database is opened: a refused flag creates, revokes and lists nothing.
  const parsed = parseCommandArgs(rest, { command: `opsbook token ${sub}`, flags });
  if (!parsed.ok) {
    err(`${parsed.message}\n\n${TOKEN_HELP}`);
    return 2;
  }
  if (parsed.values.help) {
    out(TOKEN_HELP);
    return 0;
  }
  const values = parsed.values;
  const deps = await createDeps(getEnv());
  try {
    await ensureSchema(deps.db);
    if (sub === 'create') {
      const params = paramsFor(createAction, { name: flagString(values, 'name'), role: flagString(values, 'role') });
      const result = await createAction.run(cliContext(deps), params as never, { dryRun: false });
      const data = result.data as { token: string; id: number; name: string; role: string; prefix: string };
      out(`Created ${data.role} token "${data.name}" (id ${data.id}, prefix ${data.prefix}…).`);
      out('');
      out(`  ${data.token}`);
      out('');
      out('Store it now (a secret manager, or the caller\'s environment as OPSBOOK_TOKEN): it is shown once and cannot be recovered.');
      return 0;
    }
    if (sub === 'revoke') {
      const id = flagString(values, 'id');
      const params = paramsFor(revokeAction, { name: flagString(values, 'name'), id: id === undefined ? undefined : /^\d+$/.test(id) ? Number(id) : id });
      const result = await revokeAction.run(cliContext(deps), params as never, { dryRun: false });
      out(result.summary);
      return 0;
    }
    const { rows } = await deps.db.query<{ id: string; name: string; role: string; prefix: string; created_at: string | Date; created_by: string | null; last_used_at: string | Date | null; revoked_at: string | Date | null }>(
      `SELECT id, name, role, prefix, created_at, created_by, last_used_at, revoked_at FROM opsbook.tokens ORDER BY revoked_at IS NOT NULL, name, id`,
    );
    const iso = (d: string | Date | null) => (d === null ? null : new Date(d).toISOString());
    const list = rows.map((r) => ({ id: Number(r.id), name: r.name, role: r.role, prefix: r.prefix, createdAt: iso(r.created_at), createdBy: r.created_by, lastUsedAt: iso(r.last_used_at), revokedAt: iso(r.revoked_at) }));
    if (values.json === true) {
      out(JSON.stringify(list, null, 2));
      return 0;
    }
    if (list.length === 0) {
      out('No stored tokens. Create one with: opsbook token create --name <name> --role <role>');
      return 0;
    }
    const table = [
      ['ID', 'NAME', 'ROLE', 'PREFIX', 'CREATED', 'LAST USED', 'STATUS'],
      ...list.map((t) => [String(t.id), t.name, t.role, `${t.prefix}…`, t.createdAt!.slice(0, 16).replace('T', ' '), t.lastUsedAt?.slice(0, 16).replace('T', ' ') ?? 'never', t.revokedAt ? `revoked ${t.revokedAt.slice(0, 10)}` : 'active']),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) out(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    return 0;
  } finally {
    await Promise.allSettled([deps.db.close(), deps.redis.close()]);
  }
}
