/**
 * How often the engine expects to write a provider's records (issue 10): `rotationsPerDay`
 * from the policy's renewal threshold, and `providerUsage`, the writes a day of the state
 * and the public record with the token bucket's headroom. The AWS store lays records out
 * from these figures, so each is checked against the formula by hand, and against the
 * layout it leads to.
 *
 * With the default policy (renew at a quarter of the lifetime, at least margin 60 s + gap
 * 300 s before expiry, plus up to 5 % of the lifetime of per-provider jitter) a token of
 * L seconds is renewed `L - threshold` seconds after it was issued, where
 * threshold = max(0.25 L, 360) + jitter × 0.05 L.
 */
import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { providerUsage, STATE_WRITES_PER_ROTATION, SUSTAINED_SHARE, storeFitIssues } from '../../src/engine/budget.js';
import { effectivePolicy, jitterUnit, renewThreshold, rotationsPerDay } from '../../src/engine/policy.js';
import { AwsStore, placementOf, slotsFor } from '../../src/stores/aws/index.js';
import { FakeParameterStore, FakeSecretsManager } from '../helpers/fake-secrets-manager.js';

const GAP = 300;
const defaults = effectivePolicy(resolvedConfigSchema.shape.policy.parse({}), undefined);
const noJitter = { ...defaults, jitter_fraction: 0 };
/** A provider name whose jitter is all but the largest (0.99998): the upper bound of every figure. */
const MOST_JITTER = 'p5533';
/** A provider name whose jitter is all but none (0.00009): the lower bound. */
const LEAST_JITTER = 'p1231';

describe('rotationsPerDay', () => {
  it.each([
    // lifetime, threshold without jitter, renewed after, rotations a day
    [900, 360, 540, 160],
    [1800, 450, 1350, 64],
    [3600, 900, 2700, 32],
    [7200, 1800, 5400, 16],
  ])(
    'renews a %i s token without jitter at %i s before expiry, %i s after issue: %i a day',
    (lifetime, threshold, interval, perDay) => {
      expect(renewThreshold(lifetime, noJitter, GAP, 'any')).toBe(threshold);
      expect(rotationsPerDay(lifetime, noJitter, GAP, 'any')).toBe(86_400 / interval);
      expect(rotationsPerDay(lifetime, noJitter, GAP, 'any')).toBe(perDay);
    },
  );

  it.each([
    // lifetime, most rotations a day: renewed after L - (threshold + 0.05 L)
    [900, 86_400 / 495],
    [1800, 86_400 / 1260],
    [3600, 86_400 / 2520],
    [7200, 86_400 / 5040],
  ])('keeps a %i s token, whatever its jitter, between the jitter-free rate and %f a day', (lifetime, most) => {
    const least = rotationsPerDay(lifetime, noJitter, GAP, 'any');
    for (let i = 0; i < 200; i++) {
      const rate = rotationsPerDay(lifetime, defaults, GAP, `provider-${i}`);
      expect(rate).toBeGreaterThanOrEqual(least);
      expect(rate).toBeLessThan(most);
    }
    expect(rotationsPerDay(lifetime, defaults, GAP, LEAST_JITTER)).toBeCloseTo(least, 1);
    expect(rotationsPerDay(lifetime, defaults, GAP, MOST_JITTER)).toBeCloseTo(most, 2);
  });

  it('gives 900 s tokens at most about 175 rotations a day and 3600 s tokens about 34', () => {
    expect(rotationsPerDay(900, defaults, GAP, MOST_JITTER)).toBeCloseTo(174.5, 1);
    expect(rotationsPerDay(3600, defaults, GAP, MOST_JITTER)).toBeCloseTo(34.3, 1);
  });

  it('spreads providers of the same lifetime by a fixed per-name jitter', () => {
    expect(jitterUnit(MOST_JITTER)).toBeGreaterThan(0.9999);
    expect(jitterUnit(LEAST_JITTER)).toBeLessThan(0.0001);
    expect(jitterUnit('klikoo')).toBe(jitterUnit('klikoo'));
    expect(rotationsPerDay(900, defaults, GAP, 'klikoo')).not.toBe(rotationsPerDay(900, defaults, GAP, 'keliweb'));
  });

  it('counts a longer gap between passes into the threshold of a short token', () => {
    // 900 s with passes up to 10 min apart: margin 60 + gap 600 = 660 s before expiry.
    expect(renewThreshold(900, noJitter, 600, 'any')).toBe(660);
    expect(rotationsPerDay(900, noJitter, 600, 'any')).toBe(360);
  });

  it('never counts more than one rotation a second, even when the threshold is the whole lifetime', () => {
    expect(rotationsPerDay(300, noJitter, GAP, 'any')).toBe(86_400);
  });
});

