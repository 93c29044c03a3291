import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { type AcquireLeaseOptions, acquireLease } from '../../src/engine/lease.js';
import { chooseMethod, type EffectivePolicy, effectivePolicy } from '../../src/engine/policy.js';
import { emptyState, type StateRecord } from '../../src/engine/records.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { MemoryStore } from '../helpers/memory-store.js';

const defaults = resolvedConfigSchema.shape.policy.parse({});
const policy: EffectivePolicy = { ...effectivePolicy(defaults, undefined), jitter_fraction: 0 };
const T0 = Date.parse('2026-11-29T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

/** A state holding a 3600 s token issued at T0 and refresh token `r` that expires `refreshLeft` ms after T0. */
function stateWith(refreshLeft: number): StateRecord {
  return {
    ...emptyState('crm'),
    generation: 1,
    token: { access_token: 'a', token_type: 'Bearer', issued_at: iso(T0), expires_at: iso(T0 + 3_600_000) },
    refresh_token: 'r',
    refresh_expires_at: iso(T0 + refreshLeft),
  };
}

describe('chooseMethod for a provider that cannot re-authenticate', () => {
  const base = { canRefresh: true, prefer: 'refresh' as const, policy, gap: 300 };

  it('refreshes a refresh token near its expiry, which a provider that can re-authenticate would not', () => {
    const nearExpiry = stateWith(300_000);
    expect(chooseMethod(T0, nearExpiry, base)).toBe('obtain');
    expect(chooseMethod(T0, nearExpiry, { ...base, canObtain: false })).toBe('refresh');
  });

  it('still obtains (and so fails, asking for an import) without a refresh token', () => {
    const { refresh_token: _r, refresh_expires_at: _e, ...none } = stateWith(0);
    expect(chooseMethod(T0, none, { ...base, canObtain: false })).toBe('obtain');
  });
});

describe('acquireLease after a runner died during a refresh', () => {
  async function leaseOver(canObtain: boolean | undefined) {
    const store = new MemoryStore();
    const abandoned: StateRecord = {
      ...stateWith(86_400_000),
      lease: { holder: 'dead', acquired_at: iso(T0 - 120_000), expires_at: iso(T0 - 60_000), intent: 'refresh' },
    };
    await store.write('state/crm', abandoned, null);
    const options: AcquireLeaseOptions = {
      provider: 'crm',
      store,
      holder: 'me',
      policy,
      gapSeconds: 300,
      canRefresh: true,
      ...(canObtain === undefined ? {} : { canObtain }),
      renewal: 'refresh',
      now: () => T0,
      sleep: async () => {},
      logger: captureLogs().logger,
      leaseWaitMs: 0,
    };
    const result = await acquireLease(options);
    if (result.kind !== 'leased') throw new Error(`expected a lease, got ${JSON.stringify(result)}`);
    return result.lease;
  }

  it('re-authenticates and drops the possibly spent refresh token when the provider can re-authenticate', async () => {
    const lease = await leaseOver(undefined);
    expect(lease).toMatchObject({ method: 'obtain', reason: 'abandoned-refresh' });
    expect(lease.state.refresh_token).toBeUndefined();
  });

  it('tries the refresh token at once when the provider cannot re-authenticate: a spent one is refused anyway', async () => {
    const lease = await leaseOver(false);
    expect(lease).toMatchObject({ method: 'refresh', reason: 'abandoned-refresh' });
    expect(lease.state.refresh_token).toBe('r');
  });
});
