/**
 * The first step of a rotation: read the state, repair the public record, decide, and
 * take the lease, a compare-and-set write of the state record naming this runner. Only
 * the lease holder calls the token endpoint, so two runners never spend the same refresh
 * token. The step ends with a lease or with an outcome that needs no provider call.
 */
import { ConflictError, ErrorCodes } from '../errors.js';
import { fingerprint } from '../observability/fingerprint.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore, WriteBudget } from '../stores/contract.js';
import {
  availableWrites,
  providerUsage,
  STATE_WRITES_PER_ROTATION,
  spendWrites,
  tokenLifetime,
  writesAvailableAt,
} from './budget.js';
import { type OutcomeFacts, type RotationReason, tokenFacts } from './outcome.js';
import { chooseMethod, decide, type EffectivePolicy } from './policy.js';
import { publishBehind } from './publish.js';
import { emptyState, type Lease, type Method, recordPaths, type StateRecord } from './records.js';
import { readState, type WriteRetryOptions } from './records-io.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** A state record while a runner holds its lease. */
export type LeasedState = StateRecord & { readonly lease: Lease };

/** A lease taken: the state as written with it, its version, and what to do under it. */
export interface TakenLease {
  readonly state: LeasedState;
  /** The version the lease was written at: the next state is written over exactly it. */
  readonly version: string;
  readonly method: Method;
  readonly reason: RotationReason;
}

/** The lease step ends with a lease, or with an outcome that needs no provider call. */
export type LeaseResult =
  | { readonly kind: 'leased'; readonly lease: TakenLease }
  | { readonly kind: 'outcome'; readonly outcome: OutcomeFacts };

/** Options of {@link acquireLease}. */
export interface AcquireLeaseOptions {
  /** The provider's name in config. */
  readonly provider: string;
  readonly store: SecretStore;
  /** This runner, as named in leases. */
  readonly holder: string;
  readonly policy: EffectivePolicy;
  /** Longest time between two scheduled passes, in seconds. */
  readonly gapSeconds: number;
  /** The provider can refresh (its profile has `refresh`). */
  readonly canRefresh: boolean;
  /**
   * The provider can re-authenticate (absent: true). When it cannot (a refresh-only
   * profile), a refresh token a dead runner may have spent is tried rather than dropped:
   * if it was spent the refresh is refused, which ends the same way as dropping it.
   */
  readonly canObtain?: boolean | undefined;
  readonly renewal: 'refresh' | 'reauthenticate';
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
  /** Bound to the provider. */
  readonly logger: Logger;
  /** How long to wait for another runner's lease before reporting `busy`. */
  readonly leaseWaitMs: number;
  /** Rotate even when fresh and ignore back-off. */
  readonly force?: boolean | undefined;
  /** Decide and report `would-rotate`, but take no lease. */
  readonly dryRun?: boolean | undefined;
  /** Once aborted, stop waiting for another runner's lease. */
  readonly signal?: AbortSignal | undefined;
  readonly writeRetry?: WriteRetryOptions | undefined;
}

/** What to do about a state just read: wait for another runner, stop with an outcome, or take the lease. */
type Assessment =
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'outcome'; readonly outcome: OutcomeFacts }
  | {
      readonly kind: 'take';
      readonly method: Method;
      readonly reason: RotationReason;
      /** A dead runner may have spent the refresh token and the provider can re-authenticate: drop it. */
      readonly abandonedRefresh: boolean;
    };

/** Where the lease step stands when it assesses a read: the time, how long it may wait, whether it repaired. */
interface Moment {
  readonly t: number;
  readonly waitUntil: number;
  readonly repaired: boolean;
}

/** The decision on one read of the state; pure. */
function assess(
  state: StateRecord,
  { t, waitUntil, repaired }: Moment,
  options: AcquireLeaseOptions,
  budget: WriteBudget | undefined,
): Assessment {
  const { lease } = state;
  if (lease !== undefined && Date.parse(lease.expires_at) > t && lease.holder !== options.holder) {
    if (t < waitUntil && !options.dryRun && !options.signal?.aborted)
      return { kind: 'wait', ms: Math.min(500, Math.max(50, waitUntil - t)) };
    const valid = state.token !== undefined && Date.parse(state.token.expires_at) > t;
    return {
      kind: 'outcome',
      outcome: {
        status: 'busy',
        ok: valid,
        ...(valid
          ? {}
          : {
              error: {
                class: 'lease',
                code: ErrorCodes.LEASE_BUSY,
                message: `another runner (${lease.holder}) holds the lease`,
              },
            }),
      },
    };
  }
  // An expired lease taken for a refresh: its holder died, maybe after spending the refresh token.
  const abandonedRefresh = lease !== undefined && lease.intent === 'refresh';
  const decision = decide(t, state, options.policy, options.gapSeconds);
  const reason = abandonedRefresh
    ? 'abandoned-refresh'
    : decision.action === 'fresh'
      ? options.force
        ? 'forced'
        : undefined
      : decision.action;
  if (reason === undefined)
    return { kind: 'outcome', outcome: { status: repaired ? 'repaired' : 'fresh', ok: true, ...tokenFacts(state) } };

  // A refresh-only provider tries the possibly spent token: a refused refresh ends as dropping it would.
  const dropRefresh = abandonedRefresh && options.canObtain !== false;
  const method: Method = dropRefresh
    ? 'obtain'
    : chooseMethod(t, state, {
        canRefresh: options.canRefresh,
        canObtain: options.canObtain,
        prefer: options.renewal,
        policy: options.policy,
        gap: options.gapSeconds,
      });
  const nextAttempt = state.failures.next_attempt_at;
  if (nextAttempt !== undefined && Date.parse(nextAttempt) > t && !options.force && !abandonedRefresh) {
    const last = state.failures.last;
    return {
      kind: 'outcome',
      outcome: {
        status: 'backoff',
        ok: false,
        reason,
        ...tokenFacts(state),
        error: last
          ? { class: last.class, code: last.code, message: `backing off until ${nextAttempt}: ${last.message}` }
          : { class: 'permanent', code: ErrorCodes.PROVIDER_PERMANENT, message: `backing off until ${nextAttempt}` },
      },
    };
  }
  const paced = pacing(state, t, budget);
  if (paced !== undefined) return { kind: 'outcome', outcome: { ...paced, reason, ...tokenFacts(state) } };
  if (options.dryRun)
    return { kind: 'outcome', outcome: { ...tokenFacts(state), status: 'would-rotate', ok: true, method, reason } };
  return { kind: 'take', method, reason, abandonedRefresh: dropRefresh };
}

