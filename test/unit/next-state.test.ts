import { describe, expect, it } from 'vitest';
import type { ProviderResult } from '../../src/engine/call.js';
import { nextState } from '../../src/engine/next-state.js';
import { emptyState, type StateRecord, stateRecordSchema } from '../../src/engine/records.js';
import { ProviderError } from '../../src/errors.js';
import type { TokenSet } from '../../src/providers/contract.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
const policy = { backoff_base_seconds: 60, backoff_max_seconds: 300 };

/** A state with generation 4, a token, a refresh token and this runner's lease taken at T0. */
function leased(overrides: Partial<StateRecord> = {}): StateRecord {
  return {
    ...emptyState('p1'),
    generation: 4,
    token: {
      access_token: 'at-old',
      token_type: 'Bearer',
      issued_at: iso(T0 - 3_600_000),
      expires_at: iso(T0 + 300_000),
    },
    refresh_token: 'rt-old',
    refresh_expires_at: iso(T0 + 86_400_000),
    method: 'refresh',
    last_success_at: iso(T0 - 3_600_000),
    lease: { holder: 'runner-a', acquired_at: iso(T0), expires_at: iso(T0 + 120_000), intent: 'refresh' },
    last_attempt_at: iso(T0),
    ...overrides,
  };
}

function success(
  tokenSet: Partial<TokenSet>,
  extra: { method?: 'obtain' | 'refresh'; refreshDead?: boolean; sentAt?: number } = {},
): ProviderResult {
  return {
    ok: true,
    tokenSet: { accessToken: 'at-new', tokenType: 'Bearer', expiresIn: 900, ...tokenSet },
    method: extra.method ?? 'refresh',
    refreshDead: extra.refreshDead ?? false,
    sentAt: extra.sentAt ?? T0 + 1000,
  };
}

function failure(
  error: ProviderError,
  extra: { method?: 'obtain' | 'refresh'; refreshDead?: boolean } = {},
): ProviderResult {
  return { ok: false, failure: error, method: extra.method ?? 'obtain', refreshDead: extra.refreshDead ?? false };
}

const permanent = () => new ProviderError('permanent', 'invalid_client', { status: 401, reason: 'invalid_client' });
const NOW = T0 + 3000;

