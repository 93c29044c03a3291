/**
 * What the engine asks of a store, checked against what the store declares
 * ({@link StoreCapabilities}) before the first pass: compare-and-set, which the lease is
 * built on, and enough write budget per record for the schedule's worst case. The store
 * declares; the engine keeps within.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { StoreCapabilities, WriteBudget } from '../stores/contract.js';
import type { StateRecord } from './records.js';

/**
 * Most writes one pass makes to one record: the state record takes the lease, then the
 * result (the public record and the heartbeat take one each).
 */
export const WRITES_PER_RECORD_PER_PASS = 2;

/**
 * Problems with a store for a schedule of `passesPerDay()` passes a day (computed only when
 * the store has a budget), each naming the field to change; empty when the store fits.
 * @example
 * storeFitIssues('aws', { compareAndSet: true, writeBudget: { writes: 96, windowSeconds: 86_400 } }, () => 288);
 * // [{ path: 'policy.schedule', message: '288 passes in 86400 s write a record up to 576 times; the aws store takes at most 96' }]
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
  const budget = capabilities.writeBudget;
  if (budget !== undefined) {
    const passesInWindow = Math.ceil((passesPerDay() * budget.windowSeconds) / 86_400);
    const demand = passesInWindow * WRITES_PER_RECORD_PER_PASS;
    if (demand > budget.writes) {
      issues.push({
        path: 'policy.schedule',
        message: `${passesInWindow} passes in ${budget.windowSeconds} s write a record up to ${demand} times; the ${kind} store takes at most ${budget.writes}`,
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

/** The allowance kept in a state record: writes available at a time. */
export type WriteAllowance = NonNullable<StateRecord['write_allowance']>;

/**
 * The token bucket that keeps a record inside a {@link WriteBudget} of `writes` per
 * `windowSeconds`: it holds at most `capacity` writes and refills at `perSecond`. In any
 * window of `windowSeconds` it allows at most `capacity + perSecond × windowSeconds =
 * writes`, however the writes fall; a quarter of the budget may be spent in a burst (a
 * vendor outage), the rest is paced.
 */
export function bucketOf(budget: WriteBudget): { readonly capacity: number; readonly perSecond: number } {
  const capacity = Math.max(STATE_WRITES_PER_ROTATION, Math.floor(budget.writes / 4));
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
