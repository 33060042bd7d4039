import { OpsbookError } from '../errors.js';
import { withTimeout } from '../timeout.js';
import { configWithNeeds as configSchema, type OpsbookConfig, type OpsbookConfigInput } from './schema.js';
import { explainedByRename, unrecognizedKeyProblems } from './unknown-keys.js';

export * from './schema.js';

export { defineConfig } from './define.js';

/** Validate a config; an invalid one fails with every problem named by its path. */
export function parseConfig(input: unknown): OpsbookConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (parsed.success) {
    const ids = new Map<string, number>();
    const c = parsed.data.checks;
    for (const item of [...c.http, ...c.tls, ...c.dns, ...c.tcp, ...c.statusPages, ...c.sqlMetrics]) ids.set(item.id, (ids.get(item.id) ?? 0) + 1);
    const problems: string[] = [];
    const dup = [...ids].filter(([, n]) => n > 1).map(([id]) => id);
    if (dup.length) problems.push(`checks: duplicate ids ${dup.join(', ')}`);
    const lists = new Map<string, number>();
    for (const c of parsed.data.checklists) lists.set(c.id, (lists.get(c.id) ?? 0) + 1);
    const dupLists = [...lists].filter(([, n]) => n > 1).map(([id]) => id);
    if (dupLists.length) problems.push(`checklists: duplicate ids ${dupLists.join(', ')}`);
    if (problems.length === 0) return parsed.data;
    throw new OpsbookError('MISCONFIGURED', `Invalid config:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  const problems = parsed.error.issues
    .filter((i) => !explainedByRename(input ?? {}, i.path))
    .flatMap((i) =>
      i.code === 'unrecognized_keys'
        ? unrecognizedKeyProblems(configSchema, input ?? {}, i.path, i.keys, i.message)
        : [`${i.path.map(String).join('.') || '(root)'}: ${i.code === 'invalid_key' && i.issues.length ? i.issues.map((k) => k.message).join('; ') : i.message}`],
    );
  throw new OpsbookError('MISCONFIGURED', `Invalid config:\n  - ${problems.join('\n  - ')}`, { details: problems });
}

/** A validated config, or every problem that keeps it from being served. */
export type ConfigState = { ok: true; config: OpsbookConfig } | { ok: false; problems: string[] };

/**
 * Everything check-config checks in the config itself (the schema, then checklist items naming checks
 * that exist), as data: every problem named by its path.
 * @example await validateConfig({ checklists: [] }) // { ok: true, config }
 */
export async function validateConfig(input: unknown): Promise<ConfigState> {
  let config: OpsbookConfig;
  try {
    config = parseConfig(input);
  } catch (err) {
    if (err instanceof OpsbookError && err.code === 'MISCONFIGURED' && Array.isArray(err.details)) return { ok: false, problems: err.details as string[] };
    throw err;
  }
  // Lazily: the reference check loads the check registry, which the health function's import avoids.
  const { referenceProblems } = await import('./references.js');
  const problems = referenceProblems(config);
  return problems.length ? { ok: false, problems } : { ok: true, config };
}

/** What cron, admin and every other config-reading route answer while the config is invalid. */
export function misconfiguredError(problems: string[]): OpsbookError {
  // The problems themselves go to the log, Sentry, check-config and health's admin view, not to any caller.
  return new OpsbookError(
    'MISCONFIGURED',
    `Opsbook's config (${servedFile()}) is invalid (${problems.length} problem${problems.length === 1 ? '' : 's'}), so Opsbook runs nothing until it is fixed. \`npx opsbook check-config${source || deployedFile === 'opsbook.config.ts' ? '' : ` --config ${deployedFile}`}\` names them, as does /api/health to an admin token.`,
  );
}

let cached: OpsbookConfig | undefined;
let source: { raw: unknown } | undefined;
let state: Promise<ConfigState> | undefined;
/** The deployed config's file, from the project root, once lib/config/deployed.ts is loaded. */
let deployedFile = 'opsbook.config.ts';

/** The file the config being served came from, for messages. */
function servedFile(): string {
  return source ? 'set in-process' : deployedFile;
}

/**
 * The deployed config's default export: lib/config/deployed.ts re-exports the file the build chose
 * (OPSBOOK_CONFIG at build time, else the project's opsbook.config.ts; bin/deployed-config.mjs), with a
 * literal import so Vercel bundles it into every function that needs it.
 */
async function deployedRaw(): Promise<unknown> {
  const mod = await import('./deployed.js');
  deployedFile = mod.deployedConfigFile;
  return mod.default;
}

/**
 * The deployed config, validated once per instance (a function's cold start): the file the build chose
 * (deployedRaw). An invalid one is reported once (log and Sentry) and never served.
 */
export function configState(): Promise<ConfigState> {
  if (cached) return Promise.resolve({ ok: true, config: cached });
  if (!state) {
    state = (async () => {
      const raw = source ? source.raw : await deployedRaw();
      const result = await validateConfig(raw);
      if (!result.ok) await reportMisconfigured(result.problems);
      return result;
    })();
    state.catch(() => (state = undefined));
  }
  return state;
}

/**
 * Validate the config this instance would serve (a test's setConfig, a setConfigSource, else the
 * deployed one) without reporting it: the runner checks before it serves and says so itself.
 */
export async function checkServedConfig(): Promise<ConfigState> {
  if (cached) return { ok: true, config: cached };
  return validateConfig(source ? source.raw : await deployedRaw());
}

/** The deployed config; throws MISCONFIGURED (no problem list) while it is invalid. */
export async function getConfig(): Promise<OpsbookConfig> {
  const result = await configState();
  if (result.ok) return result.config;
  throw misconfiguredError(result.problems);
}

/** Use this validated config (tests, the CLI); undefined goes back to the deployed one. */
export function setConfig(config: OpsbookConfig | undefined): void {
  cached = config;
  state = undefined;
}

/**
 * Serve this raw config instead of the deployed one, validated like it (the runner's `--config`, tests);
 * undefined goes back to the deployed one.
 */
export function setConfigSource(raw: unknown): void {
  source = raw === undefined ? undefined : { raw };
  cached = undefined;
  state = undefined;
}

/**
 * Say it where someone looks: the function's log and one Sentry event per instance, flushed (bounded)
 * before the request that found it is answered, since a frozen function sends nothing. Deps are imported
 * lazily: the config is read by every route, and the reporter is the instance's own.
 */
async function reportMisconfigured(problems: string[]): Promise<void> {
  try {
    const { getDeps } = await import('../deps.js');
    const deps = await getDeps();
    deps.log('error', `Opsbook's config (${servedFile()}) is invalid; cron and admin routes refuse until it is fixed:\n  - ${problems.join('\n  - ')}`);
    await withTimeout(
      (async () => {
        await deps.errors.captureMessage(`Opsbook config (${servedFile()}) is invalid: ${problems.join('; ')}`.slice(0, 4000), {
          level: 'error',
          tags: { opsbook: 'misconfigured' },
          fingerprint: ['opsbook-misconfigured'],
        });
        await deps.errors.flush(1500);
      })(),
      2000,
      'sentry misconfigured event',
    );
  } catch {
    // An invalid environment (getDeps fails) is answered by the route itself; Sentry down changes nothing.
  }
}
