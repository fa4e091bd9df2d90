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
    server: {
      deps: {
        // dist/ runs as Node loads it, as users run it: Vite's transform of every compiled module, once per
        // test file (each in a fresh process), cost more than most of the files' tests.
        external: [/\/dist\//],
      },
    },
  },
});
