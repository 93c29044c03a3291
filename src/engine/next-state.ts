/**
 * The third step of a rotation: the next state record, computed from the leased state
 * and what the provider call came to. Pure: no I/O, no clock, no mutation.
 */
import type { ProviderResult } from './call.js';
import { backoffSeconds, type EffectivePolicy } from './policy.js';
import type { StateRecord } from './records.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** The refresh token fields of a state record. */
type RefreshFields = Pick<StateRecord, 'refresh_token' | 'refresh_expires_at'>;

/** The refresh token and its expiry as they stand in `state` (absent fields stay absent). */
function refreshOf(state: StateRecord): RefreshFields {
  return {
    ...(state.refresh_token !== undefined ? { refresh_token: state.refresh_token } : {}),
    ...(state.refresh_expires_at !== undefined ? { refresh_expires_at: state.refresh_expires_at } : {}),
  };
}

/**
 * The refresh token to keep after a call: a new one replaces the old (it is single-use);
 * a refresh answered without one keeps the old one (RFC 6749 §6 lets the server keep it
 * valid); a dead one, or one left behind by `obtain`, is dropped.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
function nextRefresh(leased: StateRecord, result: ProviderResult): RefreshFields {
  if (result.ok && result.tokenSet.refreshToken !== undefined) {
    const { refreshToken, refreshExpiresIn } = result.tokenSet;
    return {
      refresh_token: refreshToken,
      ...(refreshExpiresIn !== undefined ? { refresh_expires_at: iso(result.sentAt + refreshExpiresIn * 1000) } : {}),
    };
  }
  if (result.refreshDead) return {};
  // After a failure the stored refresh token is still good; after a success only a refresh keeps it.
  return !result.ok || result.method === 'refresh' ? refreshOf(leased) : {};
}

/**
 * The state record to write after a provider call under the lease `leased`: the lease
 * released, and either
 * - on success, the new token (generation + 1, `issued_at` and `expires_at` counted from
 *   when the request was sent), the method, failures reset and `last_success_at` = `now`;
 * - on failure, the token kept, the failure recorded, and, for a permanent one, a
 *   back-off doubling per consecutive failure up to `backoff_max_seconds`.
 *
 * A dead refresh token is dropped in both cases.
 * @param now when the call finished (epoch ms).
 * @example
 * const next = nextState(leased, await callProvider(options), Date.now(), policy);
 * await writeWithRetry(store, recordPaths.state(name), next, { expectedVersion: leaseVersion });
 */
export function nextState(
  leased: StateRecord,
  result: ProviderResult,
  now: number,
  policy: Pick<EffectivePolicy, 'backoff_base_seconds' | 'backoff_max_seconds'>,
): StateRecord {
  const { lease: _released, refresh_token: _token, refresh_expires_at: _expiry, ...kept } = leased;
  const refresh = nextRefresh(leased, result);

  if (!result.ok) {
    const { failure } = result;
    const consecutive = leased.failures.consecutive + 1;
    const permanent = failure.failureClass === 'permanent';
    return {
      ...kept,
      ...refresh,
      failures: {
        consecutive,
        last: { at: iso(now), class: failure.failureClass, code: failure.code, message: failure.message },
        ...(permanent ? { next_attempt_at: iso(now + backoffSeconds(consecutive, policy) * 1000) } : {}),
      },
    };
  }

  const { tokenSet, sentAt } = result;
  return {
    ...kept,
    generation: leased.generation + 1,
    token: {
      access_token: tokenSet.accessToken,
      token_type: tokenSet.tokenType,
      issued_at: iso(sentAt),
      expires_at: iso(sentAt + tokenSet.expiresIn * 1000),
    },
    ...refresh,
    method: result.method,
    failures: { consecutive: 0 },
    last_success_at: iso(now),
  };
}
