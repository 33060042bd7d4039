import type { OpsbookConfigInput } from './schema.js';

/**
 * Typed helper for `opsbook.config.ts`: returns its argument. It lives in its own file, with type-only
 * imports, so a function that only reads the config (the health route) does not load the schema, the
 * task registry and every check with it.
 * @example
 * export default defineConfig({ service: 'VocaVision', checks: { http: [{ id: 'site', url: 'https://example.com' }] } });
 */
export function defineConfig(config: OpsbookConfigInput): OpsbookConfigInput {
  return config;
}
