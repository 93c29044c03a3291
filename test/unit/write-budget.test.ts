/**
 * The engine keeps a record's writes inside the store's declared budget (issue 10: the
 * write budget is the engine's job, not the store's). A token bucket kept in the state
 * record itself paces the lease writes; these tests check the bucket's bound and that a
 * provider failing on every pass is retried on a cadence that fits, while its still-valid
 * token keeps it ok.
 */
import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import {
  availableWrites,
  bucketOf,
  STATE_WRITES_PER_ROTATION,
  spendWrites,
  writesAvailableAt,
} from '../../src/engine/budget.js';
import { runPass } from '../../src/engine/pass.js';
import { type EffectivePolicy, effectivePolicy } from '../../src/engine/policy.js';
import { recordPaths, type StateRecord } from '../../src/engine/records.js';
import type { RotationEnv, RotationTarget } from '../../src/engine/rotate.js';
import { ErrorCodes, ProviderError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { WriteBudget } from '../../src/stores/contract.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { MemoryStore } from '../helpers/memory-store.js';

const DAY_MS = 86_400_000;
const ONE_SECRET: WriteBudget = { writes: 96, windowSeconds: 86_400 };
const T0 = Date.parse('2026-03-02T00:00:00Z');

/** The most entries of `times` (sorted, epoch ms) inside any window of `windowMs`. */
function mostInAnyWindow(times: readonly number[], windowMs: number): number {
  let most = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while ((times[end] ?? 0) - (times[start] ?? 0) >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** A memory store that declares a write budget and logs when each record was written. */
class BudgetedStore extends MemoryStore {
  override readonly capabilities: { compareAndSet: boolean; writeBudget: () => WriteBudget };
  readonly written: { path: string; at: number }[] = [];

  constructor(
    budget: WriteBudget,
    readonly clock: () => number,
  ) {
    super();
    // The same budget for every record and usage: the pacing is under test, not the layout.
    this.capabilities = { compareAndSet: true, writeBudget: () => budget };
  }

  override async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    const version = await super.write(path, value, expectedVersion);
    this.written.push({ path, at: this.clock() });
    return version;
  }

  timesOf(path: string): number[] {
    return this.written.filter((entry) => entry.path === path).map((entry) => entry.at);
  }
}

describe('the write allowance', () => {
  it('holds a quarter of the budget and refills the rest over the window', () => {
    const { capacity, perSecond } = bucketOf(ONE_SECRET);

    expect(capacity).toBe(24);
    expect(perSecond * 86_400).toBeCloseTo(72);
    expect(availableWrites(undefined, ONE_SECRET, T0)).toBe(24);
  });

  it('refills from the time it was spent, up to the capacity', () => {
    const spent = spendWrites(undefined, ONE_SECRET, T0, 24);

    expect(spent).toEqual({ tokens: 0, at: new Date(T0).toISOString() });
    expect(availableWrites(spent, ONE_SECRET, T0 + 1_200_000)).toBeCloseTo(1); // 72 a day: one per 20 min
    expect(availableWrites(spent, ONE_SECRET, T0 + 10 * DAY_MS)).toBe(24);
    expect(writesAvailableAt(spent, ONE_SECRET, T0, 2)).toBe(T0 + 2_400_000);
    expect(writesAvailableAt(undefined, ONE_SECRET, T0, 2)).toBe(T0);
  });

  it('never allows more than the budget in any window, whatever the attempts', () => {
    // A seeded stream of attempts, bursty and idle by turns, over a week.
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    let allowance: ReturnType<typeof spendWrites> | undefined;
    const writes: number[] = [];
    for (let t = T0; t < T0 + 7 * DAY_MS; t += random() < 0.3 ? 1_000 : 600_000 * random()) {
      if (availableWrites(allowance, ONE_SECRET, t) < STATE_WRITES_PER_ROTATION) continue;
      allowance = spendWrites(allowance, ONE_SECRET, t, STATE_WRITES_PER_ROTATION);
      writes.push(t, t);
    }

    expect(writes.length).toBeGreaterThan(7 * 72); // the bucket was exercised, not idle
    expect(mostInAnyWindow(writes, DAY_MS)).toBeLessThanOrEqual(96);
  });
});

describe('a pass under a store write budget', () => {
  function simulate(options: { lifetime: number }) {
    const clock = { now: T0 };
    const store = new BudgetedStore(ONE_SECRET, () => clock.now);
    const provider = new FakeProvider({ lifetime: options.lifetime, refreshable: false });
    const policy: EffectivePolicy = effectivePolicy(resolvedConfigSchema.shape.policy.parse({}), undefined);
    const target: RotationTarget = { name: 'p', provider, policy, renewal: 'refresh' };
    const env: RotationEnv = {
      store,
      gapSeconds: 300,
      holder: 'runner',
      logger: silentLogger(),
      now: () => clock.now,
      sleep: async (ms) => {
        clock.now += ms;
      },
      writeRetry: { sleep: async () => {} },
    };
    return { clock, store, provider, target, env };
  }

  it('retries a provider failing on every pass on a cadence that fits, ok while its token is valid', async () => {
    const { clock, store, provider, target, env } = simulate({ lifetime: 3600 });
    const statuses: Record<string, number> = {};
    let invalidWhileOk = 0;
    for (let t = T0; t < T0 + 3 * DAY_MS; t += 300_000) {
      clock.now = t;
      const hour = (t - T0) / 3_600_000;
      // Hours 2 to 10: the vendor answers 503 to every call.
      provider.queue.obtain =
        hour >= 2 && hour < 10
          ? Array.from({ length: 10 }, () => new ProviderError('retryable', 'vendor answered 503', { status: 503 }))
          : [];
      const [outcome] = (await runPass([target], env, 1)).outcomes;
      if (outcome === undefined) throw new Error('no outcome');
      statuses[outcome.status] = (statuses[outcome.status] ?? 0) + 1;
      const state = store.records.get(recordPaths.state('p'))?.value as StateRecord | undefined;
      const valid = state?.token !== undefined && Date.parse(state.token.expires_at) > t;
      if (outcome.ok && !valid) invalidWhileOk++;
      if (outcome.status === 'paced' && !valid) expect(outcome.error?.code).toBe(ErrorCodes.STORE_BUDGET_SPENT);
    }

    const stateWrites = store.timesOf(recordPaths.state('p'));
    expect(mostInAnyWindow(stateWrites, DAY_MS)).toBeLessThanOrEqual(96);
    expect(statuses['paced']).toBeGreaterThan(0); // the outage was paced, not retried every pass
    expect(statuses['failed']).toBeGreaterThan(0);
    expect(invalidWhileOk).toBe(0);
    // After the outage the provider recovers and rotates normally.
    expect(provider.obtained).toBeGreaterThan(3 * 24 - 8 - 4);
  });

  it('takes no budget at all from a store that declares none', async () => {
    const { target, env, clock } = simulate({ lifetime: 3600 });
    const plain = new MemoryStore();
    const outcomes = [];
    for (let i = 0; i < 3; i++) {
      clock.now = T0 + i * 300_000;
      outcomes.push(...(await runPass([target], { ...env, store: plain, force: true }, 1)).outcomes);
    }

    expect(outcomes.map((o) => o.status)).toEqual(['rotated', 'rotated', 'rotated']);
    const state = plain.records.get(recordPaths.state('p'))?.value as StateRecord | undefined;
    expect(state?.generation).toBe(3);
    expect(state?.write_allowance).toBeUndefined();
  });

  it('does not let --force spend past the budget', async () => {
    const { target, env, clock, store } = simulate({ lifetime: 3600 });
    const statuses: string[] = [];
    for (let i = 0; i < 20; i++) {
      clock.now = T0 + i * 1000;
      const [outcome] = (await runPass([target], { ...env, force: true }, 1)).outcomes;
      statuses.push(outcome?.status ?? 'none');
    }

    // 24 writes of capacity: 12 forced rotations, then paced with a valid token.
    expect(statuses.filter((s) => s === 'rotated')).toHaveLength(12);
    expect(statuses.slice(12)).toEqual(Array.from({ length: 8 }, () => 'paced'));
    expect(store.timesOf(recordPaths.state('p'))).toHaveLength(24);
  });
});
