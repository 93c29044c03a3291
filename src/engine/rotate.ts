/**
 * One provider, one pass, in three steps: take the lease ({@link acquireLease}), call the
 * provider ({@link callProvider}), build the next state ({@link nextState}); then write
 * the state and publish.
 *
 * Order matters for safety. The lease (a compare-and-set on the state record) is taken
 * before the token endpoint is called, so two runners never spend the same refresh
 * token. The private state, holding the new token, is written before the public record,
 * so a crash between the two is repaired by republishing, not by calling the provider
 * again. A lease abandoned during a refresh means the refresh token may be spent and the
 * published access token revoked: the next runner re-authenticates at once.
 */

import { fingerprint } from '../observability/fingerprint.js';
import { lazyChild } from '../observability/lazy-child.js';
import type { Logger } from '../observability/logger.js';
import type { TokenProvider } from '../providers/contract.js';
import type { SecretStore } from '../stores/contract.js';
import { providerUsage, tokenLifetime } from './budget.js';
import { callProvider } from './call.js';
import { acquireLease, type TakenLease } from './lease.js';
import { nextState } from './next-state.js';
import { type Outcome, type OutcomeFacts, outcomeError, tokenFacts } from './outcome.js';
import type { EffectivePolicy } from './policy.js';
import { publishBehind } from './publish.js';
import { recordPaths } from './records.js';
import { type WriteRetryOptions, writeWithRetry } from './records-io.js';
import { revokeSuperseded } from './revoke.js';

export type { Outcome, OutcomeError, OutcomeStatus, RotationReason } from './outcome.js';

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

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rotates one provider if it needs it. Never throws: every failure becomes an outcome. */
export async function rotate(target: RotationTarget, env: RotationEnv): Promise<Outcome> {
  const now = env.now ?? Date.now;
  const started = now();
  const log = lazyChild(env.logger, { provider: target.name });
  const finish = (facts: OutcomeFacts): Outcome => {
    const result = { provider: target.name, ...facts, durationMs: now() - started };
    const level = result.ok ? (result.status === 'fresh' ? 'debug' : 'info') : 'warn';
    log[level](
      { outcome: result.status, method: result.method, reason: result.reason, err: result.error },
      `provider ${result.status}`,
    );
    return result;
  };
  try {
    return finish(await rotateSteps(target, env, log));
  } catch (error) {
    return finish({ status: 'failed', ok: false, error: outcomeError(error) });
  }
}

/** The three steps and the writes; a store failure is thrown to {@link rotate}. */
async function rotateSteps(target: RotationTarget, env: RotationEnv, log: Logger): Promise<OutcomeFacts> {
  const now = env.now ?? Date.now;
  const sleep = env.sleep ?? defaultSleep;
  const acquired = await acquireLease({
    provider: target.name,
    store: env.store,
    holder: env.holder,
    policy: target.policy,
    gapSeconds: env.gapSeconds,
    canRefresh: target.provider.refresh !== undefined,
    canObtain: target.provider.reauthenticates !== false,
    renewal: target.renewal,
    now,
    sleep,
    logger: log,
    leaseWaitMs: env.leaseWaitMs ?? target.policy.lease_seconds * 1000,
    force: env.force,
    dryRun: env.dryRun,
    signal: env.signal,
    writeRetry: env.writeRetry,
  });
  if (acquired.kind === 'outcome') return acquired.outcome;
  return await renewUnderLease(target, env, log, acquired.lease);
}

/** Calls the provider under `lease`, writes the next state over the lease, and publishes a new token. */
async function renewUnderLease(
  target: RotationTarget,
  env: RotationEnv,
  log: Logger,
  lease: TakenLease,
): Promise<OutcomeFacts> {
  const now = env.now ?? Date.now;
  const { state: leased, reason } = lease;
  const result = await callProvider({
    provider: target.provider,
    method: lease.method,
    refreshToken: leased.refresh_token,
    policy: target.policy,
    leaseEndsAt: Date.parse(leased.lease.expires_at),
    now,
    sleep: env.sleep ?? defaultSleep,
    logger: log,
    signal: env.signal,
  });
  const next = nextState(leased, result, now(), target.policy);
  // Sized by the token now held: a first token, or a new lifetime, lays the records out anew.
  const usage = providerUsage(tokenLifetime(next), target.policy, env.gapSeconds, target.name);
  await writeWithRetry(env.store, recordPaths.state(target.name), next, {
    expectedVersion: lease.version,
    usage: usage?.state,
    retry: env.writeRetry,
  });
  if (!result.ok) {
    return {
      ...tokenFacts(next),
      status: 'failed',
      ok: false,
      method: result.method,
      reason,
      error: outcomeError(result.failure),
    };
  }

  const { tokenSet } = result;
  log.info(
    {
      method: result.method,
      generation: next.generation,
      expires_in: tokenSet.expiresIn,
      access_token_fp: fingerprint(tokenSet.accessToken),
      ...(tokenSet.refreshToken ? { refresh_token_fp: fingerprint(tokenSet.refreshToken) } : {}),
    },
    'obtained token',
  );
  await publishBehind(next, {
    provider: target.name,
    store: env.store,
    logger: log,
    writeRetry: env.writeRetry,
    usage: usage?.public,
  });
  // The new token is stored and published: what it replaced may go (never throws; bounded by the request timeout).
  await revokeSuperseded({
    provider: target.provider,
    previous: leased,
    next,
    method: result.method,
    logger: log,
    signal: env.signal,
  });
  return { status: 'rotated', ok: true, method: result.method, reason, ...tokenFacts(next) };
}
