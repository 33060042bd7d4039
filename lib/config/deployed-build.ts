/**
 * The build step that chooses the config the deployed functions serve (bin/deployed-config.mjs, run by
 * vercel.json's "buildCommand"). A function cannot read a path chosen at run time: Vercel bundles what a
 * literal import reaches, at build time. So the build rewrites lib/config/deployed.ts to re-export the file
 * OPSBOOK_CONFIG names (the same rule as the CLI and `npm start`, lib/config/file.ts), after checking
 * everything that would otherwise deploy a function serving nothing: the file exists, lies inside the
 * project and is not excluded from the functions, loads, is valid as check-config says, and vercel.json's
 * crons (what Vercel calls) are the config's checklists.
 */
import { existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { configPathFrom, importConfigModule } from './file.js';
import { validateConfig, type OpsbookConfig } from './index.js';
import { vercelJsonDrift } from '../checklists/vercel-json.js';
import { vercelCrons } from '../../cron/index.js';

/** Where the functions' config module lives, from the project root. */
export const DEPLOYED_MODULE = 'lib/config/deployed.ts';
/** The config the functions serve when OPSBOOK_CONFIG is unset. */
export const DEFAULT_CONFIG_FILE = 'opsbook.config.ts';

export type DeployedChoice =
  | { ok: true; file: string; fromEnv: boolean; changed: boolean; config: OpsbookConfig }
  | { ok: false; message: string };

const posix = (p: string) => p.split(sep).join('/');
const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The source of lib/config/deployed.ts serving `file` (from the project root, posix). The committed
 * module is exactly deployedModuleSource('opsbook.config.ts'), so a build without OPSBOOK_CONFIG
 * writes nothing.
 * @example deployedModuleSource('examples/vivim.config.ts') // "…export { default } from '../../examples/vivim.config.js';…"
 */
export function deployedModuleSource(file: string): string {
  const specifier = posix(relative(dirname(DEPLOYED_MODULE), file)).replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs');
  return [
    '// The config the deployed functions serve (lib/config/index.ts imports it). Written at build time by',
    '// bin/deployed-config.mjs (vercel.json "buildCommand") for the file OPSBOOK_CONFIG names; committed as',
    "// written without it. A literal import, so Vercel bundles that file into the functions.",
    `export { default } from ${quote(specifier)};`,
    "/** That file, from the project root: the name Opsbook's messages give the config. */",
    `export const deployedConfigFile = ${quote(file)};`,
    '',
  ].join('\n');
}

/** vercel.json `functions.*.excludeFiles` globs (braces, `*`, `**`) as regular expressions. */
function excludedBy(vercelJson: unknown): Array<{ glob: string; re: RegExp }> {
  const out: Array<{ glob: string; re: RegExp }> = [];
  const functions = (vercelJson as { functions?: Record<string, { excludeFiles?: unknown }> } | undefined)?.functions ?? {};
  for (const spec of Object.values(functions)) {
    if (typeof spec?.excludeFiles !== 'string') continue;
    const text = spec.excludeFiles.trim();
    const globs = text.startsWith('{') && text.endsWith('}') ? text.slice(1, -1).split(',') : [text];
    for (const glob of globs) {
      let re = '';
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]!;
        if (c === '*' && glob[i + 1] === '*') {
          re += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += glob[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') re += '[^/]*';
        else if (c === '?') re += '[^/]';
        else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      out.push({ glob, re: new RegExp(`^${re}$`) });
    }
  }
  return out;
}

/**
 * Choose, check and (with `write`) write the functions' config module. Refusals are data: one message
 * naming what is wrong and what to do.
 * @example await chooseDeployedConfig({ root: process.cwd(), env: { OPSBOOK_CONFIG: 'examples/vivim.config.ts' } })
 */
export async function chooseDeployedConfig(opts: { root: string; env?: Partial<Record<string, string>>; write?: boolean }): Promise<DeployedChoice> {
  const root = resolve(opts.root);
  const named = configPathFrom(undefined, opts.env ?? process.env);
  const given = named ?? DEFAULT_CONFIG_FILE;
  const what = named ? `OPSBOOK_CONFIG=${named}` : `${DEFAULT_CONFIG_FILE} (OPSBOOK_CONFIG is unset)`;
  const refuse = (why: string): DeployedChoice => ({ ok: false, message: `Opsbook cannot deploy ${what}: ${why}` });

  const full = resolve(root, given);
  const inside = (path: string, base: string) => {
    const rel = relative(base, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  };
  if (!inside(full, root)) return refuse(`${full} is outside the project (${root}), and a function bundles only the project's files. Move the config into the project and name it from the project root.`);
  const file = posix(relative(root, full));
  if (!existsSync(full)) return refuse(`there is no file at ${file} (paths are from the project root, ${root}).`);
  if (!inside(realpathSync(full), realpathSync(root))) return refuse(`${file} links to ${realpathSync(full)}, outside the project, and a function bundles only the project's files.`);
  if (!['.ts', '.mts', '.js', '.mjs'].includes(extname(full))) return refuse(`${file} is not a TypeScript or JavaScript module (.ts, .mts, .js, .mjs).`);

  const vercelJsonPath = join(root, 'vercel.json');
  const vercelJsonText = existsSync(vercelJsonPath) ? readFileSync(vercelJsonPath, 'utf8') : undefined;
  let vercelJson: unknown;
  try {
    vercelJson = vercelJsonText === undefined ? undefined : JSON.parse(vercelJsonText);
  } catch {
    // vercelJsonDrift names it below.
  }
  const excluded = excludedBy(vercelJson).find((g) => g.re.test(file));
  if (excluded) return refuse(`${file} is left out of every function by vercel.json "excludeFiles" (${excluded.glob}). Move the config, or narrow that glob.`);

  let raw: unknown;
  try {
    raw = (await importConfigModule(full)).default;
  } catch (err) {
    return refuse(`${file} does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (raw === undefined) return refuse(`${file} has no default export (export default defineConfig({...})).`);
  const state = await validateConfig(raw);
  if (!state.ok) return refuse(`${file} is invalid (\`npx opsbook check-config --config ${file}\` says the same):\n  - ${state.problems.join('\n  - ')}`);

  if (vercelJsonText !== undefined) {
    // `npm run crons` writes the vercel.json beside the config, so only a config at the root has it as a fix.
    const fix = dirname(full) === root ? `run \`OPSBOOK_CONFIG=${file} npm run crons\` and commit vercel.json` : 'set vercel.json "crons" to the list below and commit it';
    const drift = vercelJsonDrift(state.config, vercelJsonText, fix);
    if (drift.length) {
      return refuse(
        `vercel.json's crons are not ${file}'s checklists, and Vercel calls what vercel.json says:\n  - ${drift.join('\n  - ')}\n` +
          `  "crons": ${JSON.stringify(vercelCrons(state.config))}`,
      );
    }
  }

  const source = deployedModuleSource(file);
  const modulePath = join(root, DEPLOYED_MODULE);
  const changed = !existsSync(modulePath) || readFileSync(modulePath, 'utf8') !== source;
  if (changed && opts.write !== false) writeFileSync(modulePath, source);
  return { ok: true, file, fromEnv: named !== undefined, changed, config: state.config };
}
