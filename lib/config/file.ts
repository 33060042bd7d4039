import { unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Import a config module, TypeScript included, without a TypeScript loader: esbuild compiles it (its
 * relative imports bundled, packages left to node_modules) to a file beside it, imported once and
 * deleted. The compiled CLI runs on plain Node, so this is how it reads `opsbook.config.ts`.
 */
export async function importConfigModule(path: string): Promise<{ default?: unknown }> {
  const full = resolve(path);
  if (!/\.(c|m)?ts$/.test(full)) return (await import(pathToFileURL(full).href)) as { default?: unknown };
  const { build } = await import('esbuild');
  const out = await build({ entryPoints: [full], bundle: true, write: false, format: 'esm', platform: 'node', target: 'node20', packages: 'external', logLevel: 'silent' });
  // Beside the config, so its bare imports resolve from the same node_modules as the config's own.
  const compiled = join(dirname(full), `.${basename(full)}.${process.pid}.${Date.now()}.mjs`);
  writeFileSync(compiled, out.outputFiles[0]!.text);
  try {
    return (await import(pathToFileURL(compiled).href)) as { default?: unknown };
  } finally {
    unlinkSync(compiled);
  }
}

/**
 * Which config file to read: `--config`, else the OPSBOOK_CONFIG environment variable, else undefined
 * (the project's opsbook.config.ts). One rule for the CLI and `npm start`, so a team that keeps its config
 * elsewhere sets it once. An empty value counts as unset.
 * @example configPathFrom(undefined, { OPSBOOK_CONFIG: 'ops/opsbook.config.ts' }) // 'ops/opsbook.config.ts'
 */
export function configPathFrom(flag: string | undefined, env: Partial<Record<string, string>> = process.env): string | undefined {
  if (flag !== undefined && flag.trim() !== '') return flag;
  const fromEnv = env.OPSBOOK_CONFIG?.trim();
  return fromEnv ? fromEnv : undefined;
}
