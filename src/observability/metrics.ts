/**
 * Prometheus metrics of the rotator, on `prom-client`, fed from pass summaries. The
 * daemon serves them on `/metrics` (text format 0.0.4, or OpenMetrics 1.0 when the scrape
 * asks for it); `token-rotator run --pushgateway URL` pushes one pass's worth to a
 * Pushgateway ({@link pushMetrics}). The Lambda reports through EMF (`emf.ts`) and loads
 * none of this.
 *
 * Every instance has its own registry (never prom-client's global one), so a process, or
 * a test, may hold many. Labels are provider names, methods, failure classes and pass
 * results only: an outcome's error message, and anything that could hold a token, never
 * becomes a label.
 *
 * @example
 * const metrics = new RotatorMetrics({ providers: loaded.providerNames, version: '1.2.0', gapSeconds: 900 });
 * metrics.observePass(await rotator.pass(), Date.now());
 * response.setHeader('content-type', metricsContentType('text'));
 * response.end(await metrics.render());
 *
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 * @see https://prometheus.io/docs/practices/naming/ units in names, `_total` for counters
 * @see https://cert-manager.io/docs/devops-tips/prometheus-metrics/ expiry as a timestamp gauge
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client';
import type { PassSummary } from '../engine/pass.js';
import type { Outcome } from '../engine/rotate.js';

/** The `Content-Type` of the text exposition format 0.0.4, {@link RotatorMetrics.render}'s default. */
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** The `Content-Type` of OpenMetrics 1.0, served when a scrape's `Accept` asks for it. */
export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

/** The two exposition formats {@link RotatorMetrics.render} writes. */
export type MetricsFormat = 'text' | 'openmetrics';

/** The `Content-Type` of `format`. */
export function metricsContentType(format: MetricsFormat): RegistryContentType {
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : METRICS_CONTENT_TYPE;
}

/**
 * The format a scrape asks for in its `Accept` header: OpenMetrics when it lists
 * `application/openmetrics-text` with a non-zero quality (Prometheus does, by default),
 * else the text format.
 * @example
 * metricsFormatFor('application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5'); // 'openmetrics'
 */
export function metricsFormatFor(accept: string | undefined): MetricsFormat {
  for (const range of (accept ?? '').split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    if (type !== 'application/openmetrics-text') continue;
    const q = params.find((param) => param.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return 'openmetrics';
  }
  return 'text';
}

/** Upper bounds (seconds) of the pass duration histogram: a fresh pass takes milliseconds, a slow provider up to the request timeout times the attempts. */
export const PASS_DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120] as const;

/** How a pass ended: `ok` every provider fresh or rotated, `failed` some provider failed, `error` the pass could not run (config or store). */
export type PassResult = 'ok' | 'failed' | 'error';

const PASS_RESULTS: readonly PassResult[] = ['ok', 'failed', 'error'];

/** The failure classes of `token_rotator_failures_total`: a provider's three, and the store's and the lease's. */
export const FAILURE_CLASSES = ['retryable', 'reauthenticate', 'permanent', 'store', 'lease'] as const;

/** How a token is got: `obtain` re-authenticates, `refresh` uses the refresh token. */
const METHODS = ['obtain', 'refresh'] as const;

/** A sample value as Go's `ParseFloat` reads it (`+Inf`, `-Inf`, `NaN`), as prom-client writes it. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

/** What the metrics know of one provider after the passes seen so far. */
export interface ProviderSnapshot {
  /** When the provider's token expires (ms since the epoch); absent while it has none. */
  readonly expiresAtMs?: number;
  /** When a pass last left it with a valid token and nothing failed (ms since the epoch). */
  readonly lastSuccessMs?: number;
}

