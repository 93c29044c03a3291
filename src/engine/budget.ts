/**
 * What the engine asks of a store, checked against what the store declares
 * ({@link StoreCapabilities}) before the first pass: compare-and-set, which the lease is
 * built on, and enough write budget per record for the schedule's worst case. The store
 * declares; the engine keeps within.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { RecordUsage, StoreCapabilities, WriteBudget } from '../stores/contract.js';
import { type EffectivePolicy, rotationsPerDay } from './policy.js';
import { HEARTBEAT_PATH, type StateRecord } from './records.js';

/**
 * Problems with a store before the first pass, each naming the field to change; empty
 * when the store fits. The engine's lease needs compare-and-set; the heartbeat is written
 * once a pass and is not paced, so its record must take `passesPerDay()` writes a day
 * (computed only when the store caps it). Provider records are paced instead
 * ({@link availableWrites}).
 * @example
 * storeFitIssues('nfs', { compareAndSet: false }, () => 288);
 * // [{ path: 'store.kind', message: "the nfs store cannot compare-and-set, which the engine's lease needs" }]
 */
export function storeFitIssues(
  kind: string,
  capabilities: StoreCapabilities,
  passesPerDay: () => number,
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (!capabilities.compareAndSet) {
    issues.push({
      path: 'store.kind',
      message: `the ${kind} store cannot compare-and-set, which the engine's lease needs`,
    });
  }
  if (capabilities.writeBudget !== undefined) {
    const passes = passesPerDay();
    const budget = capabilities.writeBudget(HEARTBEAT_PATH, { writesPerDay: passes });
    const passesInWindow = budget && Math.ceil((passes * budget.windowSeconds) / 86_400);
    if (budget !== undefined && passesInWindow !== undefined && passesInWindow > budget.writes) {
      issues.push({
        path: 'policy.schedule',
        message: `${passesInWindow} passes in ${budget.windowSeconds} s write the heartbeat ${passesInWindow} times; the ${kind} store takes at most ${budget.writes}`,
      });
    }
  }
  return issues;
}

/**
 * Refuses a store the engine cannot work with.
 * @throws {ConfigError} naming each problem.
 */
export function assertStoreFits(kind: string, capabilities: StoreCapabilities, passesPerDay: () => number): void {
  const issues = storeFitIssues(kind, capabilities, passesPerDay);
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Writes one rotation makes to a provider's state record: the lease, then the result.
 * Both are paid for when the lease is taken, so a result can always be written.
 */
export const STATE_WRITES_PER_ROTATION = 2;

/**
 * The share of a budget the token bucket refills steadily ({@link bucketOf}); the rest is
 * a burst. A record written steadily `n` times a day needs a budget of `n / SUSTAINED_SHARE`.
 */
export const SUSTAINED_SHARE = 0.75;

/** How a provider's two records are written, from its token's lifetime. */
export interface ProviderUsage {
  /** The state record: the lease and the result of every rotation. */
  readonly state: RecordUsage;
  /** The public record: one write per new token. */
  readonly public: RecordUsage;
}

/**
 * The usage of a provider's records while its token lives `lifetime` seconds: one
 * rotation per {@link rotationsPerDay}, each writing the state twice and the public record
 * once, with room for the bucket's burst. `undefined` before the first token (the
 * lifetime is not known yet).
 * @example providerUsage(3600, policy, 300, 'keliweb') // { state: { writesPerDay: 92 }, public: { writesPerDay: 46 } }
 */
export function providerUsage(
  lifetime: number | undefined,
  policy: EffectivePolicy,
  gapSeconds: number,
  provider: string,
): ProviderUsage | undefined {
  if (lifetime === undefined) return undefined;
  const rotations = rotationsPerDay(lifetime, policy, gapSeconds, provider);
  const need = (writes: number) => ({ writesPerDay: Math.ceil(writes / SUSTAINED_SHARE) });
  return { state: need(rotations * STATE_WRITES_PER_ROTATION), public: need(rotations) };
}

/** The lifetime in seconds of the token a state record holds, or `undefined` when it holds none. */
export function tokenLifetime(state: StateRecord): number | undefined {
  const token = state.token;
  if (token === undefined) return undefined;
  return Math.max(1, (Date.parse(token.expires_at) - Date.parse(token.issued_at)) / 1000);
}

/** The allowance kept in a state record: writes available at a time. */
export type WriteAllowance = NonNullable<StateRecord['write_allowance']>;

/**
 * The token bucket that keeps a record inside a {@link WriteBudget} of `writes` per
 * `windowSeconds`: it holds at most `capacity` writes and refills at `perSecond`. In any
 * window of `windowSeconds` it allows at most `capacity + perSecond × windowSeconds =
 * writes`, however the writes fall; a quarter of the budget may be spent in a burst (a
 * vendor outage), the rest ({@link SUSTAINED_SHARE}) is paced.
 */
export function bucketOf(budget: WriteBudget): { readonly capacity: number; readonly perSecond: number } {
  const capacity = Math.max(STATE_WRITES_PER_ROTATION, Math.floor(budget.writes * (1 - SUSTAINED_SHARE)));
  return { capacity, perSecond: Math.max(0, budget.writes - capacity) / budget.windowSeconds };
}

/** Writes available at `now` (epoch ms): the allowance refilled since it was written; a full bucket when absent. */
export function availableWrites(allowance: WriteAllowance | undefined, budget: WriteBudget, now: number): number {
  const { capacity, perSecond } = bucketOf(budget);
  if (allowance === undefined) return capacity;
  const elapsed = Math.max(0, (now - Date.parse(allowance.at)) / 1000);
  return Math.min(capacity, allowance.tokens + elapsed * perSecond);
}

/** The allowance after spending `writes` at `now`. */
export function spendWrites(
  allowance: WriteAllowance | undefined,
  budget: WriteBudget,
  now: number,
  writes: number,
): WriteAllowance {
  return { tokens: availableWrites(allowance, budget, now) - writes, at: new Date(now).toISOString() };
}

/** When (epoch ms) `writes` will be available again, `now` if they already are. */
export function writesAvailableAt(
  allowance: WriteAllowance | undefined,
  budget: WriteBudget,
  now: number,
  writes: number,
): number {
  const missing = writes - availableWrites(allowance, budget, now);
  if (missing <= 0) return now;
  const { perSecond } = bucketOf(budget);
  return perSecond > 0 ? now + Math.ceil((missing / perSecond) * 1000) : Number.POSITIVE_INFINITY;
}
