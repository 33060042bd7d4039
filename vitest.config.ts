import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    setupFiles: ['test/support/repo-clean.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Test files create their own databases and key prefixes, so they can run in parallel,
    // but the machine has two cores: keep the pool small so timing-sensitive fault tests stay honest.
    maxWorkers: 2,
    // A skipped test is not a passed test: CI fails on .skip/.todo/.only.
    allowOnly: false,
  },
});
