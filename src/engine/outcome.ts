/**
 * What a rotation reports: one {@link Outcome} per provider and pass, safe to print and to
 * turn into metrics (no token is ever part of it).
 */
import { describeError, ErrorCodes, type FailureClass, ProviderError, RotatorError } from '../errors.js';
import type { Method, StateRecord } from './records.js';

/** What happened to one provider in a pass. */
export type OutcomeStatus =
  | 'fresh'
  | 'rotated'
  | 'repaired'
  | 'would-rotate'
  | 'busy'
  | 'backoff'
  /** Due, but the store's write budget for the state record cannot pay for a rotation yet. */
  | 'paced'
  | 'failed';

/** Why a provider is rotated: no token yet, its token is due, `--force`, or a runner died mid-refresh. */
export type RotationReason = 'missing' | 'due' | 'forced' | 'abandoned-refresh';

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
  readonly reason?: RotationReason;
  readonly expiresAt?: string;
  readonly generation?: number;
  readonly error?: OutcomeError;
  readonly durationMs: number;
}

/** An outcome before `rotate` stamps it with the provider's name and the time it took. */
export type OutcomeFacts = Omit<Outcome, 'durationMs' | 'provider'>;

/** Classifies anything a rotation threw: a provider's class, a lease or conflict, else the store. */
export function outcomeError(error: unknown): OutcomeError {
  if (error instanceof ProviderError) return { class: error.failureClass, code: error.code, message: error.message };
  if (error instanceof RotatorError) {
    const isLease = error.code === ErrorCodes.LEASE_BUSY || error.code === ErrorCodes.STORE_CONFLICT;
    return { class: isLease ? 'lease' : 'store', code: error.code, message: error.message };
  }
  return { class: 'store', code: ErrorCodes.STORE_UNAVAILABLE, message: describeError(error) };
}

/** The stored token's expiry and generation, and how it was got, for an outcome. */
export function tokenFacts(state: StateRecord): Pick<Outcome, 'expiresAt' | 'generation' | 'method'> {
  return {
    ...(state.token ? { expiresAt: state.token.expires_at, generation: state.generation } : {}),
    ...(state.method ? { method: state.method } : {}),
  };
}
