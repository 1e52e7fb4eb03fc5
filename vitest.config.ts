import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // chDB allows one data directory per process: every test file gets its own fork.
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    include: ['**/*.test.ts'],
    // Builds the dashboard once per run (dashboard/dist), so browser tests load the current source.
    globalSetup: ['test/global-setup.ts'],
    exclude: ['node_modules/**', 'data/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
