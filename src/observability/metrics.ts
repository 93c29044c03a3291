/**
 * Prometheus metrics of the rotator, fed from pass summaries and rendered by hand in the
 * text exposition format 0.0.4 (a few series do not earn a client library in every
 * Lambda bundle). Labels are provider names, methods, failure classes and pass results
 * only: an outcome's error message, and anything that could hold a token, never becomes
 * a label.
 *
 * @example
 * const metrics = new RotatorMetrics();
 * metrics.observePass(await rotator.pass(), Date.now());
 * response.setHeader('content-type', METRICS_CONTENT_TYPE);
 * response.end(metrics.render());
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 * @see https://prometheus.io/docs/practices/naming/ units in names, `_total` for counters
 */
import type { PassSummary } from '../engine/pass.js';
import type { Outcome } from '../engine/rotate.js';

/** The `Content-Type` of {@link RotatorMetrics.render}'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Upper bounds (seconds) of the pass duration histogram: a fresh pass takes milliseconds, a slow provider up to the request timeout times the attempts. */
export const PASS_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;

/** How a pass ended: `ok` every provider fresh or rotated, `failed` some provider failed, `error` the pass could not run (config or store). */
export type PassResult = 'ok' | 'failed' | 'error';

const PREFIX = 'token_rotator_';

type Labels = Readonly<Record<string, string>>;
type MetricType = 'counter' | 'gauge' | 'histogram';

interface Sample {
  readonly suffix?: string;
  readonly labels: Labels;
  readonly value: number;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

/** Escapes a label value: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Escapes HELP text: backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A sample value as Go's `ParseFloat` reads it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(([name, value]) => `${name}="${escapeLabelValue(value)}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function renderFamily(family: Family): string {
  const name = PREFIX + family.name;
  const lines = [`# HELP ${name} ${escapeHelp(family.help)}`, `# TYPE ${name} ${family.type}`];
  for (const sample of family.samples)
    lines.push(`${name}${sample.suffix ?? ''}${formatLabels(sample.labels)} ${formatValue(sample.value)}`);
  return lines.join('\n');
}

/** Counters keyed by their label values, kept in first-seen order. */
class LabeledCounter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  inc(labels: Labels, by = 1): void {
    const key = JSON.stringify(Object.values(labels));
    const entry = this.#values.get(key);
    if (entry === undefined) this.#values.set(key, { labels, value: by });
    else entry.value += by;
  }

  get(labels: Labels): number {
    return this.#values.get(JSON.stringify(Object.values(labels)))?.value ?? 0;
  }

