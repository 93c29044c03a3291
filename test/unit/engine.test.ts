import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { runPass } from '../../src/engine/pass.js';
import { type EffectivePolicy, effectivePolicy } from '../../src/engine/policy.js';
import { type PublicRecord, recordPaths, type StateRecord } from '../../src/engine/records.js';
import { type RotationEnv, type RotationTarget, rotate } from '../../src/engine/rotate.js';
import { ProviderError, StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { MemoryStore } from '../helpers/memory-store.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const basePolicy: EffectivePolicy = {
  ...effectivePolicy(resolvedConfigSchema.shape.policy.parse({}), undefined),
  jitter_fraction: 0,
};

function setup(
  options: {
    lifetime?: number;
    refreshable?: boolean;
    policy?: Partial<EffectivePolicy>;
    renewal?: 'refresh' | 'reauthenticate';
  } = {},
) {
  const store = new MemoryStore();
  const provider = new FakeProvider({ lifetime: options.lifetime ?? 3600, refreshable: options.refreshable ?? true });
  const clock = { now: T0 };
  const sleeps: number[] = [];
  const target: RotationTarget = {
    name: 'p1',
    provider,
    policy: { ...basePolicy, ...options.policy },
    renewal: options.renewal ?? 'refresh',
  };
  const env: RotationEnv = {
    store,
    gapSeconds: 300,
    holder: 'runner-a',
    logger: silentLogger(),
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
      clock.now += ms;
    },
    writeRetry: { sleep: async () => {} },
  };
  const state = () => store.records.get(recordPaths.state('p1'))?.value as StateRecord | undefined;
  const pub = () => store.records.get(recordPaths.public('p1'))?.value as PublicRecord | undefined;
  return { store, provider, clock, sleeps, target, env, state, pub };
}

