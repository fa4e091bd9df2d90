import { defineConfig } from 'vitest/config';

// Tests import the compiled package from dist/ (`npm test` builds first): the worker pool loads compiled
// worker files, so the tests exercise exactly what users run.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The suites spawn worker pools of their own; running files one at a time keeps 2 cores from being
    // oversubscribed, which would only make the pools slower, not the results different.
    fileParallelism: false,
  },
});