  samples(): Sample[] {
    return [...this.#values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/** A cumulative histogram with fixed buckets. */
class Histogram {
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(readonly buckets: readonly number[]) {
    this.#counts = buckets.map(() => 0);
  }

  observe(value: number): void {
    for (const [index, bound] of this.buckets.entries()) {
      if (value <= bound) this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    }
    this.#sum += value;
    this.#count += 1;
  }

  samples(): Sample[] {
    return [
      ...this.buckets.map((bound, index) => ({
        suffix: '_bucket',
        labels: { le: formatValue(bound) },
        value: this.#counts[index] ?? 0,
      })),
      { suffix: '_bucket', labels: { le: '+Inf' }, value: this.#count },
      { suffix: '_sum', labels: {}, value: this.#sum },
      { suffix: '_count', labels: {}, value: this.#count },
    ];
  }
}

/** What the metrics know of one provider after the passes seen so far. */
export interface ProviderSnapshot {
  /** When the provider's token expires (ms since the epoch); absent while it has none. */
  readonly expiresAtMs?: number;
  /** When a pass last left it with a valid token and nothing failed (ms since the epoch). */
  readonly lastSuccessMs?: number;
}

/**
 * The rotator's metrics. Feed it every pass of a long-running process
 * ({@link observePass}, {@link observePassError}) and render it on each scrape; token
 * expiry is rendered relative to the scrape time, so it counts down between passes.
 */
export class RotatorMetrics {
  readonly #rotations = new LabeledCounter();
  readonly #failures = new LabeledCounter();
  readonly #passes = new LabeledCounter();
  readonly #duration = new Histogram(PASS_DURATION_BUCKETS);
  readonly #providers = new Map<string, { expiresAtMs?: number; lastSuccessMs?: number }>();
  #lastPassMs: number | undefined;

  constructor() {
    for (const result of ['ok', 'failed', 'error'] as const) this.#passes.inc({ result }, 0);
  }

  /** Records a pass that ran, finished at `finishedAtMs`. */
  observePass(summary: PassSummary, finishedAtMs: number): void {
    this.#passes.inc({ result: summary.ok ? 'ok' : 'failed' });
    this.#duration.observe(summary.durationMs / 1000);
    this.#lastPassMs = finishedAtMs;
    for (const outcome of summary.outcomes) this.#observeOutcome(outcome, finishedAtMs);
  }

  /** Records a pass that could not run at all (a config or store error before any provider). */
  observePassError(): void {
    this.#passes.inc({ result: 'error' });
  }

  /** When the last pass that ran finished (ms since the epoch), if any did. */
  get lastPassMs(): number | undefined {
    return this.#lastPassMs;
  }

  /** Every provider seen in a pass, with what is known of its token. */
  providers(): ReadonlyMap<string, ProviderSnapshot> {
    return this.#providers;
  }

  /** Passes counted so far with `result`. */
  passes(result: PassResult): number {
    return this.#passes.get({ result });
  }

  #observeOutcome(outcome: Outcome, at: number): void {
    const provider = outcome.provider;
    const known = this.#providers.get(provider) ?? {};
    // A busy outcome carries no token facts: keep what the last pass learnt.
    if (outcome.expiresAt !== undefined) known.expiresAtMs = Date.parse(outcome.expiresAt);
    if (outcome.ok && outcome.error === undefined) known.lastSuccessMs = at;
    this.#providers.set(provider, known);
    if (outcome.status === 'rotated' && outcome.method !== undefined)
      this.#rotations.inc({ provider, method: outcome.method });
    // A back-off repeats an earlier failure without a new attempt, so it is not counted again.
    if (outcome.error !== undefined && outcome.status !== 'backoff')
      this.#failures.inc({ provider, class: outcome.error.class });
  }

  /** The exposition text, every line ending in a line feed. */
  render(nowMs: number = Date.now()): string {
    const providers = [...this.#providers.entries()];
    const perProvider = (
      value: (p: { expiresAtMs?: number; lastSuccessMs?: number }) => number | undefined,
    ): Sample[] =>
      providers.flatMap(([provider, known]) => {
        const v = value(known);
        return v === undefined ? [] : [{ labels: { provider }, value: v }];
      });
    const families: Family[] = [
      {
        name: 'rotations_total',
        type: 'counter',
        help: 'Tokens obtained or refreshed, by provider and method.',
        samples: this.#rotations.samples(),
      },
      {
        name: 'failures_total',
        type: 'counter',
        help: 'Failed rotations, by provider and failure class (retryable, reauthenticate, permanent, store, lease); back-offs are not counted again.',
        samples: this.#failures.samples(),
      },
      {
        name: 'token_expiry_seconds',
        type: 'gauge',
        help: 'Seconds until the stored token of a provider expires, at scrape time; negative once expired.',
        samples: perProvider((p) => (p.expiresAtMs === undefined ? undefined : (p.expiresAtMs - nowMs) / 1000)),
      },
      {
        name: 'last_success_timestamp_seconds',
        type: 'gauge',
        help: 'When a pass last left the provider with a valid token and nothing failed, in seconds since the epoch.',
        samples: perProvider((p) => (p.lastSuccessMs === undefined ? undefined : p.lastSuccessMs / 1000)),
      },
      {
        name: 'pass_duration_seconds',
        type: 'histogram',
        help: 'How long passes took.',
        samples: this.#duration.samples(),
      },
      {
        name: 'passes_total',
        type: 'counter',
        help: 'Passes by result: ok, failed (a provider failed) or error (the pass could not run).',
        samples: this.#passes.samples(),
      },
      {
        name: 'last_pass_timestamp_seconds',
        type: 'gauge',
        help: 'When the last pass that ran finished, in seconds since the epoch.',
        samples: this.#lastPassMs === undefined ? [] : [{ labels: {}, value: this.#lastPassMs / 1000 }],
      },
    ];
    return `${families.map(renderFamily).join('\n')}\n`;
  }
}
