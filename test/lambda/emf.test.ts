/**
 * The EMF lines the Lambda writes, checked against the Embedded Metric Format
 * specification's shape: a root `_aws` with a millisecond `Timestamp` and
 * `CloudWatchMetrics` directives, each metric and each dimension named there being a
 * top-level key of the line, and no secret anywhere.
 * @see https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import type { Outcome } from '../../src/engine/rotate.js';
import { EMF_NAMESPACE, type EmfDocument, emfDocument, passMetrics, writeEmf } from '../../src/observability/emf.js';

const NOW = Date.parse('2025-03-01T12:00:00Z');
const UNITS = new Set(['Seconds', 'Microseconds', 'Milliseconds', 'Bytes', 'Count', 'Percent', 'None']);

function summaryOf(outcomes: Outcome[], durationMs = 812): PassSummary {
  const counts = { fresh: 0, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 };
  for (const outcome of outcomes) counts[outcome.status]++;
  return {
    startedAt: new Date(NOW - durationMs).toISOString(),
    durationMs,
    outcomes,
    ok: outcomes.every((o) => o.ok),
    counts,
  };
}

const rotated: Outcome = {
  provider: 'klikoo',
  status: 'rotated',
  ok: true,
  method: 'obtain',
  reason: 'due',
  expiresAt: new Date(NOW + 900_000).toISOString(),
  generation: 3,
  durationMs: 120,
};
const failed: Outcome = {
  provider: 'generic',
  status: 'failed',
  ok: false,
  method: 'refresh',
  expiresAt: new Date(NOW + 42_000).toISOString(),
  generation: 7,
  error: { class: 'retryable', code: 'PROVIDER_RETRYABLE', message: 'HTTP 503 from the token endpoint' },
  durationMs: 80,
};
const neverObtained: Outcome = {
  provider: 'keliweb-api',
  status: 'failed',
  ok: false,
  method: 'obtain',
  error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'invalid_client' },
  durationMs: 30,
};
const fresh: Outcome = {
  provider: 'keliweb-fatture',
  status: 'fresh',
  ok: true,
  expiresAt: new Date(NOW + 3000_000).toISOString(),
  durationMs: 5,
};

/** Checks one parsed line against the specification's rules; returns the directive. */
function assertEmfShape(line: Record<string, unknown>) {
  const aws = line['_aws'] as EmfDocument['_aws'];
  expect(Number.isInteger(aws.Timestamp)).toBe(true);
  expect(aws.CloudWatchMetrics).toHaveLength(1);
  const directive = aws.CloudWatchMetrics[0]!;
  expect(typeof directive.Namespace).toBe('string');
  expect(directive.Metrics.length).toBeGreaterThan(0);
  expect(directive.Metrics.length).toBeLessThanOrEqual(100);
  for (const metric of directive.Metrics) {
    expect(UNITS.has(metric.Unit)).toBe(true);
    expect(typeof line[metric.Name]).toBe('number');
  }
  for (const set of directive.Dimensions) {
    expect(set.length).toBeLessThanOrEqual(30);
    for (const name of set) expect(typeof line[name]).toBe('string');
  }
  return directive;
}

describe('emfDocument', () => {
  it('puts metric values, dimension values and properties at the top level beside _aws', () => {
    const document = emfDocument({
      namespace: 'TokenRotator',
      timestamp: NOW,
      dimensions: { Service: 'rotator', Provider: 'klikoo' },
      metrics: [{ name: 'Rotations', unit: 'Count', value: 1 }],
      properties: { Status: 'rotated' },
    });

    expect(document).toEqual({
      _aws: {
        Timestamp: NOW,
        CloudWatchMetrics: [
          {
            Namespace: 'TokenRotator',
            Dimensions: [['Service', 'Provider']],
            Metrics: [{ Name: 'Rotations', Unit: 'Count' }],
          },
        ],
      },
      Service: 'rotator',
      Provider: 'klikoo',
      Rotations: 1,
      Status: 'rotated',
    });
  });

  it('refuses a key used twice, which would make a value ambiguous', () => {
    expect(() =>
      emfDocument({
        namespace: 'N',
        timestamp: NOW,
        dimensions: { Status: 'a' },
        metrics: [],
        properties: { Status: 'b' },
      }),
    ).toThrow(/Status is used twice/);
  });

  it('refuses a dimension set naming a dimension without a value', () => {
    expect(() =>
      emfDocument({
        namespace: 'N',
        timestamp: NOW,
        dimensions: { Service: 's' },
        dimensionSets: [['Service', 'Provider']],
        metrics: [],
      }),
    ).toThrow(/unknown dimensions: Provider/);
  });
});

