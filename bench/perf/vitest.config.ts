import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The performance benchmark's own vitest config (`npm run bench`): only `bench/perf/perf.ts`,
 * alone, printing straight to the terminal, with no time limit a run at 10,000 providers
 * would hit.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '..', '..'),
  test: {
    include: ['bench/perf/perf.ts'],
    testTimeout: 7_200_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    disableConsoleIntercept: true,
    reporters: ['default'],
  },
});