describe('rotate', () => {
  it('obtains a missing token, persists the state first and publishes generation 1', async () => {
    const { target, env, provider, state, pub, store } = setup();
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', ok: true, method: 'obtain', reason: 'missing', generation: 1 });
    expect(provider.calls).toEqual(['obtain']);
    expect(state()?.token?.access_token).toBe(pub()?.access_token);
    expect(pub()).toMatchObject({ provider: 'p1', token_type: 'Bearer', generation: 1 });
    expect(Date.parse(pub()!.expires_at) - Date.parse(pub()!.issued_at)).toBe(3600_000);
    expect(state()?.lease).toBeUndefined();
    expect(state()?.refresh_token).toMatch(/^rt-/);
    // lease write, state write, public write
    expect(store.writes).toBe(3);
  });

  it('leaves a fresh token alone', async () => {
    const { target, env, provider, clock } = setup();
    await rotate(target, env);
    clock.now += 1000_000;
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'fresh', ok: true });
    expect(provider.calls).toEqual(['obtain']);
  });

  it('refreshes a due token and stores the new single-use refresh token', async () => {
    const { target, env, provider, clock, state, pub } = setup();
    await rotate(target, env);
    const firstRefresh = state()!.refresh_token;
    clock.now += 2_800_000;
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', method: 'refresh', reason: 'due', generation: 2 });
    expect(provider.refreshed).toBe(1);
    expect(state()!.refresh_token).not.toBe(firstRefresh);
    expect(pub()!.generation).toBe(2);
  });

  it('re-authenticates in the same pass when a refresh answers invalid_grant', async () => {
    const { target, env, provider, clock } = setup();
    await rotate(target, env);
    clock.now += 2_800_000;
    provider.queue.refresh.push(
      new ProviderError('reauthenticate', 'invalid_grant', { status: 400, reason: 'invalid_grant' }),
    );
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', method: 'obtain', ok: true });
    expect(provider.calls).toEqual(['obtain', 'refresh', 'obtain']);
  });

  it('never resends a refresh token after a timeout: it re-authenticates instead', async () => {
    const { target, env, provider, clock, state } = setup();
    await rotate(target, env);
    const spentCandidate = state()!.refresh_token;
    clock.now += 2_800_000;
    provider.queue.refresh.push(new ProviderError('retryable', 'timeout', { ambiguous: true }));
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', method: 'obtain' });
    expect(provider.calls.filter((c) => c === 'refresh')).toHaveLength(1);
    expect(state()!.refresh_token).not.toBe(spentCandidate);
  });

  it('retries a retryable failure within the pass, honouring Retry-After', async () => {
    const { target, env, provider, sleeps } = setup({ refreshable: false });
    provider.queue.obtain.push(new ProviderError('retryable', 'HTTP 429', { status: 429, retryAfterMs: 2000 }), 'ok');
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', ok: true });
    expect(provider.calls).toEqual(['obtain', 'obtain']);
    expect(sleeps).toEqual([2000]);
  });

  it('counts expires_at from when the successful request was sent, not from when its answer arrived', async () => {
    const { target, env, provider, clock, state, pub } = setup({ lifetime: 3600, refreshable: false });
    // The first request fails after 5 s; the retry, sent 1 s later, takes 20 s to answer.
    provider.queue.obtain.push(new ProviderError('retryable', 'HTTP 503', { status: 503 }), 'ok');
    const answerTimes = [5_000, 20_000];
    const obtain = provider.obtain.bind(provider);
    provider.obtain = async () => {
      clock.now += answerTimes.shift()!;
      return obtain();
    };
    const retrySentAt = T0 + 5_000 + 1_000;

    const outcome = await rotate(target, env);

    expect(outcome).toMatchObject({ status: 'rotated', expiresAt: new Date(retrySentAt + 3600_000).toISOString() });
    expect(pub()).toMatchObject({
      issued_at: new Date(retrySentAt).toISOString(),
      expires_at: new Date(retrySentAt + 3600_000).toISOString(),
    });
    expect(state()?.last_success_at).toBe(new Date(retrySentAt + 20_000).toISOString());
  });

  it('caps the wait a server asks for at max_retry_wait_seconds', async () => {
    const { target, env, provider, sleeps } = setup({ refreshable: false, policy: { max_retry_wait_seconds: 5 } });
    provider.queue.obtain.push(
      new ProviderError('retryable', 'HTTP 429', { status: 429, retryAfterMs: 600_000 }),
      'ok',
    );
    await rotate(target, env);
    expect(sleeps).toEqual([5000]);
  });

  it('reports a failure with its class when retries run out, and keeps the stored token', async () => {
    const { target, env, provider, clock, pub } = setup({ refreshable: false, policy: { retries: 1 } });
    await rotate(target, env);
    const before = pub();
    clock.now += 3_000_000;
    provider.queue.obtain.push(
      new ProviderError('retryable', 'HTTP 503', { status: 503 }),
      new ProviderError('retryable', 'HTTP 503', { status: 503 }),
    );
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({
      status: 'failed',
      ok: false,
      method: 'obtain',
      error: { class: 'retryable', code: 'PROVIDER_RETRYABLE' },
    });
    expect(pub()).toEqual(before);
  });

  it('backs off after a permanent failure instead of calling every pass, until forced', async () => {
    const { target, env, provider, clock, state, pub } = setup({ refreshable: false });
    await rotate(target, env);
    const before = pub();
    clock.now += 3_000_000;
    provider.queue.obtain.push(
      new ProviderError('permanent', 'invalid_client', { status: 401, reason: 'invalid_client' }),
    );
    const failed = await rotate(target, env);
    expect(failed).toMatchObject({ status: 'failed', error: { class: 'permanent' } });
    expect(state()!.failures.consecutive).toBe(1);
    expect(Date.parse(state()!.failures.next_attempt_at!)).toBe(clock.now + 60_000);
    expect(pub()).toEqual(before);

    clock.now += 30_000;
    const skipped = await rotate(target, env);
    expect(skipped).toMatchObject({ status: 'backoff', ok: false });
    expect(provider.calls).toEqual(['obtain', 'obtain']);

    const forced = await rotate(target, { ...env, force: true });
    expect(forced).toMatchObject({ status: 'rotated' });
    expect(state()!.failures).toEqual({ consecutive: 0 });
  });

  it('doubles the back-off on each consecutive permanent failure', async () => {
    const { target, env, provider, clock, state } = setup({ refreshable: false });
    for (let i = 0; i < 3; i++) {
      provider.queue.obtain.push(new ProviderError('permanent', 'bad', {}));
      await rotate(target, { ...env, force: true });
    }
    expect(state()!.failures.consecutive).toBe(3);
    expect(Date.parse(state()!.failures.next_attempt_at!) - clock.now).toBe(240_000);
  });

  it('retries a failed store write without calling the provider again', async () => {
    const { target, env, provider, store, pub } = setup();
    store.failWrites.set(recordPaths.state('p1'), 0);
    // The lease write succeeds; the state write after the call fails twice.
    const original = store.write.bind(store);
    let stateWrites = 0;
    store.write = async (path, value, expected) => {
      if (path === recordPaths.state('p1') && ++stateWrites === 2) store.failWrites.set(path, 2);
      return original(path, value, expected);
    };
    const outcome = await rotate(target, env);
    expect(outcome.status).toBe('rotated');
    expect(provider.calls).toEqual(['obtain']);
    expect(pub()?.generation).toBe(1);
  });

  it('does not retry a store write the store marks as not retryable, and reports it as a store failure', async () => {
    const { target, env, provider, store, pub } = setup();
    const original = store.write.bind(store);
    let stateWrites = 0;
    store.write = async (path, value, expected) => {
      // The lease write succeeds; the state write after the call is refused for good.
      if (path === recordPaths.state('p1') && ++stateWrites === 2)
        throw new StoreError('permission denied on state/p1', { retryable: false });
      return original(path, value, expected);
    };
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({
      status: 'failed',
      ok: false,
      error: { class: 'store', code: 'STORE_UNAVAILABLE', message: 'permission denied on state/p1' },
    });
    expect(stateWrites).toBe(2);
    expect(provider.calls).toEqual(['obtain']);
    expect(pub()).toBeUndefined();
  });

  it('recognises its own write when the acknowledgement was lost', async () => {
    const { target, env, provider, store, pub } = setup();
    const original = store.write.bind(store);
    let stateWrites = 0;
    store.write = async (path, value, expected) => {
      if (path === recordPaths.state('p1') && ++stateWrites === 2) store.loseAcks.set(path, 1);
      return original(path, value, expected);
    };
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', ok: true });
    expect(provider.calls).toEqual(['obtain']);
    expect(pub()?.generation).toBe(1);
  });

  it('republishes from the state when a crash came between the two writes', async () => {
    const { target, env, provider, store, state, pub } = setup();
    const original = store.write.bind(store);
    store.write = async (path, value, expected) => {
      if (path === recordPaths.public('p1')) throw new Error('process died');
      return original(path, value, expected);
    };
    const crashed = await rotate(target, env);
    expect(crashed.status).toBe('failed');
    expect(pub()).toBeUndefined();
    store.write = original;

    const repaired = await rotate(target, env);
    expect(repaired).toMatchObject({ status: 'repaired', ok: true });
    expect(pub()?.access_token).toBe(state()!.token!.access_token);
    expect(provider.calls).toEqual(['obtain']);
  });

  it('re-authenticates after a runner died holding a refresh lease, without reusing its refresh token', async () => {
    const { target, env, provider, clock, store, state } = setup();
    await rotate(target, env);
    clock.now += 2_800_000;
    // Another runner took the lease to refresh, spent the refresh token and died.
    const s = state()!;
    await provider.refresh!(s.refresh_token!);
    const abandoned: StateRecord = {
      ...s,
      lease: {
        holder: 'dead-runner',
        acquired_at: new Date(clock.now).toISOString(),
        expires_at: new Date(clock.now + 120_000).toISOString(),
        intent: 'refresh',
      },
    };
    const version = store.records.get(recordPaths.state('p1'))!.version;
    await store.write(recordPaths.state('p1'), abandoned, String(version));
    clock.now += 121_000;

    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'rotated', method: 'obtain', reason: 'abandoned-refresh' });
    expect(provider.reuses).toBe(0);
  });

  it('waits for another runner holding the lease, then reports busy with the old token still valid', async () => {
    const { target, env, provider, clock, store, state } = setup();
    await rotate(target, env);
    const s = state()!;
    const version = store.records.get(recordPaths.state('p1'))!.version;
    await store.write(
      recordPaths.state('p1'),
      {
        ...s,
        lease: {
          holder: 'other',
          acquired_at: new Date(clock.now).toISOString(),
          expires_at: new Date(clock.now + 600_000).toISOString(),
          intent: 'obtain',
        },
      },
      String(version),
    );
    const outcome = await rotate(target, { ...env, force: true, leaseWaitMs: 2000 });
    expect(outcome).toMatchObject({ status: 'busy', ok: true });
    expect(provider.calls).toEqual(['obtain']);
  });

  it('reports the method it would use, not the last one, on a dry run of a due token', async () => {
    const { target, env, provider, clock } = setup({ renewal: 'refresh' });
    await rotate(target, env);
    clock.now += 2_800_000;
    provider.calls.length = 0;
    const outcome = await rotate(target, { ...env, dryRun: true });
    expect(outcome).toMatchObject({ status: 'would-rotate', method: 'refresh', reason: 'due' });
    expect(provider.calls).toEqual([]);
  });

  it('only reports what it would do on a dry run', async () => {
    const { target, env, provider, store } = setup();
    const outcome = await rotate(target, { ...env, dryRun: true });
    expect(outcome).toMatchObject({ status: 'would-rotate', method: 'obtain', reason: 'missing', ok: true });
    expect(provider.calls).toEqual([]);
    expect(store.writes).toBe(0);
  });

  it('reports an unreadable state record as a store failure without calling the provider', async () => {
    const { target, env, provider, store } = setup();
    await store.write(recordPaths.state('p1'), { nonsense: true }, null);
    const outcome = await rotate(target, env);
    expect(outcome).toMatchObject({ status: 'failed', error: { class: 'store', code: 'STORE_RECORD_INVALID' } });
    expect(provider.calls).toEqual([]);
  });
});

