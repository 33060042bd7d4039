import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { ActionDefinition } from '../admin/action.js';
import { ACTIONS } from '../admin/registry.js';
import { actionInputSchema, toSchema } from '../openapi.js';
import { didYouMean, parseCommandArgs, type FlagSpecs, type FlagValues } from './args.js';

export const ADMIN_HELP = `Usage:
  opsbook admin                      list the admin actions
  opsbook admin <action> [--key value …] [--yes] [--dry-run] [--json] [--url <base>]
      Call an admin action over HTTP, e.g. opsbook admin users.lock --userId 42 --locked true
      Actions that change something are sent as a dry run first; what would change is shown and
      confirmed on the terminal (--yes skips the question; without a terminal, --yes is required).
      --dry-run  only the dry run     --json  print the raw answers     --body '<json>'  the parameters as JSON
Environment: OPSBOOK_TOKEN (or OPSBOOK_ADMIN_TOKEN), OPSBOOK_URL (default http://localhost:3000).`;

/** Flags the CLI itself takes; every other flag must be a parameter of the action. */
const OWN_FLAGS: FlagSpecs = {
  yes: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  url: { type: 'string' },
  body: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};
/** One HTTP call's bound: an admin action runs within the server's own limits, well under this. */
const REQUEST_TIMEOUT_MS = 60_000;

export interface AdminIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Where the confirmation is read from. @default process.stdin */
  input?: NodeJS.ReadableStream;
  /** Whether a person can answer the question. @default process.stdin.isTTY */
  interactive?: boolean;
  /** Writes the question without a newline. @default process.stderr.write */
  prompt?: (text: string) => void;
  env?: Record<string, string | undefined>;
}

interface ApiAnswer {
  status: number;
  body: Record<string, any> | undefined;
  text: string;
}

