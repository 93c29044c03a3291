/**
 * Revocation in the engine (issue 14), with a fake provider above a memory store: which
 * superseded tokens a rotation revokes, and that revoking never fails or changes the
 * rotation; and the decommissioning behind `token-rotator revoke`, its lease, its order
 * and what a failure leaves. The real revocation endpoint is proven in
 * test/e2e/revocation.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { type EffectivePolicy, effectivePolicy } from '../../src/engine/policy.js';
import { emptyState, recordPaths, type StateRecord } from '../../src/engine/records.js';
import { REVOCATION_FAILED, supersededTokens } from '../../src/engine/revoke.js';
import { currentTokens, decommissionProvider } from '../../src/engine/revoke-provider.js';
import { type RotationEnv, type RotationTarget, rotate } from '../../src/engine/rotate.js';
import { ErrorCodes, ProviderError, RotatorError, StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import type { TokenProvider, TokenSet, TokenTypeHint } from '../../src/providers/contract.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { MemoryStore } from '../helpers/memory-store.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const policy: EffectivePolicy = {
  ...effectivePolicy(resolvedConfigSchema.shape.policy.parse({}), undefined),
  jitter_fraction: 0,
};

/** A memory store that can also remove records, and fail to. */
class RemovableStore extends MemoryStore {
  readonly failRemoves = new Set<string>();
  async remove(path: string): Promise<boolean> {
    if (this.failRemoves.has(path)) throw new StoreError(`injected remove failure on ${path}`, { retryable: false });
    return this.records.delete(path);
  }
}

interface Revocation {
  readonly token: string;
  readonly hint: TokenTypeHint;
}

/** The fake provider with a revocation endpoint that records what it was given, or fails. */
function revokingProvider(
  fake: FakeProvider,
  options: { revokeSuperseded?: boolean; fail?: Error; obtain?: () => Promise<TokenSet> } = {},
) {
  const revoked: Revocation[] = [];
  const provider: TokenProvider = {
    kind: 'fake',
    obtain: options.obtain ?? (() => fake.obtain()),
    ...(fake.refresh === undefined ? {} : { refresh: fake.refresh }),
    async revoke(token, hint) {
      if (options.fail !== undefined) throw options.fail;
      revoked.push({ token, hint });
    },
    revokeSuperseded: options.revokeSuperseded ?? true,
  };
  return { provider, revoked };
}

function setup(
  options: { renewal?: 'refresh' | 'reauthenticate'; refreshable?: boolean } & Parameters<
    typeof revokingProvider
  >[1] = {},
) {
  const store = new RemovableStore();
  const fake = new FakeProvider({ lifetime: 3600, refreshable: options.refreshable ?? true });
  const { provider, revoked } = revokingProvider(fake, options);
  const logs = captureLogs();
  const clock = { now: T0 };
  const target: RotationTarget = { name: 'p1', provider, policy, renewal: options.renewal ?? 'reauthenticate' };
  const env: RotationEnv = {
    store,
    gapSeconds: 300,
    holder: 'runner-a',
    logger: logs.logger,
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
    writeRetry: { sleep: async () => {} },
  };
  const state = () => store.records.get(recordPaths.state('p1'))?.value as StateRecord | undefined;
  return { store, fake, provider, revoked, logs, clock, target, env, state };
}

