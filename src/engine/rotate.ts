/**
 * One provider, one pass: read, repair, decide, lease, call, persist, publish.
 *
 * Order matters for safety. The lease (a compare-and-set on the state record) is taken
 * before the token endpoint is called, so two runners never spend the same refresh
 * token. The private state, holding the new token, is written before the public record,
 * so a crash between the two is repaired by republishing, not by calling the provider
 * again. A lease abandoned during a refresh means the refresh token may be spent and the
 * published access token revoked: the next runner re-authenticates at once.
 */
import { ConflictError, describeError, ErrorCodes, ProviderError, RotatorError, type FailureClass } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { fingerprint } from '../observability/fingerprint.js';
import type { TokenProvider, TokenSet } from '../providers/contract.js';
import type { SecretStore } from '../stores/contract.js';
import { backoffSeconds, chooseMethod, decide, type EffectivePolicy } from './policy.js';
import { publishBehind } from './publish.js';
import { emptyState, recordPaths, type Method, type StateRecord } from './records.js';
import { readState, writeWithRetry, type WriteRetryOptions } from './records-io.js';

/** Everything needed to rotate one provider. */
export interface RotationTarget {
  readonly name: string;
  readonly provider: TokenProvider;
  readonly policy: EffectivePolicy;
  /** Refresh when possible, or always re-authenticate. */
  readonly renewal: 'refresh' | 'reauthenticate';
}

/** Shared by every rotation of a pass. */
export interface RotationEnv {
  readonly store: SecretStore;
  /** Longest time between two scheduled passes, in seconds. */
  readonly gapSeconds: number;
  /** Identifies this runner in leases. */
  readonly holder: string;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** Rotate even when fresh and ignore back-off. */
  readonly force?: boolean;
  /** Decide and report, but call no provider and write nothing. */
  readonly dryRun?: boolean;
  /** How long to wait for another runner's lease before reporting `busy` (default: the lease length). */
  readonly leaseWaitMs?: number;
  readonly writeRetry?: WriteRetryOptions;
  /** Once aborted (shutdown), stop waiting for leases and retries; calls in flight complete. */
  readonly signal?: AbortSignal;
}

/** What happened to one provider in a pass. */
export type OutcomeStatus = 'fresh' | 'rotated' | 'repaired' | 'would-rotate' | 'busy' | 'backoff' | 'failed';

/** A classified failure, safe to print. */
export interface OutcomeError {
  readonly class: FailureClass | 'store' | 'lease';
  readonly code: string;
  readonly message: string;
}

