import type { OpsbookConfigInput } from './schema.js';

/**
 * Typed helper for `opsbook.config.ts`: returns its argument. It lives in its own file, with type-only
 * imports, so importing a config file loads nothing but the config (the schema is loaded by whoever
 * validates it). docs/config.md lists every key.
 * @example
 * export default defineConfig({ service: 'VocaVision', checks: { http: [{ id: 'site', url: 'https://example.com' }] } });
 */
export function defineConfig(config: OpsbookConfigInput): OpsbookConfigInput {
  return config;
}
