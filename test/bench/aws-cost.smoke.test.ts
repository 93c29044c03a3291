/**
 * The AWS cost benchmark (`npm run bench:aws-cost`) at its smallest size, inside
 * `npm test`, so the benchmark cannot rot: one provider kind, one measured run, no
 * warm-up. It asserts that the numbers are there and hang together, never a target: the
 * store's layout may change what they are.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  callsOf,
  dailyCost,
  formatReport,
  type KindMeasurement,
  measureAwsCost,
  PROVIDER_KINDS,
} from '../../bench/aws-cost-measure.js';

describe('bench:aws-cost at its smallest size', () => {
  const kind = PROVIDER_KINDS.find((k) => k.lifetimeSeconds === 3600);
  let measurements: KindMeasurement[];
  let measurement: KindMeasurement;
  beforeAll(async () => {
    if (kind === undefined) throw new Error('PROVIDER_KINDS has no 3600 s provider');
    measurements = await measureAwsCost({ kinds: [kind], runs: 1, warmup: 0 });
    measurement = measurements[0]!;
  }, 180_000);

  it('runs the built CLI on moto for one 3600 s provider and counts its secrets and calls', () => {
    expect(measurements).toHaveLength(1);
    expect(measurement.kind).toBe(kind);
    expect(measurement.secrets.provider + measurement.parameters.provider).toBeGreaterThan(0);
    expect(measurement.idle).toHaveLength(1);
    expect(measurement.rotation).toHaveLength(1);
  });

  it('finds an idle pass cheaper than a rotation, and a heartbeat in every pass', () => {
    const idle = callsOf(measurement.idle[0]!, 'provider');
    const rotation = callsOf(measurement.rotation[0]!, 'provider');

    expect(idle).toBeGreaterThan(0);
    expect(rotation).toBeGreaterThan(idle);
    expect(callsOf(measurement.idle[0]!, 'heartbeat')).toBeGreaterThan(0);
    expect(callsOf(measurement.rotation[0]!, 'heartbeat')).toBeGreaterThan(0);
  });

  it('derives a day from the schedule and the renewal threshold, and prices it consistently', () => {
    const cost = dailyCost(measurement);
    const perDay = Object.values(cost.providerCallsPerDay).reduce((a, b) => a + b, 0);
    const idle = callsOf(measurement.idle[0]!, 'provider');

    expect(measurement.passesPerDay).toBeGreaterThan(0);
    expect(measurement.thresholdSeconds).toBeGreaterThan(0);
    expect(measurement.thresholdSeconds).toBeLessThan(measurement.kind.lifetimeSeconds);
    expect(measurement.rotationsPerDay).toBeGreaterThan(0);
    expect(measurement.rotationsPerDay).toBeLessThanOrEqual(measurement.passesPerDay);
    // Every pass costs at least an idle pass, and rotating passes cost more.
    expect(perDay).toBeGreaterThan(measurement.passesPerDay * idle);
    expect(cost.perProviderMonth).toBeGreaterThan(0);
    expect(cost.oneProviderMonth).toBeCloseTo(cost.perProviderMonth + cost.runnerMonth, 10);
    expect(cost.thousandProvidersMonth).toBeCloseTo(1000 * cost.perProviderMonth + cost.runnerMonth, 6);
    expect(cost.unpriced).toEqual([]);
  });

  it('prints a table naming the provider, its lifetime and the prices it assumed', () => {
    const report = formatReport([measurement], { runs: 1, warmup: 0 });

    expect(report).toContain(`${measurement.kind.provider} (3600 s tokens)`);
    expect(report).toContain('$/month, 1,000 providers + runner');
    expect(report).toContain('standard-throughput API calls are free');
  });
});
