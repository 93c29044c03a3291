/**
 * The second step of a rotation: calling the token endpoint under a lease, with retries.
 * No store is touched here; the result says what happened and {@link nextState} turns it
 * into the next state record.
 *
 * A refresh token is single-use: a refused refresh (`invalid_grant`) or a lost one (a
 * timeout, a dropped connection) means it is dead or may be spent, so it is never sent
 * again and the call falls back to re-authenticating in the same pass.
 *
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6 refresh tokens
 * @see https://www.rfc-editor.org/rfc/rfc9700#section-4.14.2 refresh token rotation
 */
import { describeError, ProviderError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { TokenProvider, TokenSet } from '../providers/contract.js';
import type { EffectivePolicy } from './policy.js';
import type { Method } from './records.js';

/** Options of {@link callProvider}. */
export interface CallProviderOptions {
  readonly provider: TokenProvider;
  /** The method the lease was taken for. */
  readonly method: Method;
  /** The leased refresh token; a `refresh` without one re-authenticates. */
  readonly refreshToken: string | undefined;
  readonly policy: Pick<EffectivePolicy, 'retries' | 'max_retry_wait_seconds' | 'request_timeout_seconds'>;
  /** When the lease expires (epoch ms): no retry is started that could outlive it. */
  readonly leaseEndsAt: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  readonly logger: Logger;
  /** Once aborted (shutdown), no further retry is started. */
  readonly signal?: AbortSignal | undefined;
}

/** What the provider call came to; no token in it is ever logged. */
export type ProviderResult = {
  /** The method of the last call made (`obtain` after a refresh fell back). */
  readonly method: Method;
  /** True when a refresh was refused or lost: the stored refresh token must be dropped. */
  readonly refreshDead: boolean;
} & (
  | {
      readonly ok: true;
      readonly tokenSet: TokenSet;
      /**
       * When the successful request was sent (epoch ms): the token's lifetime is counted
       * from here, the safe lower bound, not from when the answer arrived.
       */
      readonly sentAt: number;
    }
  | { readonly ok: false; readonly failure: ProviderError }
);

/** Any error as a classified provider failure; something unclassified is permanent (repeating will not fix a bug). */
function classify(error: unknown): ProviderError {
  return error instanceof ProviderError
    ? error
    : new ProviderError('permanent', describeError(error), { cause: error });
}

/**
 * Calls the provider until it answers with a token or the failure is final. A retryable
 * failure is retried after `Retry-After` (or 1 s, 2 s, 4 s …, capped at
 * `max_retry_wait_seconds`) while retries are left and the lease still has room for
 * another request; a dead refresh token switches to `obtain` at once. Never throws.
 */
export async function callProvider(options: CallProviderOptions): Promise<ProviderResult> {
  const { provider, policy, logger, now, refreshToken } = options;
  let method: Method = options.method;
  let refreshDead = false;
  let retriesLeft = policy.retries;

  for (;;) {
    const refresh = method === 'refresh' ? provider.refresh : undefined;
    const sentAt = now();
    try {
      logger.debug({ method }, 'calling token endpoint');
      const tokenSet =
        refresh !== undefined && refreshToken !== undefined
          ? await refresh.call(provider, refreshToken)
          : await provider.obtain();
      return { ok: true, tokenSet, method, refreshDead, sentAt };
    } catch (error) {
      const failure = classify(error);
      if (method === 'refresh' && (failure.failureClass === 'reauthenticate' || failure.ambiguous)) {
        logger.warn(
          { error: { class: failure.failureClass, message: failure.message } },
          'refresh failed; re-authenticating',
        );
        method = 'obtain';
        refreshDead = true;
        continue;
      }
      const wait = Math.min(
        failure.retryAfterMs ?? 1000 * 2 ** (policy.retries - retriesLeft),
        policy.max_retry_wait_seconds * 1000,
      );
      const roomInLease = options.leaseEndsAt - now() - wait - policy.request_timeout_seconds * 1000 > 5000;
      if (failure.failureClass === 'retryable' && retriesLeft > 0 && roomInLease && !options.signal?.aborted) {
        retriesLeft--;
        logger.info(
          { error: { class: failure.failureClass, message: failure.message }, waitMs: wait },
          'retrying token call',
        );
        await options.sleep(wait);
        continue;
      }
      return { ok: false, failure, method, refreshDead };
    }
  }
}