describe('passMetrics', () => {
  const summary = summaryOf([rotated, failed, neverObtained, fresh]);
  const lines = (() => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (chunk: Buffer) => (text += chunk.toString()));
    writeEmf(passMetrics(summary, { service: 'token-rotator-prod-rotate', now: NOW, requestId: 'req-1' }), out);
    return text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  })();
  const forProvider = (name: string) => lines.find((line) => line['Provider'] === name)!;

  it('writes one valid EMF line per provider and one for the pass, in the TokenRotator namespace', () => {
    expect(lines).toHaveLength(5);
    for (const line of lines) expect(assertEmfShape(line).Namespace).toBe(EMF_NAMESPACE);
  });

  it('publishes each provider line per provider and as the service total', () => {
    const directive = assertEmfShape(forProvider('klikoo'));

    expect(directive.Dimensions).toEqual([['Service', 'Provider'], ['Service']]);
    expect(forProvider('klikoo')).toMatchObject({ Service: 'token-rotator-prod-rotate', Provider: 'klikoo' });
  });

  it('counts a rotation and no failure for a rotated provider, with seconds to its new expiry', () => {
    const line = forProvider('klikoo');

    expect(assertEmfShape(line).Metrics).toEqual([
      { Name: 'Rotations', Unit: 'Count' },
      { Name: 'Failures', Unit: 'Count' },
      { Name: 'SecondsToExpiry', Unit: 'Seconds' },
    ]);
    expect(line).toMatchObject({
      Rotations: 1,
      Failures: 0,
      SecondsToExpiry: 900,
      Status: 'rotated',
      Method: 'obtain',
      RequestId: 'req-1',
    });
  });

  it('counts a failure with its class and code as properties, not dimensions, and the old token expiry', () => {
    const line = forProvider('generic');

    expect(line).toMatchObject({
      Rotations: 0,
      Failures: 1,
      SecondsToExpiry: 42,
      FailureClass: 'retryable',
      ErrorCode: 'PROVIDER_RETRYABLE',
    });
    expect(assertEmfShape(line).Dimensions.flat()).not.toContain('FailureClass');
  });

  it('leaves SecondsToExpiry out when no token is known rather than inventing one', () => {
    const line = forProvider('keliweb-api');

    expect(assertEmfShape(line).Metrics.map((m) => m.Name)).toEqual(['Rotations', 'Failures']);
    expect(line).not.toHaveProperty('SecondsToExpiry');
    expect(line['Failures']).toBe(1);
  });

  it('reports a fresh provider with zero rotations and zero failures, so alarms see data', () => {
    expect(forProvider('keliweb-fatture')).toMatchObject({
      Rotations: 0,
      Failures: 0,
      SecondsToExpiry: 3000,
      Status: 'fresh',
    });
  });

  it('reports the pass duration in milliseconds under the service dimension only', () => {
    const line = lines.find((l) => l['Provider'] === undefined)!;

    expect(assertEmfShape(line)).toEqual({
      Namespace: 'TokenRotator',
      Dimensions: [['Service']],
      Metrics: [{ Name: 'PassDuration', Unit: 'Milliseconds' }],
    });
    expect(line).toMatchObject({ PassDuration: 812, Providers: 4, Service: 'token-rotator-prod-rotate' });
  });

  it('never carries an error message (which could quote a server) into a metric line', () => {
    const text = JSON.stringify(lines);

    expect(text).not.toContain('HTTP 503');
    expect(text).not.toContain('invalid_client');
  });
});
