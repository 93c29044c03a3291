import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import type { Outcome } from '../../src/engine/rotate.js';
import {
  formatValue,
  METRICS_CONTENT_TYPE,
  PASS_DURATION_BUCKETS,
  RotatorMetrics,
} from '../../src/observability/metrics.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function summary(outcomes: Outcome[], durationMs: number, startedAt = T0): PassSummary {
  const counts = { fresh: 0, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 };
  for (const outcome of outcomes) counts[outcome.status]++;
  return { startedAt: iso(startedAt), durationMs, outcomes, ok: outcomes.every((o) => o.ok), counts };
}

const rotated = (provider: string, method: 'obtain' | 'refresh', expiresAt: number): Outcome => ({
  provider,
  status: 'rotated',
  ok: true,
  method,
  reason: 'due',
  expiresAt: iso(expiresAt),
  generation: 2,
  durationMs: 10,
});

describe('RotatorMetrics', async () => {
  describe('render', async () => {
    it('is valid exposition format before any pass, with every family typed and documented', async () => {
      const families = parseExposition(await new RotatorMetrics().render(T0));

      expect([...families.keys()].filter((name) => name.startsWith('token_rotator_'))).toEqual([
        'token_rotator_build_info',
        'token_rotator_rotations_total',
        'token_rotator_failures_total',
        'token_rotator_token_expiry_seconds',
        'token_rotator_token_expiry_timestamp_seconds',
        'token_rotator_last_success_timestamp_seconds',
        'token_rotator_pass_duration_seconds',
        'token_rotator_passes_total',
        'token_rotator_last_pass_timestamp_seconds',
        'token_rotator_last_pass_result',
      ]);
      // prom-client's process and Node.js metrics come along.
      expect(families.get('process_cpu_seconds_total')?.type).toBe('counter');
      expect(families.get('nodejs_heap_size_used_bytes')?.type).toBe('gauge');
      for (const family of families.values()) {
        expect(family.help, family.name).toMatch(/\S/);
        expect(['counter', 'gauge', 'histogram'], family.name).toContain(family.type);
        if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
      }
      expect(families.get('token_rotator_passes_total')!.samples.map((s) => [s.labels['result'], s.value])).toEqual([
        ['ok', 0],
        ['failed', 0],
        ['error', 0],
      ]);
      expect(sampleValue(families, 'token_rotator_pass_duration_seconds_count')).toBe(0);
      // No pass yet: no timestamp that would read as 1970.
      expect(families.get('token_rotator_last_pass_timestamp_seconds')!.samples).toEqual([]);
    });

    it('counts rotations by provider and method, failures by class, and passes by result', async () => {
      const metrics = new RotatorMetrics();
      metrics.observePass(
        summary(
          [
            rotated('klikoo', 'obtain', T0 + 900_000),
            rotated('keliweb', 'refresh', T0 + 3_600_000),
            {
              provider: 'billing',
              status: 'failed',
              ok: false,
              method: 'obtain',
              error: { class: 'retryable', code: 'PROVIDER_RETRYABLE', message: 'HTTP 503' },
              durationMs: 5,
            },
          ],
          40,
        ),
        T0 + 1000,
      );
      metrics.observePass(
        summary(
          [
            rotated('klikoo', 'obtain', T0 + 1_800_000),
            {
              provider: 'keliweb',
              status: 'fresh',
              ok: true,
              method: 'refresh',
              expiresAt: iso(T0 + 3_600_000),
              generation: 2,
              durationMs: 1,
            },
            // A back-off repeats the earlier failure: not a new one.
            {
              provider: 'billing',
              status: 'backoff',
              ok: false,
              error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'backing off' },
              durationMs: 0,
            },
            {
              provider: 'other',
              status: 'busy',
              ok: false,
              error: { class: 'lease', code: 'LEASE_BUSY', message: 'another runner holds the lease' },
              durationMs: 0,
            },
          ],
          3000,
        ),
        T0 + 900_000,
      );
      metrics.observePassError();

      const families = parseExposition(await metrics.render(T0 + 900_000));
      expect(sampleValue(families, 'token_rotator_rotations_total', { provider: 'klikoo', method: 'obtain' })).toBe(2);
      expect(sampleValue(families, 'token_rotator_rotations_total', { provider: 'keliweb', method: 'refresh' })).toBe(
        1,
      );
      expect(families.get('token_rotator_rotations_total')!.samples).toHaveLength(2);
      expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'billing', class: 'retryable' })).toBe(
        1,
      );
      expect(
        sampleValue(families, 'token_rotator_failures_total', { provider: 'billing', class: 'permanent' }),
      ).toBeUndefined();
      expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'other', class: 'lease' })).toBe(1);
      expect(sampleValue(families, 'token_rotator_passes_total', { result: 'ok' })).toBe(0);
      expect(sampleValue(families, 'token_rotator_passes_total', { result: 'failed' })).toBe(2);
      expect(sampleValue(families, 'token_rotator_passes_total', { result: 'error' })).toBe(1);
      expect(sampleValue(families, 'token_rotator_last_pass_timestamp_seconds')).toBe((T0 + 900_000) / 1000);
      expect(metrics.lastPassMs).toBe(T0 + 900_000);
    });

    it('renders seconds to expiry at scrape time, negative once expired, and keeps it when an outcome carries none', async () => {
      const metrics = new RotatorMetrics();
      metrics.observePass(summary([rotated('klikoo', 'obtain', T0 + 900_000)], 10), T0);
      metrics.observePass(summary([{ provider: 'klikoo', status: 'busy', ok: true, durationMs: 0 }], 10), T0 + 60_000);

      expect(
        sampleValue(parseExposition(await metrics.render(T0 + 100_000)), 'token_rotator_token_expiry_seconds', {
          provider: 'klikoo',
        }),
      ).toBe(800);
      expect(
        sampleValue(parseExposition(await metrics.render(T0 + 905_500)), 'token_rotator_token_expiry_seconds', {
          provider: 'klikoo',
        }),
      ).toBe(-5.5);
    });

    it('sets the last success time of a provider only from passes that left it valid without failure', async () => {
      const metrics = new RotatorMetrics();
      metrics.observePass(summary([rotated('klikoo', 'obtain', T0 + 900_000)], 10), T0 + 2000);
      metrics.observePass(
        summary(
          [
            {
              provider: 'klikoo',
              status: 'failed',
              ok: false,
              expiresAt: iso(T0 + 900_000),
              error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'x' },
              durationMs: 1,
            },
          ],
          10,
        ),
        T0 + 60_000,
      );

      const families = parseExposition(await metrics.render(T0 + 60_000));
      expect(sampleValue(families, 'token_rotator_last_success_timestamp_seconds', { provider: 'klikoo' })).toBe(
        (T0 + 2000) / 1000,
      );
      expect(metrics.providers().get('klikoo')).toEqual({ expiresAtMs: T0 + 900_000, lastSuccessMs: T0 + 2000 });
    });

    it('observes pass durations in a cumulative histogram', async () => {
      const metrics = new RotatorMetrics();
      for (const ms of [40, 700, 3000, 500_000]) metrics.observePass(summary([], ms), T0);

      const families = parseExposition(await metrics.render(T0));
      const bucket = (le: string) => sampleValue(families, 'token_rotator_pass_duration_seconds_bucket', { le });
      expect(bucket('0.05')).toBe(1);
      expect(bucket('0.5')).toBe(1);
      expect(bucket('1')).toBe(2);
      expect(bucket('5')).toBe(3);
      expect(bucket('120')).toBe(3);
      expect(bucket('+Inf')).toBe(4);
      expect(
        families.get('token_rotator_pass_duration_seconds')!.samples.filter((s) => s.name.endsWith('_bucket')),
      ).toHaveLength(PASS_DURATION_BUCKETS.length + 1);
      expect(sampleValue(families, 'token_rotator_pass_duration_seconds_sum')).toBeCloseTo(503.74, 6);
      expect(sampleValue(families, 'token_rotator_pass_duration_seconds_count')).toBe(4);
    });

    it('escapes label values so a parser reads back exactly the provider name', async () => {
      const metrics = new RotatorMetrics();
      const name = 'odd "name" \\ with\nnewline';
      metrics.observePass(summary([rotated(name, 'obtain', T0 + 60_000)], 1), T0);

      const text = await metrics.render(T0);
      expect(text).toContain('provider="odd \\"name\\" \\\\ with\\nnewline"');
      expect(
        sampleValue(parseExposition(text), 'token_rotator_rotations_total', { provider: name, method: 'obtain' }),
      ).toBe(1);
    });

    it('never puts an error message, which may quote a server, into the output', async () => {
      const secret = randomBytes(24).toString('base64url');
      const metrics = new RotatorMetrics();
      metrics.observePass(
        summary(
          [
            {
              provider: 'klikoo',
              status: 'failed',
              ok: false,
              error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: `server said ${secret}` },
              durationMs: 1,
            },
          ],
          1,
        ),
        T0,
      );

      const text = await metrics.render(T0);
      expect(text).not.toContain(secret);
      expect(
        sampleValue(parseExposition(text), 'token_rotator_failures_total', { provider: 'klikoo', class: 'permanent' }),
      ).toBe(1);
    });
  });

  it('formats values as Prometheus reads them', async () => {
    expect([
      formatValue(Infinity),
      formatValue(-Infinity),
      formatValue(NaN),
      formatValue(0.25),
      formatValue(3),
    ]).toEqual(['+Inf', '-Inf', 'NaN', '0.25', '3']);
    expect(METRICS_CONTENT_TYPE).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});

describe('parseExposition (the test reader of the format)', () => {
  it.each([
    ['no final line feed', '# TYPE a counter\na 1'],
    ['an unescaped quote in a label value', 'a{x="b"c"} 1\n'],
    ['a bad escape in a label value', 'a{x="b\\tc"} 1\n'],
    ['a value that is not a float', 'a 1,5\n'],
    ['samples of a family that are not grouped', 'a 1\nb 1\na{x="y"} 2\n'],
    ['a second TYPE line', '# TYPE a counter\n# TYPE a gauge\na 1\n'],
    ['TYPE after samples', 'a 1\n# TYPE a counter\n'],
    ['a duplicate series', 'a{x="1"} 1\na{x="1"} 2\n'],
    [
      'a histogram whose buckets are not cumulative',
      '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n',
    ],
  ])('rejects %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow();
  });
});