describe('rotate with revoke_superseded', () => {
  it('revokes the refresh token and the access token a re-authentication superseded, after publishing', async () => {
    const { target, env, state, revoked, store } = setup();
    await rotate(target, env);
    const first = state()!;
    expect(revoked).toEqual([]); // nothing superseded by the first token

    const outcome = await rotate(target, { ...env, force: true });

    expect(outcome).toMatchObject({ status: 'rotated', ok: true, method: 'obtain', generation: 2 });
    expect(revoked).toEqual([
      { token: first.refresh_token, hint: 'refresh_token' },
      { token: first.token!.access_token, hint: 'access_token' },
    ]);
    const published = store.records.get(recordPaths.public('p1'))!.value;
    expect(published['access_token']).toBe(state()!.token!.access_token);
    expect(revoked.map((r) => r.token)).not.toContain(state()!.token!.access_token);
    expect(revoked.map((r) => r.token)).not.toContain(state()!.refresh_token);
  });

  it('revokes nothing after a refresh: the new tokens share the grant of the old ones', async () => {
    const { target, env, revoked } = setup({ renewal: 'refresh' });
    await rotate(target, env);

    const outcome = await rotate(target, { ...env, force: true });

    expect(outcome).toMatchObject({ status: 'rotated', method: 'refresh' });
    expect(revoked).toEqual([]);
  });

  it('never revokes a refresh token or an access token the server handed out again', async () => {
    let serial = 0;
    const obtain = async (): Promise<TokenSet> => ({
      accessToken: `at-${++serial}`,
      tokenType: 'Bearer',
      expiresIn: 3600,
      refreshToken: 'rt-unchanged',
    });
    const { target, env, revoked } = setup({ obtain });
    await rotate(target, env);

    await rotate(target, { ...env, force: true });

    expect(revoked).toEqual([{ token: 'at-1', hint: 'access_token' }]);
  });

  it('revokes nothing when revoke_superseded is off', async () => {
    const { target, env, revoked } = setup({ revokeSuperseded: false });
    await rotate(target, env);
    await rotate(target, { ...env, force: true });
    expect(revoked).toEqual([]);
  });

  it('keeps the rotation rotated when the revocation fails, logging a warning with fingerprints only', async () => {
    const failure = new ProviderError('retryable', 'token endpoint failed (HTTP 503)', { status: 503 });
    const { target, env, state, logs, store } = setup({ fail: failure });
    await rotate(target, env);
    const first = state()!;

    const outcome = await rotate(target, { ...env, force: true });

    expect(outcome).toMatchObject({ status: 'rotated', ok: true, generation: 2 });
    expect(outcome.error).toBeUndefined();
    expect(store.records.get(recordPaths.public('p1'))!.value['generation']).toBe(2);
    const warnings = logs.lines().filter((line) => line['err']?.code === REVOCATION_FAILED);
    expect(warnings.map((line) => line['token_type_hint']).sort()).toEqual(['access_token', 'refresh_token']);
    expect(warnings[0]).toMatchObject({
      level: 40,
      err: { class: 'revocation', message: expect.stringMatching(/503/) },
    });
    expect(logs.text()).not.toContain(first.token!.access_token);
    expect(logs.text()).not.toContain(first.refresh_token!);
  });

  it('keeps the rotation rotated when the revocation throws something unexpected', async () => {
    const { target, env } = setup({ fail: new TypeError('boom') });
    await rotate(target, env);
    await expect(rotate(target, { ...env, force: true })).resolves.toMatchObject({ status: 'rotated', ok: true });
  });
});

describe('supersededTokens', () => {
  const state = (access: string | undefined, refresh: string | undefined): StateRecord => ({
    ...emptyState('p'),
    ...(access === undefined
      ? {}
      : {
          token: {
            access_token: access,
            token_type: 'Bearer',
            issued_at: '2026-03-01T00:00:00Z',
            expires_at: '2026-03-01T01:00:00Z',
          },
        }),
    ...(refresh === undefined ? {} : { refresh_token: refresh }),
  });

  it('lists the old refresh token, then the old access token', () => {
    expect(supersededTokens(state('a1', 'r1'), state('a2', 'r2'))).toEqual([
      { token: 'r1', hint: 'refresh_token' },
      { token: 'a1', hint: 'access_token' },
    ]);
  });

  it('leaves out whatever the new state still holds', () => {
    expect(supersededTokens(state('a1', 'r1'), state('a2', 'r1'))).toEqual([{ token: 'a1', hint: 'access_token' }]);
    expect(supersededTokens(state('a1', 'r1'), state('a1', 'r1'))).toEqual([]);
    expect(supersededTokens(state('a1', undefined), state(undefined, 'a1'))).toEqual([]);
  });

  it('lists nothing for a first token', () => {
    expect(supersededTokens(state(undefined, undefined), state('a1', 'r1'))).toEqual([]);
  });
});

