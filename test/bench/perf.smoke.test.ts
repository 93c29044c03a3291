/**
 * The performance benchmark (`npm run bench`) at a tiny size, inside `npm test`, so the
 * harness cannot rot: 3 providers, one run. It checks that every figure of issue 13 comes
 * out as a finite, positive number with its floor beside it, never how fast anything is:
 * timings belong to the benchmark's output, not to test assertions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { FIGURE_IDS, type Figure, formatTable, ratios, stats } from '../../bench/perf/figures.js';
import { measurePerformance } from '../../bench/perf/measure.js';

describe('bench:perf at its smallest size', () => {
  let figures: Figure[];
  beforeAll(async () => {
    figures = await measurePerformance({ sizes: [3], runs: 1, fileWrites: 10, daemonPasses: 1 });
  }, 240_000);

  it('produces every figure of issue 13, once, with one sample per run, and at least 9 cold imports', () => {
    expect(figures.map((figure) => figure.id).sort()).toEqual([...FIGURE_IDS].sort());
    for (const figure of figures)
      expect(figure.samples, figure.id).toHaveLength(figure.id === 'lambda.cold-import-ratio' ? 9 : 1);
  });

  it('gives every figure as a finite, positive number', () => {
    for (const figure of figures) {
      for (const sample of figure.samples) {
        expect(Number.isFinite(sample), `${figure.id}: ${sample}`).toBe(true);
        expect(sample, figure.id).toBeGreaterThan(0);
      }
    }
  });

  it('measures the provider-dependent figures at the size it was asked for', () => {
    const sized = figures.filter((figure) => figure.providers !== undefined).map((figure) => figure.id);
    expect(sized.sort()).toEqual(
      [
        'config.parse-growth',
        'config.parse-us-per-provider',
        'daemon.idle-pass-cpu-ms',
        'daemon.rss-peak-mb',
        'daemon.rss-steady-mb',
        'run-force.cpu-ratio',
        'run-force.cpu-ratio-fetch-floor',
        'run-force.wall-ratio',
        'run-force.wall-ratio-fetch-floor',
        'run-idle.cpu-ratio',
      ].sort(),
    );
    for (const figure of figures) if (figure.providers !== undefined) expect(figure.providers, figure.id).toBe(3);
  });

  it('prints a table row per figure with its target and the medians it came from', () => {
    const table = formatTable(figures).split('\n');

    expect(table).toHaveLength(figures.length + 2);
    for (const [i, figure] of figures.entries()) {
      const row = table[i + 2]!;
      expect(row).toContain(figure.label);
      expect(row).toContain(figure.target);
      expect(row.split(' | '), row).toHaveLength(8);
    }
    expect(table.find((row) => row.includes('`run --force` wall ÷ floor'))).toMatch(/ ms vs | s vs /);
  });
});

describe('bench:perf statistics', () => {
  it('takes min, median and max of unsorted samples, the median of an even count as the mean of the middle two', () => {
    expect(stats([5, 1, 3])).toEqual({ min: 1, median: 3, max: 5 });
    expect(stats([4, 1, 3, 2])).toEqual({ min: 1, median: 2.5, max: 4 });
  });

  it('pairs ratios run by run and refuses samples that do not pair', () => {
    expect(ratios([2, 9], [1, 3])).toEqual([2, 3]);
    expect(() => ratios([1, 2], [1])).toThrow(/cannot pair/);
  });
});