/** Options of {@link RotatorMetrics}. */
export interface RotatorMetricsOptions {
  /**
   * The configured providers: their failure series (every class) and rotation series
   * (both methods) exist at 0 from the start, so `increase()` and alerts see the first
   * failure. Providers seen later in a pass get series as they occur.
   */
  readonly providers?: readonly string[];
  /** The package version, for `token_rotator_build_info` (default `unknown`). */
  readonly version?: string;
  /** The schedule's longest gap between passes, exported as `token_rotator_schedule_gap_seconds` for the alert rules. */
  readonly gapSeconds?: number;
  /**
   * `scrape` (default): a long-lived process scraped live; adds prom-client's process and
   * Node.js metrics and the countdown `token_rotator_token_expiry_seconds`. `push`: one
   * pass of `token-rotator run`, pushed once; leaves out both, since a pushed process is
   * gone and a pushed countdown would freeze (the expiry timestamp does not).
   */
  readonly mode?: 'scrape' | 'push';
}

/**
 * The rotator's metrics. Feed it every pass ({@link observePass}, {@link observePassError})
 * and render it on each scrape or push.
 */
export class RotatorMetrics {
  /** The instance's own registry, never prom-client's global one. */
  readonly registry = new Registry<RegistryContentType>();
  readonly #rotations: Counter<'provider' | 'method'>;
  readonly #failures: Counter<'provider' | 'class'>;
  readonly #passesTotal: Counter<'result'>;
  readonly #duration: Histogram;
  readonly #expiryTimestamp: Gauge<'provider'>;
  readonly #lastSuccess: Gauge<'provider'>;
  readonly #lastPass: Gauge;
  readonly #lastPassResult: Gauge<'result'>;
  readonly #providers = new Map<string, { expiresAtMs?: number; lastSuccessMs?: number }>();
  readonly #passCounts: Record<PassResult, number> = { ok: 0, failed: 0, error: 0 };
  #lastPassMs: number | undefined;
  /** The time a render is for: the countdown gauge reads it while the registry collects. */
  #scrapeNowMs = 0;
  /** Renders run one at a time: the registry's content type is shared state during one. */
  #rendering: Promise<unknown> = Promise.resolve();