describe('nextState', () => {
  describe('after a success', () => {
    it('stores the token obtained with the credentials, one generation up, with the lease released', () => {
      const { refresh_token: _token, refresh_expires_at: _expiry, ...neverRefreshed } = leased({ method: 'obtain' });

      const next = nextState(
        neverRefreshed,
        success({ refreshToken: 'rt-new', refreshExpiresIn: 7200 }, { method: 'obtain' }),
        NOW,
        policy,
      );

      expect(next).toEqual({
        schema: 1,
        provider: 'p1',
        generation: 5,
        token: {
          access_token: 'at-new',
          token_type: 'Bearer',
          issued_at: iso(T0 + 1000),
          expires_at: iso(T0 + 1000 + 900_000),
        },
        refresh_token: 'rt-new',
        refresh_expires_at: iso(T0 + 1000 + 7_200_000),
        method: 'obtain',
        failures: { consecutive: 0 },
        last_success_at: iso(NOW),
        last_attempt_at: iso(T0),
      });
      expect(stateRecordSchema.parse(next)).toEqual(next);
    });

    it('replaces a used refresh token with the new one from a refresh', () => {
      const next = nextState(leased(), success({ refreshToken: 'rt-new', refreshExpiresIn: 7200 }), NOW, policy);

      expect(next).toMatchObject({
        method: 'refresh',
        generation: 5,
        refresh_token: 'rt-new',
        refresh_expires_at: iso(T0 + 1000 + 7_200_000),
      });
      expect(next.lease).toBeUndefined();
    });

    it('drops the old refresh token expiry when the new refresh token comes without one', () => {
      const next = nextState(leased(), success({ refreshToken: 'rt-new' }), NOW, policy);

      expect(next.refresh_token).toBe('rt-new');
      expect('refresh_expires_at' in next).toBe(false);
    });

    it('keeps the old refresh token and its expiry when a refresh returns none', () => {
      const next = nextState(leased(), success({}), NOW, policy);

      expect(next.refresh_token).toBe('rt-old');
      expect(next.refresh_expires_at).toBe(iso(T0 + 86_400_000));
      expect(next.token?.access_token).toBe('at-new');
    });

    it('drops the old refresh token when re-authenticating returns none', () => {
      const next = nextState(leased(), success({}, { method: 'obtain' }), NOW, policy);

      expect('refresh_token' in next).toBe(false);
      expect('refresh_expires_at' in next).toBe(false);
    });

    it('drops a dead refresh token when the fallback obtain returns no refresh token', () => {
      const next = nextState(leased(), success({}, { method: 'obtain', refreshDead: true }), NOW, policy);

      expect(next).toMatchObject({ method: 'obtain', generation: 5 });
      expect('refresh_token' in next).toBe(false);
      expect('refresh_expires_at' in next).toBe(false);
    });

    it('resets the failure history and its back-off', () => {
      const failing = leased({
        failures: {
          consecutive: 3,
          last: { at: iso(T0 - 60_000), class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'invalid_client' },
          next_attempt_at: iso(T0 + 60_000),
        },
      });

      expect(nextState(failing, success({}), NOW, policy).failures).toEqual({ consecutive: 0 });
    });

    it('counts the token and refresh token lifetimes from when the request was sent, not from now', () => {
      const sentAt = T0 + 1000;
      const answeredAt = sentAt + 25_000;

      const next = nextState(
        leased(),
        success({ expiresIn: 900, refreshToken: 'rt-new', refreshExpiresIn: 3600 }, { sentAt }),
        answeredAt,
        policy,
      );

      expect(next.token?.issued_at).toBe(iso(sentAt));
      expect(next.token?.expires_at).toBe(iso(sentAt + 900_000));
      expect(next.refresh_expires_at).toBe(iso(sentAt + 3_600_000));
      expect(next.last_success_at).toBe(iso(answeredAt));
    });
  });

  describe('after a failure', () => {
    it('keeps the token, the generation and the refresh token, and records the failure without back-off when it is retryable', () => {
      const before = leased();
      const next = nextState(
        before,
        failure(new ProviderError('retryable', 'HTTP 503', { status: 503 }), { method: 'refresh' }),
        NOW,
        policy,
      );

      expect(next).toEqual({
        schema: 1,
        provider: 'p1',
        generation: 4,
        token: before.token,
        refresh_token: 'rt-old',
        refresh_expires_at: before.refresh_expires_at,
        method: 'refresh',
        failures: {
          consecutive: 1,
          last: { at: iso(NOW), class: 'retryable', code: 'PROVIDER_RETRYABLE', message: 'HTTP 503' },
        },
        last_success_at: before.last_success_at,
        last_attempt_at: iso(T0),
      });
    });

    it('drops an earlier back-off when the failure is not permanent', () => {
      const backingOff = leased({ failures: { consecutive: 1, next_attempt_at: iso(T0 - 1000) } });

      const next = nextState(backingOff, failure(new ProviderError('retryable', 'timeout', {})), NOW, policy);

      expect(next.failures.consecutive).toBe(2);
      expect(next.failures.next_attempt_at).toBeUndefined();
    });

    it('backs off after a permanent failure, doubling per consecutive failure up to the maximum', () => {
      const waits = [0, 1, 2, 3, 7].map((before) => {
        const next = nextState(leased({ failures: { consecutive: before } }), failure(permanent()), NOW, policy);
        return (Date.parse(next.failures.next_attempt_at!) - NOW) / 1000;
      });

      expect(waits).toEqual([60, 120, 240, 300, 300]);
    });

    it('records the class, code and message of a permanent failure', () => {
      const next = nextState(leased(), failure(permanent()), NOW, policy);

      expect(next.failures).toEqual({
        consecutive: 1,
        last: { at: iso(NOW), class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'invalid_client' },
        next_attempt_at: iso(NOW + 60_000),
      });
    });

    it('drops a dead refresh token even when the fallback obtain failed too', () => {
      const next = nextState(leased(), failure(permanent(), { refreshDead: true }), NOW, policy);

      expect('refresh_token' in next).toBe(false);
      expect('refresh_expires_at' in next).toBe(false);
      expect(next.token?.access_token).toBe('at-old');
    });

    it('releases the lease', () => {
      expect('lease' in nextState(leased(), failure(permanent()), NOW, policy)).toBe(false);
    });
  });

  it('leaves the leased state as it was', () => {
    const before = leased();
    const copy = structuredClone(before);

    nextState(before, success({ refreshToken: 'rt-new' }), NOW, policy);
    nextState(before, failure(permanent(), { refreshDead: true }), NOW, policy);

    expect(before).toEqual(copy);
  });
});
