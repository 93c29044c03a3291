/**
 * A pass: every selected provider rotated concurrently under a cap. One provider's
 * failure never stops the others.
 */
import type { SecretStore } from '../stores/contract.js';
import { recordPaths } from './records.js';
import { type Outcome, type RotationEnv, type RotationTarget, rotate } from './rotate.js';

/** The result of a pass. */
export interface PassSummary {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly outcomes: readonly Outcome[];
  /** True when every provider was left with a valid token and none failed. */
  readonly ok: boolean;
  readonly counts: Readonly<Record<Outcome['status'], number>>;
}

/** A pass's outcomes counted by status, with snake_case keys (`would-rotate` as `would_rotate`), for outputs and logs. */
export type PassCounts = Readonly<
  Record<'fresh' | 'rotated' | 'repaired' | 'would_rotate' | 'busy' | 'backoff' | 'paced' | 'failed', number>
>;

/** {@link PassSummary.counts} as {@link PassCounts}. */
export function passCounts(summary: PassSummary): PassCounts {
  const { 'would-rotate': wouldRotate, ...counts } = summary.counts;
  return { ...counts, would_rotate: wouldRotate };
}

/** Runs `task` over `items` with at most `limit` at once, keeping input order in the result. */
export async function mapWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  async function worker(): Promise<void> {
    for (let index = next++; index < items.length; index = next++) {
      results[index] = await task(items[index] as T);
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}

/** Rotates every target once. */
export async function runPass(
  targets: readonly RotationTarget[],
  env: RotationEnv,
  concurrency: number,
): Promise<PassSummary> {
  const now = env.now ?? Date.now;
  const started = now();
  const outcomes = await mapWithLimit(targets, concurrency, (target) => rotate(target, env));
  const counts = { fresh: 0, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 };
  for (const outcome of outcomes) counts[outcome.status]++;
  return {
    startedAt: new Date(started).toISOString(),
    durationMs: now() - started,
    outcomes,
    ok: outcomes.every((outcome) => outcome.ok),
    counts,
  };
}

/**
 * `store` as a pass's rotations use it, telling `seen` each provider's state record as it
 * was last read or written (the raw value, not yet validated). After the pass, the record
 * last seen for a provider is the one its outcome was decided on: what a runner that skips
 * fresh providers learns when it could next need work, without reading it again.
 */
export function watchingStates(
  store: SecretStore,
  providers: readonly string[],
  seen: (provider: string, value: Record<string, unknown>) => void,
): SecretStore {
  const byPath = new Map(providers.map((name) => [recordPaths.state(name), name]));
  const read: SecretStore['read'] = async (path, usage) => {
    const record = await store.read(path, usage);
    const provider = byPath.get(path);
    if (provider !== undefined && record !== undefined) seen(provider, record.value);
    return record;
  };
  const write: SecretStore['write'] = async (path, value, expectedVersion, options) => {
    const version = await store.write(path, value, expectedVersion, options);
    const provider = byPath.get(path);
    if (provider !== undefined) seen(provider, value);
    return version;
  };
  return new Proxy(store, {
    get(target, property) {
      if (property === 'read') return read;
      if (property === 'write') return write;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
