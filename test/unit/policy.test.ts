import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import {
  backoffSeconds,
  chooseMethod,
  decide,
  type EffectivePolicy,
  effectivePolicy,
  feasibility,
  jitterUnit,
  renewalDueAt,
  renewThreshold,
  scheduleGapSeconds,
} from '../../src/engine/policy.js';
import { emptyState, type StateRecord } from '../../src/engine/records.js';

const defaults = resolvedConfigSchema.shape.policy.parse({});
const policy: EffectivePolicy = { ...effectivePolicy(defaults, undefined), jitter_fraction: 0 };
const T0 = Date.parse('2026-01-01T00:00:00Z');

function stateWith(lifetime: number, name = 'p'): StateRecord {
  return {
    ...emptyState(name),
    generation: 1,
    token: {
      access_token: 'a',
      token_type: 'Bearer',
      issued_at: new Date(T0).toISOString(),
      expires_at: new Date(T0 + lifetime * 1000).toISOString(),
    },
  };
}

describe('policy', () => {
  describe('scheduleGapSeconds', () => {
    it('measures a 5-minute cron as 300 s', () => {
      expect(scheduleGapSeconds('*/5 * * * *')).toBe(300);
    });
    it('measures the longest gap of an uneven schedule', () => {
      // Hourly from 09:00 to 17:00: the night gap is 16 h.
      expect(scheduleGapSeconds('0 9-17 * * *', 'UTC')).toBe(16 * 3600);
    });
    it('understands a seconds field', () => {
      expect(scheduleGapSeconds('*/10 * * * * *')).toBe(10);
    });
  });

  describe('renewThreshold', () => {
    it('renews a 3600 s token at a quarter of its life left with a 5-minute schedule', () => {
      // max(0.25 × 3600 = 900, 60 + 300 = 360) = 900
      expect(renewThreshold(3600, policy, 300, 'keliweb')).toBe(900);
    });
    it('lets margin plus gap win for a 900 s token with a 5-minute schedule', () => {
      // max(0.25 × 900 = 225, 60 + 300 = 360) = 360
      expect(renewThreshold(900, policy, 300, 'klikoo')).toBe(360);
    });
    it('adds a deterministic per-provider jitter within the configured fraction', () => {
      const jittered = { ...policy, jitter_fraction: 0.1 };
      const a = renewThreshold(3600, jittered, 300, 'alpha');
      const b = renewThreshold(3600, jittered, 300, 'beta');
      expect(a).toBe(renewThreshold(3600, jittered, 300, 'alpha'));
      expect(a).not.toBe(b);
      for (const value of [a, b]) {
        expect(value).toBeGreaterThanOrEqual(900);
        expect(value).toBeLessThan(900 + 360);
      }
      expect(a).toBeCloseTo(900 + jitterUnit('alpha') * 360, 6);
    });
    it('never exceeds the lifetime', () => {
      expect(renewThreshold(100, { ...policy, jitter_fraction: 0.2 }, 90, 'x')).toBeLessThanOrEqual(100);
    });
  });

  describe('jitterUnit', () => {
    it('spreads provider names over [0, 1)', () => {
      const values = Array.from({ length: 200 }, (_, i) => jitterUnit(`provider-${i}`));
      expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...values)).toBeLessThan(1);
      expect(values.filter((v) => v < 0.5).length).toBeGreaterThan(60);
      expect(values.filter((v) => v >= 0.5).length).toBeGreaterThan(60);
    });
  });

  describe('feasibility', () => {
    it('rejects a 15-minute schedule for a 900 s token', () => {
      const verdict = feasibility(900, policy, 900);
      expect(verdict.ok).toBe(false);
    });
    it('accepts a 5-minute schedule for a 900 s token', () => {
      expect(feasibility(900, policy, 300)).toEqual({ ok: true });
    });
    it('rejects a schedule whose gap plus margin reaches the lifetime exactly', () => {
      expect(feasibility(900, policy, 840).ok).toBe(false);
      expect(feasibility(900, policy, 839).ok).toBe(true);
    });
    it('accepts an hourly schedule for a 3600 s token only with a small enough margin', () => {
      expect(feasibility(3600, policy, 3600).ok).toBe(false);
      expect(feasibility(3600, policy, 1800).ok).toBe(true);
    });
  });

  describe('decide', () => {
    it('reports a missing token', () => {
      expect(decide(T0, emptyState('p'), policy, 300)).toEqual({ action: 'missing' });
    });
    it('keeps a 900 s token fresh until 360 s remain with a 5-minute schedule', () => {
      const state = stateWith(900);
      expect(decide(T0 + 539_000, state, policy, 300)).toMatchObject({
        action: 'fresh',
        remaining: 361,
        lifetime: 900,
      });
      expect(decide(T0 + 540_000, state, policy, 300)).toMatchObject({ action: 'due', remaining: 360 });
    });
    it('keeps a 3600 s token fresh until 900 s remain', () => {
      const state = stateWith(3600);
      expect(decide(T0 + 2_699_000, state, policy, 300).action).toBe('fresh');
      expect(decide(T0 + 2_700_000, state, policy, 300).action).toBe('due');
    });
    it('uses the real lifetime of the stored token, not a configured one', () => {
      // A server that answered expires_in 120 makes 120 s the lifetime: due at once with a 60 s gap + 60 s margin.
      expect(decide(T0 + 1000, stateWith(120), policy, 60).action).toBe('due');
    });
    it('treats an expired token as due', () => {
      expect(decide(T0 + 901_000, stateWith(900), policy, 300)).toMatchObject({ action: 'due' });
    });
  });

  describe('renewalDueAt', () => {
    it('is the first moment decide() calls the token due, for every lifetime and jitter', () => {
      const jittered: EffectivePolicy = { ...policy, jitter_fraction: 0.1 };
      for (const lifetime of [120, 900, 3600, 86_400])
        for (const name of ['a', 'klikoo', 'p00042']) {
          const state = stateWith(lifetime, name);
          const dueAt = renewalDueAt(state, jittered, 300) as number;
          expect(decide(Math.ceil(dueAt) - 1, state, jittered, 300).action, `${lifetime} s, ${name}`).toBe('fresh');
          expect(decide(Math.ceil(dueAt), state, jittered, 300).action, `${lifetime} s, ${name}`).toBe('due');
        }
    });
    it('is T0 + 540 s for a 900 s token with a 5-minute schedule', () => {
      expect(renewalDueAt(stateWith(900), policy, 300)).toBe(T0 + 540_000);
    });
    it('is undefined without a token: it is due now', () => {
      expect(renewalDueAt(emptyState('p'), policy, 300)).toBeUndefined();
    });
  });

  describe('chooseMethod', () => {
    const base = { canRefresh: true, prefer: 'refresh' as const, policy, gap: 300 };
    it('refreshes while the refresh token has time left', () => {
      const state = {
        ...stateWith(3600),
        refresh_token: 'r',
        refresh_expires_at: new Date(T0 + 864_000_000).toISOString(),
      };
      expect(chooseMethod(T0, state, base)).toBe('refresh');
    });
    it('re-authenticates when the refresh token is near expiry', () => {
      const state = {
        ...stateWith(3600),
        refresh_token: 'r',
        refresh_expires_at: new Date(T0 + 300_000).toISOString(),
      };
      expect(chooseMethod(T0, state, base)).toBe('obtain');
    });
    it('re-authenticates without a refresh token', () => {
      expect(chooseMethod(T0, stateWith(3600), base)).toBe('obtain');
    });
    it('re-authenticates when the operator prefers it', () => {
      const state = { ...stateWith(3600), refresh_token: 'r' };
      expect(chooseMethod(T0, state, { ...base, prefer: 'reauthenticate' })).toBe('obtain');
    });
    it('re-authenticates when the profile cannot refresh', () => {
      const state = { ...stateWith(3600), refresh_token: 'r' };
      expect(chooseMethod(T0, state, { ...base, canRefresh: false })).toBe('obtain');
    });
  });

  describe('backoffSeconds', () => {
    it('doubles from the base up to the maximum', () => {
      expect([1, 2, 3, 4].map((n) => backoffSeconds(n, policy))).toEqual([60, 120, 240, 480]);
      expect(backoffSeconds(40, policy)).toBe(3600);
    });
  });

  describe('effectivePolicy', () => {
    it('applies provider overrides over the defaults', () => {
      const merged = effectivePolicy(defaults, { min_margin_seconds: 5 });
      expect(merged.min_margin_seconds).toBe(5);
      expect(merged.renew_before_fraction).toBe(defaults.renew_before_fraction);
      expect('schedule' in merged).toBe(false);
    });
  });
});
