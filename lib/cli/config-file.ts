import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseConfig, type OpsbookConfig } from '../config/index.js';

/** Load and validate a config file (default: ./opsbook.config.ts). */
export async function loadConfigFile(path = 'opsbook.config.ts'): Promise<OpsbookConfig> {
  if (!existsSync(resolve(path))) throw new Error(`no config file at ${resolve(path)} (run from the project root, or pass --config <path>)`);
  const mod = (await import(pathToFileURL(resolve(path)).href)) as { default?: unknown };
  if (mod.default === undefined) throw new Error(`${path} has no default export (export default defineConfig({...}))`);
  return parseConfig(mod.default);
}