describe('decommissionProvider', () => {
  async function rotated(options: Parameters<typeof setup>[0] = {}) {
    const context = setup(options);
    await rotate(context.target, context.env);
    const secondary = new RemovableStore();
    const published = context.store.records.get(recordPaths.public('p1'))!;
    secondary.records.set(recordPaths.public('p1'), structuredClone(published));
    return { ...context, secondary };
  }

  function decommission(context: Awaited<ReturnType<typeof rotated>>, revoke = context.provider.revoke) {
    return decommissionProvider({
      provider: 'p1',
      store: context.store,
      secondaries: [{ name: 'files', store: context.secondary }],
      revoke,
      holder: 'revoke:test',
      leaseSeconds: 60,
      now: () => context.clock.now,
      logger: silentLogger(),
    });
  }

  it('revokes the refresh token, then the access token, then removes the state and both public records', async () => {
    const context = await rotated();
    const held = context.state()!;

    const result = await decommission(context);

    expect(context.revoked).toEqual([
      { token: held.refresh_token, hint: 'refresh_token' },
      { token: held.token!.access_token, hint: 'access_token' },
    ]);
    expect(result.revoked.map((r) => r.hint)).toEqual(['refresh_token', 'access_token']);
    expect(result.revoked[0]!.fingerprint).toMatch(/^sha256:/);
    expect(result.removed).toEqual([
      { path: 'state/p1' },
      { path: 'tokens/p1' },
      { path: 'tokens/p1', store: 'files' },
    ]);
    expect([...context.store.records.keys()]).toEqual([]);
    expect([...context.secondary.records.keys()]).toEqual([]);
    expect(JSON.stringify(result)).not.toContain(held.token!.access_token);
  });

  it('also revokes the access token of a public record behind its state', () => {
    const state = { ...emptyState('p'), refresh_token: 'r1' };
    expect(currentTokens(state, 'a0')).toEqual([
      { token: 'r1', hint: 'refresh_token' },
      { token: 'a0', hint: 'access_token' },
    ]);
  });

  it('removes every record and revokes nothing without a revoke function (--remove-only)', async () => {
    const context = await rotated();
    const result = await decommissionProvider({
      provider: 'p1',
      store: context.store,
      secondaries: [],
      holder: 'revoke:test',
      leaseSeconds: 60,
      now: () => context.clock.now,
      logger: silentLogger(),
    });
    expect(context.revoked).toEqual([]);
    expect(result).toEqual({ revoked: [], removed: [{ path: 'state/p1' }, { path: 'tokens/p1' }] });
  });

  it('removes nothing and releases its lease when a revocation fails', async () => {
    const context = await rotated();
    const before = context.state()!;
    const failing = async () => {
      throw new ProviderError(
        'permanent',
        'revocation endpoint refused the client (HTTP 401, authentication challenge)',
        {
          status: 401,
          reason: 'invalid_client',
        },
      );
    };

    const error = await decommission(context, failing).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ProviderError);
    expect((error as ProviderError).message).toMatch(
      /could not revoke the refresh token of p1 .*no record was removed/,
    );
    expect((error as ProviderError).message).not.toContain(before.refresh_token!);
    expect(context.store.records.has('state/p1')).toBe(true);
    expect(context.store.records.has('tokens/p1')).toBe(true);
    expect(context.secondary.records.has('tokens/p1')).toBe(true);
    expect(context.state()!.lease).toBeUndefined();
    expect(context.state()!.refresh_token).toBe(before.refresh_token);
  });

  it('refuses with LEASE_BUSY, doing nothing, while another runner holds a live lease', async () => {
    const context = await rotated();
    const state = context.state()!;
    const version = String(context.store.records.get('state/p1')!.version);
    const lease = {
      holder: 'runner-b',
      acquired_at: new Date(T0).toISOString(),
      expires_at: new Date(T0 + 60_000).toISOString(),
      intent: 'refresh',
    };
    await context.store.write('state/p1', { ...state, lease }, version);

    const error = await decommission(context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(RotatorError);
    expect((error as RotatorError).code).toBe(ErrorCodes.LEASE_BUSY);
    expect(context.revoked).toEqual([]);
    expect(context.store.records.has('state/p1')).toBe(true);
  });

  it('releases its lease and drops the revoked tokens when the state cannot be removed, so --remove-only can finish', async () => {
    const context = await rotated();
    const held = context.state()!;
    context.store.failRemoves.add('state/p1');

    const error = await decommission(context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    const left = context.state()!;
    expect(left.lease).toBeUndefined();
    expect(left.token).toBeUndefined();
    expect(left.refresh_token).toBeUndefined();
    expect(left.generation).toBe(held.generation);
    context.store.failRemoves.clear();
    const finished = await decommissionProvider({
      provider: 'p1',
      store: context.store,
      secondaries: [],
      holder: 'revoke:another-process',
      leaseSeconds: 60,
      now: () => context.clock.now,
      logger: silentLogger(),
    });
    expect(finished.removed).toEqual([{ path: 'state/p1' }, { path: 'tokens/p1' }]);
  });

  it('says what it had done and how to finish when a removal fails', async () => {
    const context = await rotated();
    context.secondary.failRemoves.add('tokens/p1');

    const error = await decommission(context).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(
      /could not remove tokens\/p1 in store files: .*already revoked the refresh token and access token, removed state\/p1, removed tokens\/p1; run `token-rotator revoke p1 --remove-only` to finish/,
    );
  });
});
