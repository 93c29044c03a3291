/**
 * The figures the harness reports, their statistics and the printed table. Every figure
 * keeps its raw samples (one per run); ratios are paired run by run (project run i ÷
 * floor run i) before the statistics are taken.
 */

/** The figures of issue 13's table, by id. */
export const FIGURE_IDS = [
  'run-force.wall-ratio',
  'run-force.cpu-ratio',
  'run-force.wall-ratio-fetch-floor',
  'run-force.cpu-ratio-fetch-floor',
  'file-write.ratio',
  'daemon.idle-pass-cpu-ms',
  'run-idle.cpu-ratio',
  'daemon.rss-steady-mb',
  'daemon.rss-peak-mb',
  'config.parse-us-per-provider',
  'config.parse-growth',
  'lambda.bundle-ratio',
  'lambda.cold-import-ratio',
  'help.wall-ms',
  'help.modules',
] as const;

/** One figure's id. */
export type FigureId = (typeof FIGURE_IDS)[number];

/** One measured figure at one size (or at none, for the size-independent ones). */
export interface Figure {
  readonly id: FigureId;
  /** What it is, as the table says it. */
  readonly label: string;
  /** Providers in the config, when the figure depends on it. */
  readonly providers?: number;
  /** Concurrency of the pass, for `run --force`. */
  readonly concurrency?: number;
  readonly unit: 'ratio' | 'ms' | 'MB' | 'µs' | 'modules';
  /** One per run. */
  readonly samples: readonly number[];
  /** Issue 13's target; `–` for a figure kept only to compare with earlier ones. */
  readonly target: string;
  /** The medians the ratio is made of, or other context. */
  readonly detail: string;
}

/** Min, median and max of samples. */
export interface Stats {
  readonly min: number;
  readonly median: number;
  readonly max: number;
}

/** The statistics of a non-empty list of samples. */
export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (index: number) => sorted[index] ?? Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
  return { min: at(0), median, max: at(sorted.length - 1) };
}

/** The median of a non-empty list. */
export function median(samples: readonly number[]): number {
  return stats(samples).median;
}

/** Pairwise `a[i] / b[i]`. */
export function ratios(a: readonly number[], b: readonly number[]): number[] {
  if (a.length !== b.length) throw new Error(`cannot pair ${a.length} samples with ${b.length}`);
  return a.map((value, i) => value / (b[i] ?? Number.NaN));
}

function formatNumber(value: number, unit: Figure['unit']): string {
  if (unit === 'modules') return String(Math.round(value));
  if (unit === 'ratio') return value.toFixed(2);
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** The figures as a Markdown table (it reads as well in a terminal as in `docs/performance.md`). */
export function formatTable(figures: readonly Figure[]): string {
  const header = ['figure', 'providers', 'unit', 'min', 'median', 'max', 'target', 'detail (medians)'];
  const rows = figures.map((figure) => {
    const { min, median: mid, max } = stats(figure.samples);
    const size =
      figure.providers === undefined
        ? '–'
        : `${figure.providers.toLocaleString('en-US')}${figure.concurrency === undefined ? '' : ` (c=${figure.concurrency})`}`;
    return [
      figure.label,
      size,
      figure.unit,
      formatNumber(min, figure.unit),
      formatNumber(mid, figure.unit),
      formatNumber(max, figure.unit),
      figure.target,
      figure.detail,
    ];
  });
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