/**
 * A `paced` outcome when the store's write budget for the state record cannot pay for a
 * rotation (the lease and the result) now, else `undefined`. Neither `--force` nor a
 * missing token overrides it: the budget is the store's hard limit (AWS refuses versions
 * beyond it). The provider stays ok while its token is valid.
 */
function pacing(state: StateRecord, t: number, budget: WriteBudget | undefined): OutcomeFacts | undefined {
  if (budget === undefined) return undefined;
  if (availableWrites(state.write_allowance, budget, t) >= STATE_WRITES_PER_ROTATION) return undefined;
  const until = iso(writesAvailableAt(state.write_allowance, budget, t, STATE_WRITES_PER_ROTATION));
  const valid = state.token !== undefined && Date.parse(state.token.expires_at) > t;
  return {
    status: 'paced',
    ok: valid,
    ...(valid
      ? {}
      : {
          error: {
            class: 'store',
            code: ErrorCodes.STORE_BUDGET_SPENT,
            message: `the store's write budget for ${recordPaths.state(state.provider)} (${budget.writes} writes per ${budget.windowSeconds} s) allows the next rotation at ${until}`,
          },
        }),
  };
}

/**
 * The state with `lease` on it; a refresh token a dead runner may have spent is dropped.
 * Under a write budget, the lease pays for itself and for the result write.
 */
function withLease(
  state: StateRecord,
  lease: Lease,
  abandonedRefresh: boolean,
  budget: WriteBudget | undefined,
  t: number,
): LeasedState {
  const { refresh_token: _token, refresh_expires_at: _expiry, ...withoutRefresh } = state;
  return {
    ...(abandonedRefresh ? withoutRefresh : state),
    lease,
    last_attempt_at: lease.acquired_at,
    ...(budget === undefined
      ? {}
      : { write_allowance: spendWrites(state.write_allowance, budget, t, STATE_WRITES_PER_ROTATION) }),
  };
}

/**
 * Reads the provider's state until it can decide: republishes a public record left
 * behind by a crash, waits (up to `leaseWaitMs`) while another runner holds a live lease,
 * and returns an outcome when nothing is to be called (fresh, repaired, busy, backoff,
 * would-rotate). Otherwise writes the lease by compare-and-set over the version it read;
 * losing that race reads again.
 * @throws {StoreError} when the store fails or the state record is not readable.
 */
export async function acquireLease(options: AcquireLeaseOptions): Promise<LeaseResult> {
  const { store, provider, logger } = options;
  const statePath = recordPaths.state(provider);
  const waitUntil = options.now() + options.leaseWaitMs;
  let repaired = false;

  for (;;) {
    const read = await readState(store, provider);
    const state = read.record ?? emptyState(provider);
    const usage = providerUsage(tokenLifetime(state), options.policy, options.gapSeconds, provider);
    repaired =
      (await publishBehind(state, { provider, store, logger, writeRetry: options.writeRetry, usage: usage?.public })) ||
      repaired;

    const t = options.now();
    // The store's cap on writes of this state record, if it has one: the lease is taken only within it.
    const budget = store.capabilities.writeBudget?.(statePath, usage?.state);
    const assessment = assess(state, { t, waitUntil, repaired }, options, budget);
    if (assessment.kind === 'wait') {
      await options.sleep(assessment.ms);
      continue;
    }
    if (assessment.kind === 'outcome') return assessment;

    const { method, reason, abandonedRefresh } = assessment;
    if (abandonedRefresh) {
      logger.warn(
        { refresh_token_fp: state.refresh_token && fingerprint(state.refresh_token) },
        'a runner died during a refresh; re-authenticating',
      );
    }
    const lease: Lease = {
      holder: options.holder,
      acquired_at: iso(t),
      expires_at: iso(t + options.policy.lease_seconds * 1000),
      intent: method,
    };
    const leased = withLease(state, lease, abandonedRefresh, budget, t);
    try {
      const version = await store.write(
        statePath,
        JSON.parse(JSON.stringify(leased)) as Record<string, unknown>,
        read.version,
        { usage: usage?.state },
      );
      return { kind: 'leased', lease: { state: leased, version, method, reason } };
    } catch (error) {
      if (error instanceof ConflictError) continue; // someone else moved first: look again
      throw error;
    }
  }
}
