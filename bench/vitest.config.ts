import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * The benchmarks' own vitest config (`npm run bench:aws-cost`): only the entries under
 * `bench/`, one at a time, printing straight to the terminal, with no time limit a
 * benchmark of several minutes would hit.
 */
export default defineConfig({
  root: resolve(import.meta.dirname, '..'),
  test: {
    include: ['bench/aws-cost.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    disableConsoleIntercept: true,
    reporters: ['default'],
  },
});
