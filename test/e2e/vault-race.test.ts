import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxTarget } from '../../src/sandbox/index.js';
import { type CliResult, PROVIDERS } from '../helpers/scenario.js';
import { startVaultScenario, type VaultScenario } from '../helpers/vault-scenario.js';

/** How many `token-rotator run` processes race in each round. */
const RUNNERS = 8;
/** Rounds of forced runs, each one refresh (or obtain) per runner and provider. */
const FORCED_ROUNDS = 3;

const TARGETS: Record<(typeof PROVIDERS)[number], SandboxTarget> = {
  'keliweb-api': 'keliweb-api-v2',
  'keliweb-fatture': 'keliweb-fatture',
  klikoo: 'klikoo',
  generic: 'oauth2',
};

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  method?: string;
}

let scenario: VaultScenario;
beforeAll(async () => {
  // AppRole with the rotator policy: each runner logs in on its own, as on separate hosts.
  // A lease wait long enough for seven others to go first, even on a loaded machine; four
  // providers at once per runner.
  scenario = await startVaultScenario({
    auth: 'approle',
    workspace: { policy: { lease_seconds: 60, concurrency: 4 } },
  });
});
afterAll(async () => {
  await scenario?.close();
});

/** Starts `RUNNERS` runs together and waits for all; each must exit 0. */
async function race(args: readonly string[]): Promise<Outcome[]> {
  const results: CliResult[] = await Promise.all(
    Array.from({ length: RUNNERS }, () => scenario.cli(['run', '--json', ...args], { timeoutMs: 60_000 })),
  );
  for (const result of results) expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return results.flatMap((result) => (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes);
}

/**
 * Every provider's public record in Vault holds an access token the sandbox finds active,
 * the same one as the state, no lease is left behind, and any refresh token kept is live.
 */
async function expectEveryProviderValid(context: string): Promise<void> {
  for (const provider of PROVIDERS) {
    const published = await scenario.publicRecord(provider);
    const state = await scenario.stateRecord(provider);
    expect(published, `${provider} ${context}`).toBeDefined();
    expect(scenario.sandbox.introspect(published!['access_token'] as string), `${provider} ${context}`).toMatchObject({
      active: true,
      token_kind: 'access',
      target: TARGETS[provider],
    });
    expect(state!['token'], `${provider} ${context}`).toMatchObject({ access_token: published!['access_token'] });
    expect(state!['generation']).toBe(published!['generation']);
    expect(state!['lease'], `${provider} ${context}: no lease left`).toBeUndefined();
    if (state!['refresh_token'] !== undefined) {
      expect(scenario.sandbox.introspect(state!['refresh_token'] as string), `${provider} ${context}`).toMatchObject({
        active: true,
        token_kind: 'refresh',
      });
    }
  }
}

describe(`${RUNNERS} token-rotator run processes on one OpenBao`, () => {
  it('without --force, obtain each missing provider exactly once between them', async () => {
    const outcomes = await race([]);
    await scenario.harvestTokens();

    expect(outcomes).toHaveLength(RUNNERS * PROVIDERS.length);
    expect(outcomes.every((outcome) => outcome.ok)).toBe(true);
    const rotated = outcomes.filter((outcome) => outcome.status === 'rotated');
    expect(rotated.map((outcome) => outcome.provider).sort()).toEqual([...PROVIDERS].sort());
    expect(rotated.every((outcome) => outcome.method === 'obtain')).toBe(true);
    // The others waited for the lease and found the token fresh, or published it first
    // from the state the winner had written (a repair, not a second token call).
    expect(
      outcomes
        .filter((outcome) => outcome.status !== 'rotated')
        .every((outcome) => ['fresh', 'repaired'].includes(outcome.status)),
    ).toBe(true);
    for (const target of Object.values(TARGETS)) {
      expect(scenario.sandbox.stats(target), target).toMatchObject({ obtained: 1, refreshed: 0, reuseDetected: 0 });
    }
    await expectEveryProviderValid('after the first race');
  }, 90_000);

  it('with --force, refresh and re-obtain one after another, round after round, never reusing a refresh token', async () => {
    const seconds: string[] = [];
    for (let round = 1; round <= FORCED_ROUNDS; round++) {
      const started = Date.now();
      // Every runner rotates every provider: each waits for the lease, then refreshes the
      // token the previous holder stored. A stale read would present a spent refresh token.
      const outcomes = await race(['--force']);
      seconds.push(((Date.now() - started) / 1000).toFixed(1));
      await scenario.harvestTokens();
      expect(outcomes).toHaveLength(RUNNERS * PROVIDERS.length);
      expect(
        outcomes.filter((outcome) => outcome.status !== 'rotated'),
        `round ${round}`,
      ).toEqual([]);
      await expectEveryProviderValid(`after forced round ${round}`);
    }

    const rotations = RUNNERS * FORCED_ROUNDS;
    const total = scenario.sandbox.stats();
    console.info(
      `vault race: ${RUNNERS} runners x ${FORCED_ROUNDS} forced rounds + 1 plain round: ` +
        `${(1 + rotations) * PROVIDERS.length} rotations, ${total.refreshed} refreshes, ${total.obtained} obtains, ${total.reuseDetected} refresh-token reuses; forced rounds took ${seconds.join(', ')} s`,
    );
    expect(total.reuseDetected).toBe(0);
    // Keliweb API v2 refreshes (renewal: refresh); the others obtain anew every time.
    expect(scenario.sandbox.stats('keliweb-api-v2')).toMatchObject({
      obtained: 1,
      refreshed: rotations,
      reuseDetected: 0,
    });
    for (const target of ['keliweb-fatture', 'klikoo', 'oauth2'] as const) {
      expect(scenario.sandbox.stats(target), target).toMatchObject({
        obtained: 1 + rotations,
        refreshed: 0,
        reuseDetected: 0,
      });
    }
    for (const provider of PROVIDERS) {
      expect((await scenario.publicRecord(provider))!['generation'], provider).toBe(1 + rotations);
    }
  }, 180_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThanOrEqual(RUNNERS * (1 + FORCED_ROUNDS) * 2);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