describe('providerUsage', () => {
  it('is unknown before the first token: the lifetime is not known yet', () => {
    expect(providerUsage(undefined, defaults, GAP, 'klikoo')).toBeUndefined();
  });

  it.each([
    // lifetime, state and public writes a day at the most jitter, and without
    [900, 466, 233, 427, 214],
    [1800, 183, 92, 171, 86],
    [3600, 92, 46, 86, 43],
    [7200, 46, 23, 43, 22],
  ])(
    'plans a %i s token for %i state and %i public writes a day at most (%i and %i without jitter)',
    (lifetime, state, pub, stateLeast, pubLeast) => {
      expect(providerUsage(lifetime, defaults, GAP, MOST_JITTER)).toEqual({
        state: { writesPerDay: state },
        public: { writesPerDay: pub },
      });
      expect(providerUsage(lifetime, noJitter, GAP, 'any')).toEqual({
        state: { writesPerDay: stateLeast },
        public: { writesPerDay: pubLeast },
      });
    },
  );

  it('is two state writes and one public write per rotation, over the sustained share of the budget', () => {
    for (const lifetime of [900, 1800, 3600, 7200]) {
      const rotations = rotationsPerDay(lifetime, defaults, GAP, 'klikoo');
      const usage = providerUsage(lifetime, defaults, GAP, 'klikoo');

      expect(usage?.state.writesPerDay).toBe(Math.ceil((rotations * STATE_WRITES_PER_ROTATION) / SUSTAINED_SHARE));
      expect(usage?.public.writesPerDay).toBe(Math.ceil(rotations / SUSTAINED_SHARE));
    }
    expect(SUSTAINED_SHARE).toBe(0.75);
  });

  it.each([
    // lifetime, public placement, state slots: the layout any provider name gets
    [900, 'parameter', 5],
    [1800, 'secret', 2],
    [3600, 'secret', 1],
    [7200, 'secret', 1],
  ])(
    'lays a %i s token out as a public %s and a state ring of %i, whatever its jitter',
    (lifetime, placement, slots) => {
      for (const name of [MOST_JITTER, LEAST_JITTER, 'klikoo', 'keliweb']) {
        const usage = providerUsage(lifetime, defaults, GAP, name)!;

        expect(placementOf(`tokens/${name}`, usage.public)).toBe(placement);
        expect(placementOf(`state/${name}`, usage.state)).toBe('ring');
        expect(slotsFor(usage.state)).toBe(slots);
      }
    },
  );
});

describe('storeFitIssues', () => {
  it('requires compare-and-set, naming store.kind', () => {
    expect(storeFitIssues('nfs', { compareAndSet: false }, () => 288)).toEqual([
      { path: 'store.kind', message: "the nfs store cannot compare-and-set, which the engine's lease needs" },
    ]);
    expect(storeFitIssues('file', { compareAndSet: true }, () => 288)).toEqual([]);
  });

  it('checks the heartbeat, written once a pass and not paced, against its write budget, naming policy.schedule', () => {
    const capped = { compareAndSet: true, writeBudget: () => ({ writes: 96, windowSeconds: 86_400 }) };

    expect(storeFitIssues('aws', capped, () => 96)).toEqual([]);
    expect(storeFitIssues('aws', capped, () => 288)).toEqual([
      {
        path: 'policy.schedule',
        message: '288 passes in 86400 s write the heartbeat 288 times; the aws store takes at most 96',
      },
    ]);
  });

  it('reports both problems of a store that has neither', () => {
    const issues = storeFitIssues(
      'x',
      { compareAndSet: false, writeBudget: () => ({ writes: 1, windowSeconds: 3600 }) },
      () => 48,
    );

    expect(issues.map((issue) => issue.path)).toEqual(['store.kind', 'policy.schedule']);
  });

  it('fits the AWS store on a schedule of a pass every 30 s: the heartbeat is a parameter', () => {
    const store = new AwsStore({ client: new FakeSecretsManager(), parameters: new FakeParameterStore() });

    expect(storeFitIssues('aws', store.capabilities, () => 2880)).toEqual([]);
  });
});
