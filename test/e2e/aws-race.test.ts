/**
 * Concurrent `token-rotator run` processes sharing providers through AWS (a real
 * moto_server, through the real SDK: Secrets Manager for the state rings and the hour
 * tokens' public records, Parameter Store for the 900 s token's public record and the
 * heartbeat), with the sandbox as the vendors.
 *
 * What this proves: the runners' compare-and-set lease over the state ring works through
 * the real wire protocol: with every runner forcing a rotation of every provider in every
 * round, each refresh token is spent once (the sandbox counts reuses), and every provider
 * ends valid. Forced rotations still keep within each state record's write budget: once
 * a provider's token bucket is spent, a runner reports it `paced` instead of rotating, so
 * the later rounds rotate less than they force. What it cannot prove: that Secrets
 * Manager itself serialises two UpdateSecretVersionStage calls arriving in the same
 * instant. moto's threaded server takes no lock per secret, so a truly simultaneous pair
 * of moves is not linearizable there; AWS documents the call as failing when the label has
 * moved. The linearizable proof (eight runners over a store whose CAS is atomic) is in
 * test/unit/engine.test.ts.
 *
 * It prints how many versions each secret and parameter received: a lost race still
 * stages a version (PutSecretValue before the move that fails), and that is what the cost
 * of contention looks like on the bill and in the 100-versions-a-day budget.
 */
import { randomUUID } from 'node:crypto';
import {
  ListSecretsCommand,
  type ListSecretsCommandOutput,
  ListSecretVersionIdsCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AwsStore, createAwsStore } from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { type CliResult, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const RUNNERS = 8;
const ROUNDS = 3;

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  method?: string;
}

let moto: Moto;
let records: AwsStore;
let scenario: Scenario;
let prefix: string;
beforeAll(async () => {
  moto = await startMoto();
  prefix = `race-${randomUUID()}/`;
  const section = { kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 3 };
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  records = createAwsStore({ kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 3 });
  // A lease wait long enough for seven others to go first on a loaded machine.
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

async function race(args: readonly string[]): Promise<Outcome[]> {
  const results: CliResult[] = await Promise.all(
    Array.from({ length: RUNNERS }, () => scenario.cli(['run', '--json', ...args], { timeoutMs: 90_000 })),
  );
  for (const result of results) expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return results.flatMap((result) => (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes);
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

/** Versions each secret (every version, deprecated ones too) and parameter under the prefix received. */
async function versionsPerName(): Promise<Record<string, number>> {
  const clients = {
    endpoint: moto.endpoint,
    region: MOTO_ENV.AWS_REGION,
    credentials: { accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY },
  };
  const secretsManager = new SecretsManagerClient(clients);
  const ssm = new SSMClient(clients);
  try {
    const versions: Record<string, number> = {};
    let next: string | undefined;
    do {
      const page: ListSecretsCommandOutput = await secretsManager.send(
        new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], NextToken: next }),
      );
      for (const secret of page.SecretList ?? []) {
        const listed = await secretsManager.send(
          new ListSecretVersionIdsCommand({ SecretId: secret.Name, IncludeDeprecated: true, MaxResults: 100 }),
        );
        versions[secret.Name!.slice(prefix.length)] = listed.Versions?.length ?? 0;
      }
      next = page.NextToken;
    } while (next);
    const parameters = await ssm.send(
      new GetParametersByPathCommand({ Path: `/${prefix.slice(0, -1)}`, Recursive: true }),
    );
    for (const parameter of parameters.Parameters ?? []) {
      versions[`parameter ${parameter.Name!.slice(prefix.length + 1)}`] = parameter.Version ?? 0;
    }
    return versions;
  } finally {
    secretsManager.destroy();
    ssm.destroy();
  }
}

describe(`${RUNNERS} token-rotator run processes on one AWS account (moto)`, () => {
  it('rotate each missing provider exactly once without --force', async () => {
    const outcomes = await race([]);

    expect(outcomes.filter((o) => o.status === 'rotated')).toHaveLength(PROVIDERS.length);
    // A runner that reads between another's state and public writes republishes: 'repaired'.
    for (const o of outcomes) expect(['rotated', 'fresh', 'repaired'], JSON.stringify(o)).toContain(o.status);
    expect(scenario.sandbox.stats()).toMatchObject({ obtained: PROVIDERS.length, refreshed: 0, reuseDetected: 0 });
    await expectEveryProviderValid();
  }, 120_000);

  it('never spend a refresh token twice when every runner forces every provider, round after round', async () => {
    const rotated = new Map<string, number>(PROVIDERS.map((provider) => [provider, 0]));
    const paced = new Map<string, number>(PROVIDERS.map((provider) => [provider, 0]));
    for (let round = 0; round < ROUNDS; round++) {
      const outcomes = await race(['--force']);

      const unexpected = outcomes.filter((o) => !o.ok || !['rotated', 'paced'].includes(o.status));
      expect(unexpected, JSON.stringify(unexpected)).toEqual([]);
      // The first round fits in every provider's burst of writes: every runner rotates every provider.
      if (round === 0) {
        expect(
          outcomes.filter((o) => o.status === 'rotated'),
          JSON.stringify(outcomes.filter((o) => o.status !== 'rotated')),
        ).toHaveLength(RUNNERS * PROVIDERS.length);
      }
      for (const o of outcomes) {
        const count = o.status === 'rotated' ? rotated : paced;
        count.set(o.provider, (count.get(o.provider) ?? 0) + 1);
      }
      await scenario.harvestTokens();
      await expectEveryProviderValid();
    }

    const stats = scenario.sandbox.stats();
    console.log(
      `aws race: ${RUNNERS} runners x ${ROUNDS} forced rounds: ${JSON.stringify(stats)}; rotated ${JSON.stringify(
        Object.fromEntries(rotated),
      )}, paced ${JSON.stringify(Object.fromEntries(paced))}`,
    );
    expect(stats.reuseDetected).toBe(0);
    // Keliweb API v2 refreshes: one obtain in the first test, then one refresh per forced rotation.
    expect(scenario.sandbox.stats('keliweb-api-v2')).toMatchObject({
      obtained: 1,
      refreshed: rotated.get('keliweb-api'),
    });
    for (const provider of PROVIDERS) {
      expect((await scenario.stateRecord(provider))!['generation'], provider).toBe(1 + rotated.get(provider)!);
      expect(rotated.get(provider)! + paced.get(provider)!, provider).toBe(RUNNERS * ROUNDS);
    }

    const versions = await versionsPerName();
    console.log(
      `aws race: versions per secret and parameter (a lost race stages none):\n${Object.entries(versions)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, count]) => `  ${name}: ${count}`)
        .join('\n')}`,
    );
    // Every state and token record exists where the layout puts it. A secret holds exactly its
    // winning writes: every lost race, of eight runners in every round, made no version (writers
    // over one version stage one version id between them). A parameter has no such check and
    // may take a loser's write too; it has no version budget.
    for (const provider of PROVIDERS) {
      const generation = 1 + rotated.get(provider)!;
      const state = Object.entries(versions).filter(([name]) => name.startsWith(`state/${provider}@`));
      const stateVersions = state.reduce((sum, [, count]) => sum + count, 0);
      expect(stateVersions, provider).toBe(2 * generation);
      if (versions[`tokens/${provider}`] !== undefined)
        expect(versions[`tokens/${provider}`], provider).toBe(generation);
      else expect(versions[`parameter tokens/${provider}`], provider).toBeGreaterThanOrEqual(generation);
    }
  }, 300_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
