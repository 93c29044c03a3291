/**
 * `npm run bench`: issue 13's performance figures, measured side by side with their
 * floors on this machine, printed as one table (min, median and max over the runs).
 *
 * How it runs: like `bench/aws-cost.ts`, this is a vitest test file run by its own config
 * (`bench/perf/vitest.config.ts`), since Node 20 cannot execute TypeScript and the project
 * has no tsx. It is not part of `npm test`; `test/bench/perf.smoke.test.ts` runs the same
 * core at a tiny size there so it cannot rot. What is measured and how: the header of
 * `bench/perf/measure.ts` and `docs/performance.md`.
 *
 * Environment:
 * - BENCH_SIZES: provider counts, comma-separated (`100,1000`; the issue's are 100,1000,10000,20000);
 * - BENCH_RUNS: measured runs per figure (5);
 * - BENCH_CONCURRENCY: `policy.concurrency` of the `run --force` figures, comma-separated (4);
 * - BENCH_ONLY: groups to measure, comma-separated, of run, file-write, run-idle, daemon,
 *   config, lambda, help (all);
 * - BENCH_DELAY_MS: the token server's delay (20);
 * - BENCH_DAEMON_PASSES: idle passes the daemon figures are measured over (the larger of 10
 *   and BENCH_RUNS);
 * - BENCH_CREDENTIALS: `file` (a `${file:…}` reference per provider, the default) or `env`
 *   (a `${env:…}` reference per provider: the config loader reads every file at once, so at
 *   20,000 providers `file` exceeds an open-files limit of 20,000);
 * - BENCH_NODE22: the Node 22 binary for the Lambda's cold import (`.tools/node22/…`).
 */
import { describe, expect, it } from 'vitest';
import { formatTable } from './figures.js';
import { GROUPS, type Group, measurePerformance } from './measure.js';

function listFromEnv(name: string, fallback: readonly number[]): number[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return [...fallback];
  return raw.split(',').map((item) => {
    const value = Number(item.trim());
    if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must list positive integers, not ${raw}`);
    return value;
  });
}

function groupsFromEnv(): Group[] {
  const raw = process.env['BENCH_ONLY'];
  if (raw === undefined || raw.trim() === '') return [...GROUPS];
  const wanted = raw.split(',').map((item) => item.trim());
  const unknown = wanted.filter((item) => !(GROUPS as readonly string[]).includes(item));
  if (unknown.length > 0) throw new Error(`BENCH_ONLY names unknown groups ${unknown.join(', ')}; known: ${GROUPS}`);
  return wanted as Group[];
}

describe('bench:perf', () => {
  it('measures the figures of issue 13 against their floors and prints them', async () => {
    const sizes = listFromEnv('BENCH_SIZES', [100, 1000]);
    const [runs = 5] = listFromEnv('BENCH_RUNS', [5]);
    const concurrencies = listFromEnv('BENCH_CONCURRENCY', [4]);
    const [delayMs = 20] = listFromEnv('BENCH_DELAY_MS', [20]);
    const [daemonPasses] = listFromEnv('BENCH_DAEMON_PASSES', []);
    const only = groupsFromEnv();
    const credentials = process.env['BENCH_CREDENTIALS'] || 'file';
    if (credentials !== 'file' && credentials !== 'env') throw new Error(`BENCH_CREDENTIALS must be file or env`);
    const started = Date.now();

    const figures = await measurePerformance({
      sizes,
      runs,
      concurrencies,
      delayMs,
      only,
      credentials,
      ...(daemonPasses === undefined ? {} : { daemonPasses }),
      ...(process.env['BENCH_NODE22'] ? { node22: process.env['BENCH_NODE22'] } : {}),
      progress: (line) =>
        process.stderr.write(`bench:perf [${((Date.now() - started) / 1000).toFixed(0)} s] ${line}\n`),
    });

    expect(figures.length).toBeGreaterThan(0);
    const settings = `sizes ${sizes.join(', ')}; ${runs} runs; concurrency ${concurrencies.join(', ')}; token server delay ${delayMs} ms; groups ${only.join(', ')}; credentials ${credentials}`;
    process.stdout.write(`\nbench:perf (${settings})\n\n${formatTable(figures)}\n\n`);
  });
});
