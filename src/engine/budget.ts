/**
 * What the engine asks of a store, checked against what the store declares
 * ({@link StoreCapabilities}) before the first pass: compare-and-set, which the lease is
 * built on, and enough write budget per record for the schedule's worst case. The store
 * declares; the engine keeps within.
 */
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { StoreCapabilities } from '../stores/contract.js';

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
