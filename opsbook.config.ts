import { defineConfig } from './lib/config/index.js';

/**
 * The default configuration: general-purpose checks that work on any Postgres and Redis, with
 * PgHero's thresholds. Copy an example from examples/ to run a specific runbook.
 */
export default defineConfig({
  service: 'Opsbook',
  checks: {
    requiredEnv: [],
  },
});
