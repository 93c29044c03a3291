/**
 * CloudWatch Embedded Metric Format: metrics written as JSON log lines, which CloudWatch
 * Logs turns into metrics with no API call and no agent. The Lambda runtime writes them
 * to stdout; the Prometheus module serves the daemon, this one the Lambda.
 *
 * Written by hand rather than with Powertools' metrics utility (15 KB minified in the
 * bundle, a dependency with its own release cadence): the format is a small documented
 * JSON shape, and a pure function is easier to test against it.
 *
 * No token, credential or error text ever goes into a metric: dimensions are the
 * service and provider names from config, properties are statuses and error codes.
 *
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import type { PassSummary } from '../engine/pass.js';
import type { Outcome } from '../engine/rotate.js';

/** The CloudWatch namespace token-rotator's metrics are published in. */
export const EMF_NAMESPACE = 'TokenRotator';

/** The CloudWatch units token-rotator uses. */
export type EmfUnit = 'Count' | 'Seconds' | 'Milliseconds';

/** One metric value of a document. */
export interface EmfMetric {
  readonly name: string;
  readonly unit: EmfUnit;
  readonly value: number;
}

/** What one EMF document holds. */
export interface EmfInput {
  readonly namespace: string;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  /** Dimension values, by name. Every dimension set is made of these names. */
  readonly dimensions: Readonly<Record<string, string>>;
  /**
   * The dimension sets each metric is published under, e.g. `[['Service', 'Provider'],
   * ['Service']]`: one line yields both the per-provider metric and the service total.
   * Default: one set of every dimension.
   */
  readonly dimensionSets?: readonly (readonly string[])[];
  readonly metrics: readonly EmfMetric[];
  /** Extra top-level keys: searchable in Logs Insights, not metrics, so free of metric cost. */
  readonly properties?: Readonly<Record<string, string | number>>;
}

/** An EMF document, ready for `JSON.stringify`. */
export type EmfDocument = Record<string, unknown> & {
  readonly _aws: {
    readonly Timestamp: number;
    readonly CloudWatchMetrics: readonly {
      readonly Namespace: string;
      readonly Dimensions: readonly (readonly string[])[];
      readonly Metrics: readonly { readonly Name: string; readonly Unit: EmfUnit }[];
    }[];
  };
};

/**
 * Builds one EMF document. Metric values, dimension values and properties are top-level
 * keys, as the format requires; a name used twice is a programming error and throws.
 * @example
 * emfDocument({ namespace: 'TokenRotator', timestamp: Date.now(), dimensions: { Service: 'rotator' },
 *   metrics: [{ name: 'PassDuration', unit: 'Milliseconds', value: 812 }] });
 * // { _aws: { Timestamp, CloudWatchMetrics: [{ Namespace: 'TokenRotator', Dimensions: [['Service']],
 * //   Metrics: [{ Name: 'PassDuration', Unit: 'Milliseconds' }] }] }, Service: 'rotator', PassDuration: 812 }
 */
export function emfDocument(input: EmfInput): EmfDocument {
  const sets = input.dimensionSets ?? [Object.keys(input.dimensions)];
  for (const set of sets) {
    const unknown = set.filter((name) => input.dimensions[name] === undefined);
    if (unknown.length > 0) throw new TypeError(`EMF dimension set names unknown dimensions: ${unknown.join(', ')}`);
  }
  const root: Record<string, unknown> = {};
  const put = (key: string, value: unknown) => {
    if (key === '_aws' || key in root) throw new TypeError(`EMF key ${key} is used twice`);
    root[key] = value;
  };
  for (const [name, value] of Object.entries(input.dimensions)) put(name, value);
  for (const metric of input.metrics) put(metric.name, metric.value);
  for (const [name, value] of Object.entries(input.properties ?? {})) put(name, value);
  return {
    _aws: {
      Timestamp: input.timestamp,
      CloudWatchMetrics: [
        {
          Namespace: input.namespace,
          Dimensions: sets.map((set) => [...set]),
          Metrics: input.metrics.map((metric) => ({ Name: metric.name, Unit: metric.unit })),
        },
      ],
    },
    ...root,
  };
}

/** Options of {@link passMetrics}. */
export interface PassMetricsOptions {
  /** The `Service` dimension: the Lambda function's name, so stages do not mix. */
  readonly service: string;
  readonly namespace?: string;
  /** When the metrics are taken; default now. */
  readonly now?: number;
  /** Added as a property to every document, for correlation in Logs Insights. */
  readonly requestId?: string;
}

function providerDocument(outcome: Outcome, options: PassMetricsOptions, now: number): EmfDocument {
  const metrics: EmfMetric[] = [
    { name: 'Rotations', unit: 'Count', value: outcome.status === 'rotated' ? 1 : 0 },
    { name: 'Failures', unit: 'Count', value: outcome.ok ? 0 : 1 },
  ];
  // Unknown when no token was ever stored, or the store could not be read: left out
  // rather than invented, so an alarm on it treats the gap as missing data.
  if (outcome.expiresAt !== undefined) {
    metrics.push({
      name: 'SecondsToExpiry',
      unit: 'Seconds',
      value: Math.round((Date.parse(outcome.expiresAt) - now) / 1000),
    });
  }
  return emfDocument({
    namespace: options.namespace ?? EMF_NAMESPACE,
    timestamp: now,
    dimensions: { Service: options.service, Provider: outcome.provider },
    // Per provider, and the service total (Sum of Failures, Minimum of SecondsToExpiry).
    // The failure class is a property, not a dimension: one custom metric per class and
    // provider would multiply the metric bill for little an alarm could use.
    dimensionSets: [['Service', 'Provider'], ['Service']],
    metrics,
    properties: {
      Status: outcome.status,
      ...(outcome.method === undefined ? {} : { Method: outcome.method }),
      ...(outcome.error === undefined ? {} : { FailureClass: outcome.error.class, ErrorCode: outcome.error.code }),
      ...(options.requestId === undefined ? {} : { RequestId: options.requestId }),
    },
  });
}

/**
 * The EMF documents of one pass: per provider `Rotations` (a new token was obtained),
 * `Failures` (the provider is not ok: failed, backing off, or busy without a valid
 * token) and `SecondsToExpiry` (of the stored token, when one is known), each under
 * `[Service, Provider]` and `[Service]`; and `PassDuration` under `[Service]`.
 */
export function passMetrics(summary: PassSummary, options: PassMetricsOptions): EmfDocument[] {
  const now = options.now ?? Date.now();
  return [
    ...summary.outcomes.map((outcome) => providerDocument(outcome, options, now)),
    emfDocument({
      namespace: options.namespace ?? EMF_NAMESPACE,
      timestamp: now,
      dimensions: { Service: options.service },
      metrics: [{ name: 'PassDuration', unit: 'Milliseconds', value: summary.durationMs }],
      properties: {
        Providers: summary.outcomes.length,
        ...(options.requestId === undefined ? {} : { RequestId: options.requestId }),
      },
    }),
  ];
}

/** Writes documents as one JSON line each, the way CloudWatch Logs extracts them. */
export function writeEmf(documents: readonly EmfDocument[], out: NodeJS.WritableStream): void {
  for (const document of documents) out.write(`${JSON.stringify(document)}\n`);
}