function camel(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function typesOf(schema: Record<string, any> | undefined): Set<string> {
  return new Set<string>([schema?.type, ...((schema?.anyOf ?? schema?.oneOf ?? []) as Array<{ type?: string }>).map((s) => s.type)].filter(Boolean) as string[]);
}

export function findAction(words: string[]): ActionDefinition<any> | undefined {
  const candidates = [words.join('.'), words[0] ?? '', (words[0] ?? '').replace(/[-/ ]/g, '.')];
  for (const c of candidates) {
    const def = ACTIONS.find((a) => a.id === c || a.path === c || a.path === `/api/admin/${c.replace(/\./g, '/')}`);
    if (def) return def;
  }
  return undefined;
}

/** A flag's text as the JSON value its schema wants: numbers, booleans, arrays (comma-separated or JSON) and objects (JSON). */
function coerce(value: string | true, schema: Record<string, any> | undefined): unknown {
  if (value === true) return true;
  const types = typesOf(schema);
  if (types.has('boolean') && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  if ((types.has('integer') || types.has('number')) && value.trim() !== '' && Number.isFinite(Number(value)) && !types.has('string')) return Number(value);
  if (types.has('array')) {
    if (value.trim().startsWith('[')) return tryJson(value);
    const itemType = schema?.items?.type;
    return value.split(',').map((v) => v.trim()).filter(Boolean).map((v) => (itemType === 'integer' || itemType === 'number') && Number.isFinite(Number(v)) ? Number(v) : v);
  }
  if (types.has('object') && value.trim().startsWith('{')) return tryJson(value);
  return value;
}

function tryJson(value: string): unknown {
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

export type AdminArgs = { ok: true; params: Record<string, unknown>; flags: FlagValues } | { ok: false; message: string };

/**
 * The action's parameters from `--key value` flags (camelCase or kebab-case) and an optional --body,
 * parsed strictly: the flags are the CLI's own and the action's schema properties, nothing else. A
 * boolean parameter may be written `--locked`, `--locked true` or `--locked=false`.
 */
export function parseAdminArgs(def: ActionDefinition<any>, argv: string[]): AdminArgs {
  const props = (toSchema(def.schema).properties ?? {}) as Record<string, Record<string, any>>;
  const flags: FlagSpecs = { ...OWN_FLAGS };
  const booleans = new Set<string>();
  for (const [key, schema] of Object.entries(props)) {
    const isBoolean = typesOf(schema).has('boolean') && !typesOf(schema).has('string');
    for (const name of new Set([key, kebab(key)])) {
      if (name in OWN_FLAGS) continue;
      flags[name] = { type: 'string' };
      if (isBoolean) booleans.add(name);
    }
  }
  // parseArgs has no optional values, so a bare boolean parameter gets its value spelled out first.
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name && booleans.has(name)) {
      const next = argv[i + 1];
      if (next !== undefined && /^(true|false)$/i.test(next)) {
        args.push(`${a}=${next}`);
        i++;
      } else args.push(`${a}=true`);
    } else args.push(a);
  }
  const parsed = parseCommandArgs(args, { command: `opsbook admin ${def.id}`, flags });
  if (!parsed.ok) return parsed;
  const body = typeof parsed.values.body === 'string' ? tryJson(parsed.values.body) : {};
  const params: Record<string, unknown> = body && typeof body === 'object' && !Array.isArray(body) ? { ...(body as object) } : {};
  for (const [flag, value] of Object.entries(parsed.values)) {
    if (flag in OWN_FLAGS || value === undefined || value === false) continue;
    const key = flag in props ? flag : camel(flag);
    params[key] = coerce(value, props[key]);
  }
  return { ok: true, params, flags: parsed.values };
}

function describeAction(def: ActionDefinition<any>): string {
  return `  ${def.id.padEnd(22)} ${def.method.padEnd(4)} ${def.path.padEnd(34)} ${def.role.padEnd(8)} ${def.summary}`;
}

function usageOf(def: ActionDefinition<any>): string {
  const schema = toSchema(actionInputSchema(def));
  const required = new Set((schema.required ?? []) as string[]);
  const props = Object.entries((schema.properties ?? {}) as Record<string, Record<string, any>>).filter(([k]) => k !== 'dryRun' && k !== 'confirm');
  const flags = props.map(([k, s]) => {
    const t = s.enum ? (s.enum as unknown[]).join('|') : s.type ?? (s.anyOf ? 'value' : 'json');
    return required.has(k) ? `--${k} <${t}>` : `[--${k} <${t}>]`;
  });
  return `opsbook admin ${def.id} ${flags.join(' ')}`.trimEnd();
}

async function call(base: string, token: string, def: ActionDefinition<any>, params: Record<string, unknown>, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const url = new URL(def.path, base);
  const init: RequestInit = {
    method: def.method,
    headers: { authorization: `Bearer ${token}`, 'user-agent': 'opsbook-cli', accept: 'application/json', ...headers },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  };
  if (def.method === 'GET') {
    for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  } else {
    init.body = JSON.stringify(params);
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let body: Record<string, any> | undefined;
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object') body = parsed;
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text };
}

function short(value: unknown, max = 300): string {
  const s = JSON.stringify(value);
  return s === undefined ? String(value) : s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Print an error answer; returns the exit code. */
function reportError(answer: ApiAnswer, err: (line: string) => void): number {
  const e = answer.body?.error as { code?: string; message?: string; details?: unknown } | undefined;
  if (e) {
    err(`Error ${answer.status} ${e.code}: ${e.message}${answer.body?.requestId ? ` (request ${answer.body.requestId})` : ''}`);
    if (answer.status === 401) err('Check OPSBOOK_TOKEN (or OPSBOOK_ADMIN_TOKEN): it is missing, wrong or revoked.');
    if (answer.status === 403) err('The token\'s role is too weak for this action.');
    if (answer.status === 429) err('Rate limited: wait a little and retry.');
  } else {
    err(`Error ${answer.status}: ${answer.text.slice(0, 300)}`);
  }
  return 1;
}

function printResult(body: Record<string, any>, out: (line: string) => void, heading: string): void {
  out(`${heading}${body.summary}`);
  if (typeof body.count === 'number') out(`  count: ${body.count}`);
  const sample = Array.isArray(body.sample) ? body.sample : [];
  if (sample.length) {
    out(`  sample (${Math.min(sample.length, 5)} of ${body.count ?? sample.length}):`);
    for (const s of sample.slice(0, 5)) out(`    ${short(s)}`);
  }
  if (Array.isArray(body.results) && body.results.length) {
    out('  results:');
    for (const r of body.results.slice(0, 20)) out(`    ${short(r)}`);
  }
  const data = body.data as Record<string, any> | undefined;
  if (data && typeof data === 'object' && Array.isArray(data.rows)) {
    for (const r of data.rows as Array<Record<string, unknown>>) {
      out(`  ${[r.at, r.actor, r.action, r.target ?? '-', r.result].map(String).join('  ')}${r.params && Object.keys(r.params as object).length ? `  ${short(r.params, 200)}` : ''}`);
    }
  } else if (data && typeof data === 'object' && typeof data.token === 'string') {
    out('');
    out(`  ${data.token}`);
    out('');
    out('Store this token now: it is shown once and cannot be recovered.');
  } else if (data !== undefined) {
    out(`  data: ${short(data, 2000)}`);
  }
  if (body.auditId !== undefined) out(`  audit: #${body.auditId}`);
}

/** Read one answer line; undefined when the input ends first. */
async function readLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
  try {
    for await (const line of rl) return line;
    return undefined;
  } finally {
    rl.close();
  }
}

/** `opsbook admin <action> …`: dry run, confirm, run. Returns the exit code. */
export async function adminCommand(argv: string[], io: AdminIo): Promise<number> {
  const { out, err } = io;
  const env = io.env ?? process.env;
  const list = () => {
    out(ADMIN_HELP);
    out('');
    out('Actions:');
    for (const def of ACTIONS) out(describeAction(def));
  };
  if (argv.length === 0 || (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h'))) {
    list();
    return 0;
  }
  // The action's name is the leading words (`users.lock`, or `users lock`); flags follow it.
  const firstFlag = argv.findIndex((a) => a.startsWith('-'));
  const words = firstFlag === -1 ? argv : argv.slice(0, firstFlag);
  if (words.length === 0) {
    err(`Name the action first: opsbook admin <action> [--key value …]. Run \`opsbook admin\` for the list.`);
    return 2;
  }
  const def = findAction(words);
  if (!def) {
    const hint = didYouMean(words.join('.'), ACTIONS.map((a) => a.id));
    err(`Unknown admin action "${words.join(' ')}".${hint ? ` Did you mean "${hint}"?` : ''} Run \`opsbook admin\` for the list.`);
    return 2;
  }
  // Everything is parsed before the token is read or a request is made: a typo sends nothing.
  const parsed = parseAdminArgs(def, argv.slice(words.length));
  if (!parsed.ok) {
    err(`${parsed.message}\n  ${usageOf(def)}`);
    return 2;
  }
  if (parsed.flags.help) {
    out(`Usage:\n  ${usageOf(def)}${def.mutates ? ' [--dry-run] [--yes]' : ''} [--json] [--url <base>]\n  ${def.summary}`);
    return 0;
  }
  const { params, flags } = parsed;
  const token = env.OPSBOOK_TOKEN || env.OPSBOOK_ADMIN_TOKEN;
  if (!token) {
    err('No token: set OPSBOOK_TOKEN (a stored token, see `opsbook token create`) or OPSBOOK_ADMIN_TOKEN.');
    return 2;
  }
  const base = (typeof flags.url === 'string' ? flags.url : undefined) ?? env.OPSBOOK_URL ?? 'http://localhost:3000';
  let baseUrl: URL;
  try {
    baseUrl = new URL(base);
    if (!/^https?:$/.test(baseUrl.protocol)) throw new Error('not http');
  } catch {
    err(`Not an http(s) URL: ${base}`);
    return 2;
  }
  if (baseUrl.protocol === 'http:' && !['localhost', '127.0.0.1', '[::1]'].includes(baseUrl.hostname)) {
    err(`Warning: sending the token over plain http to ${baseUrl.host}. Use https.`);
  }
  const json = flags.json === true;

  try {
    if (!def.mutates) {
      const answer = await call(base, token, def, params);
      if (json) out(answer.text);
      if (answer.status !== 200 || !answer.body) return json ? 1 : reportError(answer, err);
      if (!json) printResult(answer.body, out, '');
      return answer.body.status === 'not-found' ? 1 : 0;
    }

    const dry = await call(base, token, def, { ...params, dryRun: true });
    if (json) out(dry.text);
    if (dry.status !== 200 || !dry.body) return json ? 1 : reportError(dry, err);
    if (!json) printResult(dry.body, out, 'Dry run: ');
    if (flags['dry-run'] === true) return 0;
    if (dry.body.status === 'not-found') {
      err('Nothing to do: not found. Nothing was changed.');
      return 1;
    }
    if (dry.body.status === 'noop') {
      out('Nothing would change, so it was not run.');
      return 0;
    }

    if (flags.yes !== true) {
      const interactive = io.interactive ?? Boolean(process.stdin.isTTY);
      if (!interactive) {
        err(`Refusing to run ${def.id} without confirmation: no terminal to ask on. Re-run with --yes to confirm. Nothing was changed.`);
        return 1;
      }
      (io.prompt ?? ((t: string) => void process.stderr.write(t)))(`Run ${def.id} for real${typeof dry.body.count === 'number' ? ` (${dry.body.count} affected)` : ''}? [y/N] `);
      const answer = await readLine(io.input ?? process.stdin);
      if (!answer || !/^\s*y(es)?\s*$/i.test(answer)) {
        err('Cancelled. Nothing was changed.');
        return 1;
      }
    }

    const confirm = typeof dry.body.confirmToken === 'string' ? { confirm: dry.body.confirmToken } : {};
    const run = await call(base, token, def, { ...params, ...confirm }, { 'idempotency-key': `cli-${randomUUID()}` });
    if (json) out(run.text);
    if (run.status !== 200 || !run.body) return json ? 1 : reportError(run, err);
    if (!json) printResult(run.body, out, '');
    return run.body.status === 'ok' || run.body.status === 'noop' ? 0 : 1;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    const why = (e as Error).name === 'TimeoutError' ? 'timed out' : cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (e as Error).message;
    err(`Could not reach ${base}: ${why}. Is Opsbook running there (npm start), and is OPSBOOK_URL right?`);
    return 1;
  }
}
