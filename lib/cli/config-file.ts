import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { importConfigModule } from '../config/file.js';
import { parseConfig, setConfigSource, type OpsbookConfig } from '../config/index.js';

/**
 * Load and validate a config file (default: ./opsbook.config.ts), and make it the config every part of
 * this process reads (the admin pipeline, missed-run takeover), so nothing falls back to another file.
 */
export async function loadConfigFile(path = 'opsbook.config.ts'): Promise<OpsbookConfig> {
  if (!existsSync(resolve(path))) throw new Error(`no config file at ${resolve(path)} (run from the project root, or pass --config <path>)`);
  const mod = await importConfigModule(path);
  if (mod.default === undefined) throw new Error(`${path} has no default export (export default defineConfig({...}))`);
  const config = parseConfig(mod.default);
  setConfigSource(mod.default);
  return config;
}