  constructor(options: RotatorMetricsOptions = {}) {
    const registers = [this.registry];
    const mode = options.mode ?? 'scrape';
    new Gauge({
      name: 'token_rotator_build_info',
      help: 'Always 1; the labels say which token-rotator version runs on which Node.js.',
      labelNames: ['version', 'node_version'],
      registers,
    }).set({ version: options.version ?? 'unknown', node_version: process.versions.node }, 1);
    this.#rotations = new Counter({
      name: 'token_rotator_rotations_total',
      help: 'Tokens obtained or refreshed, by provider and method.',
      labelNames: ['provider', 'method'],
      registers,
    });
    this.#failures = new Counter({
      name: 'token_rotator_failures_total',
      help: 'Failed rotations, by provider and failure class (retryable, reauthenticate, permanent, store, lease); back-offs are not counted again.',
      labelNames: ['provider', 'class'],
      registers,
    });
    if (mode === 'scrape') {
      const providers = this.#providers;
      const scrapeNow = () => this.#scrapeNowMs;
      new Gauge({
        name: 'token_rotator_token_expiry_seconds',
        help: 'Seconds until the stored token of a provider expires, at scrape time; negative once expired.',
        labelNames: ['provider'],
        registers,
        collect() {
          this.reset();
          for (const [provider, known] of providers)
            if (known.expiresAtMs !== undefined) this.set({ provider }, (known.expiresAtMs - scrapeNow()) / 1000);
        },
      });
    }
    this.#expiryTimestamp = new Gauge({
      name: 'token_rotator_token_expiry_timestamp_seconds',
      help: 'When the stored token of a provider expires, in seconds since the epoch.',
      labelNames: ['provider'],
      registers,
    });
    this.#lastSuccess = new Gauge({
      name: 'token_rotator_last_success_timestamp_seconds',
      help: 'When a pass last left the provider with a valid token and nothing failed, in seconds since the epoch.',
      labelNames: ['provider'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'token_rotator_pass_duration_seconds',
      help: 'How long passes took.',
      buckets: [...PASS_DURATION_BUCKETS],
      registers,
    });
    this.#passesTotal = new Counter({
      name: 'token_rotator_passes_total',
      help: 'Passes by result: ok, failed (a provider failed) or error (the pass could not run).',
      labelNames: ['result'],
      registers,
    });
    this.#lastPass = new Gauge({
      name: 'token_rotator_last_pass_timestamp_seconds',
      help: 'When the last pass that ran finished, in seconds since the epoch.',
      registers,
    });
    // A gauge without labels starts at 0, which would read as a pass in 1970: no sample until one finishes.
    this.#lastPass.remove();
    this.#lastPassResult = new Gauge({
      name: 'token_rotator_last_pass_result',
      help: 'The result of the last pass, run or not: 1 for its result (ok, failed or error), 0 for the others.',
      labelNames: ['result'],
      registers,
    });
    if (options.gapSeconds !== undefined) {
      new Gauge({
        name: 'token_rotator_schedule_gap_seconds',
        help: "The schedule's longest gap between passes, in seconds: the alert rules allow twice this.",
        registers,
      }).set(options.gapSeconds);
    }
    for (const result of PASS_RESULTS) this.#passesTotal.inc({ result }, 0);
    for (const provider of options.providers ?? []) {
      for (const method of METHODS) this.#rotations.inc({ provider, method }, 0);
      for (const failureClass of FAILURE_CLASSES) this.#failures.inc({ provider, class: failureClass }, 0);
    }
    if (mode === 'scrape') collectDefaultMetrics({ register: this.registry });
  }

  /** Records a pass that ran, finished at `finishedAtMs`. */
  observePass(summary: PassSummary, finishedAtMs: number): void {
    const result: PassResult = summary.ok ? 'ok' : 'failed';
    this.#countPass(result);
    this.#duration.observe(summary.durationMs / 1000);
    this.#lastPassMs = finishedAtMs;
    this.#lastPass.set(finishedAtMs / 1000);
    for (const outcome of summary.outcomes) this.#observeOutcome(outcome, finishedAtMs);
  }

  /** Records a pass that could not run at all (a config or store error before any provider). */
  observePassError(): void {
    this.#countPass('error');
  }

  #countPass(result: PassResult): void {
    this.#passesTotal.inc({ result });
    this.#passCounts[result] += 1;
    for (const each of PASS_RESULTS) this.#lastPassResult.set({ result: each }, each === result ? 1 : 0);
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
    return this.#passCounts[result];
  }

  #observeOutcome(outcome: Outcome, at: number): void {
    const provider = outcome.provider;
    const known = this.#providers.get(provider) ?? {};
    // A busy outcome carries no token facts: keep what the last pass learnt.
    if (outcome.expiresAt !== undefined) {
      known.expiresAtMs = Date.parse(outcome.expiresAt);
      this.#expiryTimestamp.set({ provider }, known.expiresAtMs / 1000);
    }
    if (outcome.ok && outcome.error === undefined) {
      known.lastSuccessMs = at;
      this.#lastSuccess.set({ provider }, at / 1000);
    }
    this.#providers.set(provider, known);
    if (outcome.status === 'rotated' && outcome.method !== undefined)
      this.#rotations.inc({ provider, method: outcome.method });
    // A back-off repeats an earlier failure without a new attempt, so it is not counted again.
    if (outcome.error !== undefined && outcome.status !== 'backoff')
      this.#failures.inc({ provider, class: outcome.error.class });
  }

  /**
   * The exposition text in `format`, every line ending in a line feed; the countdown
   * gauge is computed for `nowMs`, so it counts down between passes.
   */
  render(nowMs: number = Date.now(), format: MetricsFormat = 'text'): Promise<string> {
    const rendered = this.#rendering.then(() => this.#renderNow(nowMs, format));
    this.#rendering = rendered.catch(() => undefined);
    return rendered;
  }

  async #renderNow(nowMs: number, format: MetricsFormat): Promise<string> {
    this.#scrapeNowMs = nowMs;
    this.registry.setContentType(metricsContentType(format));
    // prom-client's OpenMetrics rendering renames each counter for good (`x_total` to `x`),
    // so a later text render would lose the suffix: put the names back.
    const names = this.registry.getMetricsAsArray().map((metric) => [metric, metric.name] as const);
    try {
      // prom-client writes NaN (an event-loop lag with no sample yet) as `Nan`, which Go's
      // parser takes but the formats spell `NaN`.
      return (await this.registry.metrics()).replace(/ Nan$/gm, ' NaN');
    } finally {
      for (const [metric, name] of names) metric.name = name;
      this.registry.setContentType(METRICS_CONTENT_TYPE);
    }
  }
}

