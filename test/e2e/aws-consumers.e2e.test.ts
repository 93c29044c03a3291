/**
 * Issue 10's first proof, as users run it: the built CLI rotates the sandbox's vendors
 * into AWS (a real moto_server, through the real SDK), and standard AWS clients read each
 * current token in ONE call on its documented name, with nothing of this project's code:
 *
 * - an hour token (Keliweb, OAuth 2.0; 3600 s): `aws secretsmanager get-secret-value
 *   --secret-id <prefix>tokens/<p>` and boto3 `get_secret_value`;
 * - a 900 s token (Klikoo), written more than 96 times a day: `aws ssm get-parameter
 *   --name /<prefix>tokens/<p> --with-decryption` and boto3 `get_parameter`.
 *
 * Each read goes through the call counter, which proves it was one request; the value
 * must be the public record JSON whose access token the sandbox's introspection says is
 * active. The names that exist afterwards are exactly the documented layout.
 */
import { randomUUID } from 'node:crypto';
import {
  ListSecretsCommand,
  type ListSecretsCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, type GetParametersByPathCommandOutput, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type AwsStore, createAwsStore } from '../../src/stores/aws/index.js';
import { type AwsCallCounter, startAwsCallCounter } from '../helpers/aws-call-counter.js';
import { CONSUMERS } from '../helpers/aws-consumers.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { PROVIDER_VENDORS, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const VENDORS = PROVIDER_VENDORS;
const HOURLY = PROVIDERS.filter((provider) => VENDORS[provider].lifetime === 3600);
const FREQUENT = PROVIDERS.filter((provider) => VENDORS[provider].lifetime === 900);
/** Forced runs after the first: enough state writes (two a rotation) to use all five slots of a 900 s token's ring. */
const FORCED_RUNS = 3;

const credentials = {
  accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID,
  secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY,
  sessionToken: MOTO_ENV.AWS_SESSION_TOKEN,
};

let moto: Moto;
let counter: AwsCallCounter;
let records: AwsStore;
let scenario: Scenario;
const prefix = `consumers-${randomUUID().slice(0, 8)}/`;

beforeAll(async () => {
  moto = await startMoto();
  counter = await startAwsCallCounter(moto.endpoint);
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  const section = { kind: 'aws', prefix, region: MOTO_ENV.AWS_REGION, endpoint: moto.endpoint, max_attempts: 3 };
  records = createAwsStore({ ...section, kind: 'aws' });
  scenario = await startScenario({ store: { section, records, env: MOTO_ENV } });
}, 60_000);
afterAll(async () => {
  await scenario?.close();
  await records?.close();
  await counter?.stop();
  await moto?.stop();
  vi.unstubAllEnvs();
});

/** Runs `token-rotator run --json` with `args`; it must exit 0 and rotate every provider. */
async function run(args: readonly string[]): Promise<void> {
  const result = await scenario.cli(['run', '--json', ...args], { timeoutMs: 60_000 });
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  const { outcomes } = JSON.parse(result.stdout) as { outcomes: Array<{ provider: string; status: string }> };
  expect(outcomes.map((outcome) => [outcome.provider, outcome.status]).sort()).toEqual(
    PROVIDERS.map((provider) => [provider, 'rotated']).sort(),
  );
}

describe('AWS consumers read the token-rotator layout in one call (moto, the built CLI, the sandbox)', () => {
  it('rotates every provider once, then again with --force, every run exiting 0', async () => {
    await run([]);
    for (let n = 0; n < FORCED_RUNS; n++) await run(['--force']);

    await scenario.harvestTokens();
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
    for (const provider of PROVIDERS) {
      expect((await scenario.stateRecord(provider))?.['generation'], provider).toBe(1 + FORCED_RUNS);
    }
  }, 240_000);

  describe.each(CONSUMERS)('$name', (consumer) => {
    const providers = consumer.reads === 'secret' ? HOURLY : FREQUENT;
    const nameOf = (provider: string) =>
      consumer.reads === 'secret' ? `${prefix}tokens/${provider}` : `/${prefix}tokens/${provider}`;

    it.each(providers)(
      'reads the public record of %s in one call: the JSON whose access token the sandbox finds active',
      async (provider) => {
        const name = nameOf(provider);
        counter.reset();

        const { value } = await consumer.read(name, { endpoint: counter.endpoint });

        const operation = consumer.reads === 'secret' ? 'secretsmanager.GetSecretValue' : 'ssm.GetParameter';
        expect(counter.counts()).toEqual({ [operation]: 1 });
        expect(counter.calls()).toEqual([expect.objectContaining({ resource: name })]);
        const record = JSON.parse(value) as Record<string, unknown>;
        expect(Object.keys(record).sort()).toEqual(
          ['access_token', 'expires_at', 'generation', 'issued_at', 'provider', 'token_type'].sort(),
        );
        const state = await scenario.stateRecord(provider);
        expect(record).toMatchObject({ provider, generation: state!['generation'], token_type: 'Bearer' });
        expect(state!['token']).toMatchObject({ access_token: record['access_token'] });
        expect(scenario.sandbox.introspect(record['access_token'] as string)).toMatchObject({
          active: true,
          token_kind: 'access',
          target: VENDORS[provider].target,
        });
        const lifetime =
          (Date.parse(record['expires_at'] as string) - Date.parse(record['issued_at'] as string)) / 1000;
        expect(lifetime).toBe(VENDORS[provider].lifetime);
        // What the rotator's own reader sees is the same record.
        expect(await scenario.publicRecord(provider)).toEqual(record);
      },
      30_000,
    );
  });

  it('leaves exactly the documented names: a secret and one state slot per hour token, a parameter and five state slots per 900 s token, the heartbeat parameter', async () => {
    const clients = { endpoint: moto.endpoint, region: MOTO_ENV.AWS_REGION, credentials };
    const secretsManager = new SecretsManagerClient(clients);
    const ssm = new SSMClient(clients);
    try {
      const secrets: string[] = [];
      let next: string | undefined;
      do {
        const page: ListSecretsCommandOutput = await secretsManager.send(
          new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], NextToken: next }),
        );
        secrets.push(...(page.SecretList ?? []).map((secret) => secret.Name!));
        next = page.NextToken;
      } while (next);
      const parameters: Array<{ Name?: string | undefined; Type?: string | undefined }> = [];
      next = undefined;
      do {
        const page: GetParametersByPathCommandOutput = await ssm.send(
          new GetParametersByPathCommand({ Path: `/${prefix.slice(0, -1)}`, Recursive: true, NextToken: next }),
        );
        parameters.push(...(page.Parameters ?? []));
        next = page.NextToken;
      } while (next);

      const expectedSecrets = [
        ...HOURLY.flatMap((provider) => [`${prefix}tokens/${provider}`, `${prefix}state/${provider}@0`]),
        ...FREQUENT.flatMap((provider) => [0, 1, 2, 3, 4].map((slot) => `${prefix}state/${provider}@${slot}`)),
      ];
      expect(secrets.sort()).toEqual(expectedSecrets.sort());
      expect(
        parameters.map(({ Name, Type }) => ({ Name, Type })).sort((a, b) => a.Name!.localeCompare(b.Name!)),
      ).toEqual(
        [
          { Name: `/${prefix}runner/heartbeat`, Type: 'String' },
          ...FREQUENT.map((provider) => ({ Name: `/${prefix}tokens/${provider}`, Type: 'SecureString' })),
        ].sort((a, b) => a.Name.localeCompare(b.Name)),
      );
    } finally {
      secretsManager.destroy();
      ssm.destroy();
    }
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
