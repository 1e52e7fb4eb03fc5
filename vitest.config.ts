import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // chDB allows one data directory per process: every test file gets its own fork.
    pool: 'forks',
    // V8's linear-time regex engine, as `npm start` runs the service (feature flags' regexes use it).
    poolOptions: { forks: { maxForks: 2, minForks: 1, execArgv: ['--enable-experimental-regexp-engine'] } },
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'data/**'],
    // Builds the tracker and the dashboard once per run, so browser tests load the current sources.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