/** The result of rotating one provider. */
export interface Outcome {
  readonly provider: string;
  readonly status: OutcomeStatus;
  /** True when the provider is left with a valid token and nothing failed. */
  readonly ok: boolean;
  readonly method?: Method;
  readonly reason?: 'missing' | 'due' | 'forced' | 'abandoned-refresh';
  readonly expiresAt?: string;
  readonly generation?: number;
  readonly error?: OutcomeError;
  readonly durationMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errorOf(error: unknown): OutcomeError {
  if (error instanceof ProviderError) return { class: error.failureClass, code: error.code, message: error.message };
  if (error instanceof RotatorError) {
    const isLease = error.code === ErrorCodes.LEASE_BUSY || error.code === ErrorCodes.STORE_CONFLICT;
    return { class: isLease ? 'lease' : 'store', code: error.code, message: error.message };
  }
  return { class: 'store', code: ErrorCodes.STORE_UNAVAILABLE, message: describeError(error) };
}

/** Rotates one provider if it needs it. Never throws: every failure becomes an outcome. */
export async function rotate(target: RotationTarget, env: RotationEnv): Promise<Outcome> {
  const now = env.now ?? Date.now;
  const started = now();
  const log = env.logger.child({ provider: target.name });
  const finish = (outcome: Omit<Outcome, 'durationMs' | 'provider'>): Outcome => {
    const result = { provider: target.name, ...outcome, durationMs: now() - started };
    const level = result.ok ? (result.status === 'fresh' ? 'debug' : 'info') : 'warn';
    log[level]({ outcome: result.status, method: result.method, reason: result.reason, error: result.error }, `provider ${result.status}`);
    return result;
  };
  try {
    return await rotateUnsafe(target, env, log, finish);
  } catch (error) {
    return finish({ status: 'failed', ok: false, error: errorOf(error) });
  }
}

async function rotateUnsafe(
  target: RotationTarget,
  env: RotationEnv,
  log: Logger,
  finish: (outcome: Omit<Outcome, 'durationMs' | 'provider'>) => Outcome,
): Promise<Outcome> {
  const now = env.now ?? Date.now;
  const sleep = env.sleep ?? defaultSleep;
  const { store } = env;
  const { policy } = target;
  const statePath = recordPaths.state(target.name);
  const waitUntil = now() + (env.leaseWaitMs ?? policy.lease_seconds * 1000);
  let repaired = false;

  for (;;) {
    const read = await readState(store, target.name);
    const state = read.record ?? emptyState(target.name);
    repaired = (await publishBehind(state, { provider: target.name, store, logger: log, writeRetry: env.writeRetry })) || repaired;

    const t = now();
    const lease = state.lease;
    if (lease !== undefined && Date.parse(lease.expires_at) > t && lease.holder !== env.holder) {
      if (t < waitUntil && !env.dryRun && !env.signal?.aborted) {
        await sleep(Math.min(500, Math.max(50, waitUntil - t)));
        continue;
      }
      const valid = state.token !== undefined && Date.parse(state.token.expires_at) > t;
      return finish({
        status: 'busy',
        ok: valid,
        ...(valid ? {} : { error: { class: 'lease', code: ErrorCodes.LEASE_BUSY, message: `another runner (${lease.holder}) holds the lease` } }),
      });
    }
    const abandonedRefresh = lease !== undefined && lease.intent === 'refresh';
    const decision = decide(t, state, policy, env.gapSeconds);
    const reason = abandonedRefresh ? 'abandoned-refresh' : decision.action === 'fresh' ? (env.force ? 'forced' : undefined) : decision.action;
    if (reason === undefined) {
      return finish({ status: repaired ? 'repaired' : 'fresh', ok: true, ...tokenFacts(state) });
    }
    const method: Method = abandonedRefresh
      ? 'obtain'
      : chooseMethod(t, state, {
          canRefresh: target.provider.refresh !== undefined,
          prefer: target.renewal,
          policy,
          gap: env.gapSeconds,
        });
    const nextAttempt = state.failures.next_attempt_at;
    if (nextAttempt !== undefined && Date.parse(nextAttempt) > t && !env.force && !abandonedRefresh) {
      return finish({
        status: 'backoff',
        ok: false,
        reason,
        ...tokenFacts(state),
        error: state.failures.last
          ? { class: state.failures.last.class, code: state.failures.last.code, message: `backing off until ${nextAttempt}: ${state.failures.last.message}` }
          : { class: 'permanent', code: ErrorCodes.PROVIDER_PERMANENT, message: `backing off until ${nextAttempt}` },
      });
    }
    if (env.dryRun) return finish({ ...tokenFacts(state), status: 'would-rotate', ok: true, method, reason });

    // Take the lease: one compare-and-set on the state record.
    const leased: StateRecord = {
      ...state,
      lease: { holder: env.holder, acquired_at: iso(t), expires_at: iso(t + policy.lease_seconds * 1000), intent: method },
      last_attempt_at: iso(t),
    };
    if (abandonedRefresh) {
      log.warn({ refresh_token_fp: state.refresh_token && fingerprint(state.refresh_token) }, 'a runner died during a refresh; re-authenticating');
      delete leased.refresh_token;
      delete leased.refresh_expires_at;
    }
    let leaseVersion: string;
    try {
      leaseVersion = await store.write(statePath, JSON.parse(JSON.stringify(leased)) as Record<string, unknown>, read.version);
    } catch (error) {
      if (error instanceof ConflictError) continue; // someone else moved first: look again
      throw error;
    }
    return await callAndPersist(target, env, log, finish, leased, leaseVersion, method, reason);
  }
}

function tokenFacts(state: StateRecord): Pick<Outcome, 'expiresAt' | 'generation' | 'method'> {
  return {
    ...(state.token ? { expiresAt: state.token.expires_at, generation: state.generation } : {}),
    ...(state.method ? { method: state.method } : {}),
  };
}

async function callAndPersist(
  target: RotationTarget,
  env: RotationEnv,
  log: Logger,
  finish: (outcome: Omit<Outcome, 'durationMs' | 'provider'>) => Outcome,
  leased: StateRecord,
  leaseVersion: string,
  initialMethod: Method,
  reason: NonNullable<Outcome['reason']>,
): Promise<Outcome> {
  const now = env.now ?? Date.now;
  const sleep = env.sleep ?? defaultSleep;
  const { policy } = target;
  const leaseEnds = Date.parse(leased.lease!.expires_at);
  let method = initialMethod;
  let refreshDead = false;
  let retriesLeft = policy.retries;
  let tokenSet: TokenSet | undefined;
  let failure: unknown;
  // When the request that answered was sent: the token's lifetime is counted from here,
  // the safe lower bound, not from when the answer arrived.
  let sentAt = now();

  while (tokenSet === undefined) {
    try {
      sentAt = now();
      log.debug({ method }, 'calling token endpoint');
      tokenSet =
        method === 'refresh' && leased.refresh_token !== undefined && target.provider.refresh
          ? await target.provider.refresh(leased.refresh_token)
          : await target.provider.obtain();
      break;
    } catch (error) {
      const classified = error instanceof ProviderError ? error : new ProviderError('permanent', describeError(error), { cause: error });
      // A refused or lost refresh: the refresh token is dead or may be spent. Never resend it.
      if (method === 'refresh' && (classified.failureClass === 'reauthenticate' || classified.ambiguous)) {
        log.warn({ error: { class: classified.failureClass, message: classified.message } }, 'refresh failed; re-authenticating');
        method = 'obtain';
        refreshDead = true;
        continue;
      }
      const wait = Math.min(classified.retryAfterMs ?? 1000 * 2 ** (policy.retries - retriesLeft), policy.max_retry_wait_seconds * 1000);
      const roomInLease = leaseEnds - now() - wait - policy.request_timeout_seconds * 1000 > 5000;
      if (classified.failureClass === 'retryable' && retriesLeft > 0 && roomInLease && !env.signal?.aborted) {
        retriesLeft--;
        log.info({ error: { class: classified.failureClass, message: classified.message }, waitMs: wait }, 'retrying token call');
        await sleep(wait);
        continue;
      }
      failure = classified;
      break;
    }
  }

  const t = now();
  const statePath = recordPaths.state(target.name);
  const { lease: _released, ...rest } = leased;
  if (tokenSet === undefined) {
    const error = errorOf(failure);
    const consecutive = leased.failures.consecutive + 1;
    const permanent = error.class === 'permanent';
    const failedState: StateRecord = {
      ...rest,
      failures: {
        consecutive,
        last: { at: iso(t), class: error.class === 'reauthenticate' ? 'reauthenticate' : permanent ? 'permanent' : 'retryable', code: error.code, message: error.message },
        ...(permanent ? { next_attempt_at: iso(t + backoffSeconds(consecutive, policy) * 1000) } : {}),
      },
    };
    if (refreshDead) {
      delete failedState.refresh_token;
      delete failedState.refresh_expires_at;
    }
    await writeWithRetry(env.store, statePath, failedState, { expectedVersion: leaseVersion, retry: env.writeRetry });
    return finish({ ...tokenFacts(failedState), status: 'failed', ok: false, method, reason, error });
  }

  const keepOldRefresh = method === 'refresh' && tokenSet.refreshToken === undefined && !refreshDead;
  const next: StateRecord = {
    ...rest,
    generation: leased.generation + 1,
    token: {
      access_token: tokenSet.accessToken,
      token_type: tokenSet.tokenType,
      issued_at: iso(sentAt),
      expires_at: iso(sentAt + tokenSet.expiresIn * 1000),
    },
    method,
    failures: { consecutive: 0 },
    last_success_at: iso(t),
  };
  if (tokenSet.refreshToken !== undefined) {
    next.refresh_token = tokenSet.refreshToken;
    if (tokenSet.refreshExpiresIn !== undefined) next.refresh_expires_at = iso(sentAt + tokenSet.refreshExpiresIn * 1000);
    else delete next.refresh_expires_at;
  } else if (!keepOldRefresh) {
    delete next.refresh_token;
    delete next.refresh_expires_at;
  }
  await writeWithRetry(env.store, statePath, next, { expectedVersion: leaseVersion, retry: env.writeRetry });
  log.info(
    {
      method,
      generation: next.generation,
      expires_in: tokenSet.expiresIn,
      access_token_fp: fingerprint(tokenSet.accessToken),
      ...(tokenSet.refreshToken ? { refresh_token_fp: fingerprint(tokenSet.refreshToken) } : {}),
    },
    'obtained token',
  );
  await publishBehind(next, { provider: target.name, store: env.store, logger: log, writeRetry: env.writeRetry });
  return finish({ status: 'rotated', ok: true, method, reason, ...tokenFacts(next) });
}
