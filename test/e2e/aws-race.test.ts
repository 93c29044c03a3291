/**
 * Concurrent `token-rotator run` processes sharing providers through AWS Secrets Manager
 * (a real moto_server, through the real SDK), with the sandbox as the vendors.
 *
 * What this proves: the runners' compare-and-set lease over the ring of secrets works
 * through the real wire protocol: with every runner forcing a rotation of every provider
 * in every round, each refresh token is spent once (the sandbox counts reuses), and every
 * provider ends valid. What it cannot prove: that Secrets Manager itself serialises two
 * UpdateSecretVersionStage calls arriving in the same instant. moto's threaded server
 * takes no lock per secret, so a truly simultaneous pair of moves is not linearizable
 * there; AWS documents the call as failing when the label has moved. The linearizable
 * proof (eight runners over a store whose CAS is atomic) is in test/unit/engine.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AwsStore, createAwsStore } from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { type CliResult, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const RUNNERS = 4;
const ROUNDS = 3;

let moto: Moto;
let records: AwsStore;
let scenario: Scenario;
beforeAll(async () => {
  moto = await startMoto();
  const prefix = `race-${randomUUID()}/`;
  const section = { kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 3 };
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  records = createAwsStore({ kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 3 });
  scenario = await startScenario({
    store: { section, records, env: MOTO_ENV },
    workspace: { policy: { lease_seconds: 30, concurrency: 4 } },
  });
}, 60_000);
afterAll(async () => {
  await scenario?.close();
  await records?.close();
  await moto?.stop();
  vi.unstubAllEnvs();
});

async function race(args: readonly string[]): Promise<Array<{ provider: string; status: string; method?: string }>> {
  const results: CliResult[] = await Promise.all(
    Array.from({ length: RUNNERS }, () => scenario.cli(['run', '--json', ...args], { timeoutMs: 90_000 })),
  );
  for (const result of results) expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return results.flatMap(
    (result) =>
      (JSON.parse(result.stdout) as { outcomes: Array<{ provider: string; status: string; method?: string }> })
        .outcomes,
  );
}

async function expectEveryProviderValid(): Promise<void> {
  for (const provider of PROVIDERS) {
    const published = await scenario.publicRecord(provider);
    const state = await scenario.stateRecord(provider);
    expect(published, provider).toBeDefined();
    expect(scenario.sandbox.isValid(published!['access_token'] as string), `${provider} holds a valid token`).toBe(
      true,
    );
    expect(state!['generation'], provider).toBe(published!['generation']);
    expect(state!['lease'], `${provider}: no lease left`).toBeUndefined();
  }
}

describe(`${RUNNERS} token-rotator run processes on one AWS Secrets Manager (moto)`, () => {
  it('rotate each missing provider exactly once without --force', async () => {
    const outcomes = await race([]);

    expect(outcomes.filter((o) => o.status === 'rotated')).toHaveLength(PROVIDERS.length);
    // A runner that reads between another's state and public writes republishes: 'repaired'.
    for (const o of outcomes) expect(['rotated', 'fresh', 'repaired'], JSON.stringify(o)).toContain(o.status);
    expect(scenario.sandbox.stats()).toMatchObject({ obtained: PROVIDERS.length, refreshed: 0, reuseDetected: 0 });
    await expectEveryProviderValid();
  }, 120_000);

  it('never spend a refresh token twice when every runner forces every provider, round after round', async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const outcomes = await race(['--force']);
      expect(outcomes.filter((o) => o.status === 'rotated')).toHaveLength(RUNNERS * PROVIDERS.length);
      await scenario.harvestTokens();
      await expectEveryProviderValid();
    }

    const stats = scenario.sandbox.stats();
    console.log(`aws race: ${RUNNERS} runners x ${ROUNDS} forced rounds: ${JSON.stringify(stats)}`);
    expect(stats.reuseDetected).toBe(0);
    // Keliweb API v2 refreshes: one obtain in the first test, then one refresh per forced rotation.
    expect(scenario.sandbox.stats('keliweb-api-v2')).toMatchObject({ obtained: 1, refreshed: RUNNERS * ROUNDS });
    expect((await scenario.stateRecord('keliweb-api'))!['generation']).toBe(1 + RUNNERS * ROUNDS);
  }, 300_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