describe('runPass', () => {
  it('keeps rotating the other providers when one fails', async () => {
    const { env, store } = setup();
    const good = new FakeProvider({ lifetime: 900, refreshable: false });
    const bad = new FakeProvider({ lifetime: 900, refreshable: false });
    bad.queue.obtain.push(new ProviderError('permanent', 'invalid_client', {}));
    const summary = await runPass(
      [
        { name: 'bad', provider: bad, policy: basePolicy, renewal: 'refresh' },
        { name: 'good', provider: good, policy: basePolicy, renewal: 'refresh' },
      ],
      env,
      1,
    );
    expect(summary.ok).toBe(false);
    expect(summary.outcomes.map((o) => [o.provider, o.status])).toEqual([
      ['bad', 'failed'],
      ['good', 'rotated'],
    ]);
    expect(store.records.get(recordPaths.public('good'))).toBeDefined();
    expect(summary.counts).toMatchObject({ failed: 1, rotated: 1 });
  });

  it('runs providers concurrently but never more than the cap', async () => {
    const { env } = setup();
    let running = 0;
    let peak = 0;
    const targets: RotationTarget[] = Array.from({ length: 7 }, (_, i) => {
      const provider = new FakeProvider({ lifetime: 900, refreshable: false });
      const obtain = provider.obtain.bind(provider);
      provider.obtain = async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
        return obtain();
      };
      return { name: `p${i}`, provider, policy: basePolicy, renewal: 'refresh' };
    });
    const summary = await runPass(targets, { ...env, now: Date.now }, 3);
    expect(summary.counts.rotated).toBe(7);
    expect(peak).toBe(3);
  });
});