// ─── Pushgateway ─────────────────────────────────────────────────────────────────────

/** The job label every push is grouped under. */
export const PUSH_JOB = 'token-rotator';

/** Options of {@link pushMetrics}. */
export interface PushOptions {
  /** The Pushgateway's base URL, e.g. `http://pushgateway:9091`; user and password in it become Basic auth. */
  readonly url: string;
  /**
   * The `instance` label of the group (default: none, and the Pushgateway sets it empty).
   * Keep it stable across runs: each push replaces its group, and a group per pod name
   * would pile up in the Pushgateway forever.
   */
  readonly instance?: string | undefined;
  /** How long the push may take (default 10 000 ms). */
  readonly timeoutMs?: number;
  /** Default: the global `fetch`. */
  readonly fetch?: typeof fetch;
}

/**
 * A push that did not reach the Pushgateway or that it refused. The message names the
 * Pushgateway's origin (never the credentials of its URL) and the socket error code or
 * the HTTP status. Not a `RotatorError`: no failure of rotation: `run` logs it
 * and keeps the pass's exit code.
 */
export class PushError extends Error {
  override readonly name = 'PushError';
  readonly code = PUSH_FAILED;
}

/** The code of a failed push, in the error shape of log lines (`err: {class: 'metrics', code, message}`). */
export const PUSH_FAILED = 'METRICS_PUSH_FAILED';

/** The URL of the group `job="token-rotator"` (and `instance`), as the Pushgateway's API spells it, without credentials. */
export function pushUrl(base: string, instance?: string): URL {
  const url = new URL(base);
  url.username = '';
  url.password = '';
  const path = url.pathname.replace(/\/+$/, '');
  // An empty label value, or one with a `/`, must be base64url-encoded (`@base64` suffix).
  const segment = (name: string, value: string) =>
    value === '' || value.includes('/')
      ? `/${name}@base64/${Buffer.from(value).toString('base64url') || '='}`
      : `/${name}/${encodeURIComponent(value)}`;
  url.pathname = `${path}/metrics${segment('job', PUSH_JOB)}${instance === undefined ? '' : segment('instance', instance)}`;
  return url;
}

/**
 * Pushes `metrics` (text format) to a Pushgateway with PUT, replacing every metric of the
 * group: one push per `token-rotator run`, after its pass.
 * @throws {PushError} when the Pushgateway cannot be reached, times out or refuses the push.
 * @see https://github.com/prometheus/pushgateway#api
 */
export async function pushMetrics(metrics: RotatorMetrics, options: PushOptions): Promise<void> {
  let target: URL;
  let authorization: string | undefined;
  try {
    const given = new URL(options.url);
    if (given.protocol !== 'http:' && given.protocol !== 'https:') throw new TypeError('not http(s)');
    if (given.username !== '' || given.password !== '') {
      const credentials = `${decodeURIComponent(given.username)}:${decodeURIComponent(given.password)}`;
      authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    target = pushUrl(options.url, options.instance);
  } catch (error) {
    throw new PushError('the Pushgateway URL is not an http(s) URL', { cause: error });
  }
  const where = `the Pushgateway at ${target.origin}`;
  const body = await metrics.render();
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(target, {
      method: 'PUT',
      headers: { 'content-type': METRICS_CONTENT_TYPE, ...(authorization ? { authorization } : {}) },
      body,
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
  } catch (error) {
    // fetch wraps the socket's error (ECONNREFUSED, ENOTFOUND, a certificate error) in its `cause`.
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    const code = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
    const reason = typeof code === 'string' ? code : cause instanceof Error ? cause.name : 'unknown error';
    throw new PushError(`could not reach ${where} (${reason})`, { cause: error });
  }
  if (!response.ok) {
    const text = (await response.text().catch(() => '')).trim().slice(0, 200);
    throw new PushError(`${where} refused the push: HTTP ${response.status}${text === '' ? '' : ` (${text})`}`);
  }
  await response.body?.cancel();
}