describe('concurrent runners (linearizable lease)', () => {
  it('never spends a refresh token twice when eight runners force rotations at once', async () => {
    const store = new MemoryStore();
    const provider = new FakeProvider({ lifetime: 3600, refreshable: true, delayMs: 3 });
    const target: RotationTarget = {
      name: 'shared',
      provider,
      policy: { ...basePolicy, lease_seconds: 30 },
      renewal: 'refresh',
    };
    const runners = Array.from(
      { length: 8 },
      (_, i): RotationEnv => ({
        store,
        gapSeconds: 300,
        holder: `runner-${i}`,
        logger: silentLogger(),
        force: true,
        sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 5))),
      }),
    );
    for (let round = 0; round < 10; round++) {
      const outcomes = await Promise.all(runners.map((env) => rotate(target, env)));
      expect(outcomes.every((o) => o.ok)).toBe(true);
    }
    expect(provider.reuses).toBe(0);
    expect(provider.obtained).toBe(1);
    // Every forced rotation after the first obtain is a refresh of the latest token.
    expect(provider.refreshed).toBe(provider.calls.length - 1);
    const pub = store.records.get(recordPaths.public('shared'))!.value as PublicRecord;
    const state = store.records.get(recordPaths.state('shared'))!.value as StateRecord;
    expect(pub.generation).toBe(state.generation);
    expect(pub.generation).toBe(provider.calls.length);
  });
});
