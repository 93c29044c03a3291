/**
 * Upgrading from release 0.1 on AWS, as users do it: a store holding the 0.1 layout (every
 * record a ring of six secrets, `<prefix><path>@0` … `@5`, each slot's AWSCURRENT value
 * `{"ring":{"seq":n,"size":6},"record":{…}}`, tagged managed-by, provider and ring-slot)
 * is taken over by the new release's `token-rotator run`, while a consumer polls every
 * provider with `createTokenReader`, which reads without knowing a record's usage.
 *
 * The 0.1 records are real: six rotations of the sandbox's vendors through the built CLI
 * with the file store, each pass's records copied into the ring slots 0.1 would have
 * written them to (two state writes a rotation, one public write, one heartbeat a pass),
 * with the raw SDK.
 *
 * What must hold: the consumer never gets an error, an expired or an inactive token; the
 * migration calls no vendor; the refresh token chain goes on from the migrated state with
 * no reuse; afterwards the documented names exist and the AWS CLI reads each public
 * record in one call.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  ListSecretsCommand,
  type ListSecretsCommandOutput,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetParametersByPathCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { createTokenReader } from '../../src/reader.js';
import { type AwsStore, createAwsStore } from '../../src/stores/aws/index.js';
import { type AwsCallCounter, startAwsCallCounter } from '../helpers/aws-call-counter.js';
import { awsCliGetParameter, awsCliGetSecretValue } from '../helpers/aws-consumers.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';
import { PROVIDER_VENDORS, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

const VENDORS = PROVIDER_VENDORS;
/** The size release 0.1 gave every ring (a five-minute schedule). */
const LEGACY_SIZE = 6;
/** Passes with the file store, one rotation of every provider each: the public rings fill all six slots. */
const PASSES = LEGACY_SIZE;
const POLL_MS = 50;

type Json = Record<string, unknown>;
/** What one pass with the file store left: each provider's records and the heartbeat. */
interface Snapshot {
  readonly state: Record<string, Json>;
  readonly tokens: Record<string, Json>;
  readonly heartbeat: Json;
}

let moto: Moto;
let counter: AwsCallCounter;
let raw: SecretsManagerClient;
let ssm: SSMClient;
let scenario: Scenario;
let records: AwsStore;
const prefix = `migration-${randomUUID().slice(0, 8)}/`;
const snapshots: Snapshot[] = [];

beforeAll(async () => {
  moto = await startMoto();
  // The test's own store finds moto's fake credentials by the SDK's chain, as the CLI does.
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  counter = await startAwsCallCounter(moto.endpoint);
  const clients = {
    endpoint: moto.endpoint,
    region: MOTO_ENV.AWS_REGION,
    credentials: { accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY },
  };
  raw = new SecretsManagerClient(clients);
  ssm = new SSMClient(clients);
  records = createAwsStore(
    { kind: 'aws', prefix, region: MOTO_ENV.AWS_REGION, endpoint: moto.endpoint, max_attempts: 3 },
    {},
  );
  // The file store first: the workspace's default.
  scenario = await startScenario();
}, 60_000);
afterAll(async () => {
  await scenario?.close();
  await records?.close();
  raw?.destroy();
  ssm?.destroy();
  await counter?.stop();
  await moto?.stop();
  vi.unstubAllEnvs();
});

async function fileRecord(path: string): Promise<Json> {
  return (JSON.parse(await readFile(join(scenario.storeDir, `${path}.json`), 'utf8')) as { data: Json }).data;
}

/** Runs the CLI; it must exit 0. Returns its outcomes. */
async function run(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const result = await scenario.cli(['run', '--json', ...args], { env, timeoutMs: 60_000 });
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
  return (JSON.parse(result.stdout) as { outcomes: Array<{ provider: string; status: string; ok: boolean }> }).outcomes;
}

/** Creates one slot of a 0.1 ring, as 0.1 did: the envelope at AWSCURRENT, tagged. */
async function legacySlot(path: string, seq: number, record: Json): Promise<void> {
  const slot = seq % LEGACY_SIZE;
  const provider = /^(?:tokens|state)\/(.+)$/.exec(path)?.[1];
  await raw.send(
    new CreateSecretCommand({
      Name: `${prefix}${path}@${slot}`,
      SecretString: JSON.stringify({ ring: { seq, size: LEGACY_SIZE }, record }),
      Tags: [
        { Key: 'managed-by', Value: 'token-rotator' },
        ...(provider === undefined ? [] : [{ Key: 'provider', Value: provider }]),
        { Key: 'ring-slot', Value: String(slot) },
      ],
    }),
  );
}

/** Secret names under the prefix, without it, sorted. */
async function secretNames(): Promise<string[]> {
  const names: string[] = [];
  let next: string | undefined;
  do {
    const page: ListSecretsCommandOutput = await raw.send(
      new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [prefix] }], NextToken: next }),
    );
    names.push(...(page.SecretList ?? []).map((secret) => secret.Name!.slice(prefix.length)));
    next = page.NextToken;
  } while (next);
  return names.sort();
}

describe('migrating a 0.1 AWS layout with token-rotator run (moto, the built CLI, the sandbox)', () => {
  it('builds the 0.1 layout from six real passes with the file store', async () => {
    for (let pass = 0; pass < PASSES; pass++) {
      const outcomes = await run(pass === 0 ? [] : ['--force']);
      expect(outcomes.map((o) => o.status)).toEqual(PROVIDERS.map(() => 'rotated'));
      const state: Record<string, Json> = {};
      const tokens: Record<string, Json> = {};
      for (const provider of PROVIDERS) {
        state[provider] = await fileRecord(`state/${provider}`);
        tokens[provider] = await fileRecord(`tokens/${provider}`);
      }
      snapshots.push({ state, tokens, heartbeat: await fileRecord('runner/heartbeat') });
    }

    // 0.1 wrote a provider's state twice a rotation (the lease, then the result), its public
    // record and the heartbeat once a pass, each write to slot seq mod 6. What is left is
    // each ring's last six writes.
    const stateWrites = 2 * PASSES;
    for (const provider of PROVIDERS) {
      for (let seq = stateWrites - LEGACY_SIZE; seq < stateWrites; seq++) {
        const pass = Math.floor(seq / 2);
        const result = snapshots[pass]!.state[provider]!;
        const before = snapshots[pass - 1]?.state[provider] ?? { schema: 1, provider, generation: 0 };
        const leased = {
          ...before,
          lease: {
            holder: 'runner-0.1',
            acquired_at: result['updated_at'] ?? new Date().toISOString(),
            expires_at: new Date(Date.now() + 5_000).toISOString(),
            intent: pass === 0 ? 'obtain' : 'refresh',
          },
        };
        await legacySlot(`state/${provider}`, seq, seq % 2 === 0 ? leased : result);
      }
      for (let seq = 0; seq < PASSES; seq++)
        await legacySlot(`tokens/${provider}`, seq, snapshots[seq]!.tokens[provider]!);
    }
    for (let seq = 0; seq < PASSES; seq++) await legacySlot('runner/heartbeat', seq, snapshots[seq]!.heartbeat);

    // The new release reads the 0.1 rings natively: the public record falls back to its ring.
    const last = snapshots.at(-1)!;
    for (const provider of PROVIDERS) {
      expect(await records.read(`tokens/${provider}`)).toEqual({ value: last.tokens[provider], version: 'l:' });
      expect((await records.read(`state/${provider}`))?.value).toEqual(last.state[provider]);
    }
    expect(await secretNames()).toHaveLength((2 * PROVIDERS.length + 1) * LEGACY_SIZE);
    // From here on the runners use AWS.
    const config = parse(await readFile(scenario.configPath, 'utf8')) as Json;
    const section = { kind: 'aws', prefix, region: MOTO_ENV.AWS_REGION, endpoint: moto.endpoint, max_attempts: 3 };
    await writeFile(scenario.configPath, stringify({ ...config, store: section }), { mode: 0o600 });
  }, 120_000);

  it('keeps every token a polling consumer reads valid while run migrates the records to the new names, calling no vendor', async () => {
    const before = scenario.sandbox.stats();
    const failures: string[] = [];
    const versionKinds = new Set<string>();
    let reads = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        for (const provider of PROVIDERS) {
          // A fresh reader each time: the reader's cache must not hide a read of the store.
          const reader = createTokenReader({ store: records, refreshMarginSeconds: 0 });
          try {
            const token = await reader.get(provider);
            reads += 1;
            if (token.expiresAt.getTime() <= Date.now()) failures.push(`${provider}: expired token`);
            const introspection = scenario.sandbox.introspect(token.accessToken);
            if (!introspection.active || introspection.target !== VENDORS[provider].target)
              failures.push(`${provider}: inactive token (generation ${token.generation})`);
          } catch (error) {
            failures.push(`${provider}: ${(error as Error).name}: ${(error as Error).message}`);
          }
        }
        const read = await records.read('tokens/keliweb-api').catch(() => undefined);
        if (read !== undefined) versionKinds.add(read.version.split(':')[0]!);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();

    let outcomes: Awaited<ReturnType<typeof run>>;
    try {
      // Let the consumer read the 0.1 layout first.
      await new Promise((resolve) => setTimeout(resolve, 500));
      outcomes = await run([], MOTO_ENV);
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      polling = false;
      await poll;
    }

    console.log(`aws migration: the consumer read ${reads} tokens while run migrated the 0.1 layout`);
    expect(failures).toEqual([]);
    expect(reads).toBeGreaterThanOrEqual(PROVIDERS.length * 5);
    // The consumer read both layouts: the 0.1 ring first, then the new secret.
    expect([...versionKinds].sort()).toEqual(['l', 's']);
    // Nothing was due: the run republished every public record where the new layout puts it.
    expect(outcomes.map((o) => [o.provider, o.status, o.ok])).toEqual(
      PROVIDERS.map((provider) => [provider, 'repaired', true]),
    );
    expect(scenario.sandbox.stats()).toEqual(before);
    const last = snapshots.at(-1)!;
    for (const provider of PROVIDERS) {
      const published = await records.read(`tokens/${provider}`);
      expect(published?.value, provider).toEqual(last.tokens[provider]);
      expect(published?.version, provider).toMatch(VENDORS[provider].lifetime === 900 ? /^p:1$/ : /^s:/);
    }
  }, 120_000);

  it('goes on with the refresh token chain from the migrated state: a forced run refreshes without any reuse', async () => {
    const before = scenario.sandbox.stats('keliweb-api-v2');

    const outcomes = await run(['--force'], MOTO_ENV);

    expect(outcomes.map((o) => [o.provider, o.status])).toEqual(PROVIDERS.map((provider) => [provider, 'rotated']));
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
    expect(scenario.sandbox.stats('keliweb-api-v2')).toMatchObject({
      obtained: before.obtained,
      refreshed: before.refreshed + 1,
    });
    for (const provider of PROVIDERS) {
      const state = (await records.read(`state/${provider}`))!;
      const published = (await records.read(`tokens/${provider}`))!;
      expect(state.value['generation'], provider).toBe(PASSES + 1);
      expect(published.value['generation'], provider).toBe(PASSES + 1);
      expect(scenario.sandbox.introspect(published.value['access_token'] as string), provider).toMatchObject({
        active: true,
        target: VENDORS[provider].target,
      });
      if (state.value['refresh_token'] !== undefined) {
        expect(scenario.sandbox.introspect(state.value['refresh_token'] as string), provider).toMatchObject({
          active: true,
          token_kind: 'refresh',
        });
      }
      // The 0.1 ring of six is written on, recording the size the new usage needs.
      expect(state.version, provider).toMatch(VENDORS[provider].lifetime === 900 ? /^r:13:5:/ : /^r:13:1:/);
    }
  }, 120_000);

  it('leaves the new names, each public record read by the AWS CLI in one call', async () => {
    const names = await secretNames();
    for (const provider of PROVIDERS) {
      const hourly = VENDORS[provider].lifetime === 3600;
      expect(names.includes(`tokens/${provider}`), provider).toBe(hourly);
      const published = (await records.read(`tokens/${provider}`))!.value;
      counter.reset();

      const read = hourly
        ? await awsCliGetSecretValue(`${prefix}tokens/${provider}`, { endpoint: counter.endpoint })
        : await awsCliGetParameter(`/${prefix}tokens/${provider}`, { endpoint: counter.endpoint });

      expect(counter.counts(), provider).toEqual({
        [hourly ? 'secretsmanager.GetSecretValue' : 'ssm.GetParameter']: 1,
      });
      expect(JSON.parse(read.value), provider).toEqual(published);
      expect(scenario.sandbox.isValid(published['access_token'] as string), provider).toBe(true);
    }
    const parameters = await ssm.send(
      new GetParametersByPathCommand({ Path: `/${prefix.slice(0, -1)}`, Recursive: true }),
    );
    expect(
      (parameters.Parameters ?? [])
        .map(({ Name, Type }) => ({ Name, Type }))
        .sort((a, b) => a.Name!.localeCompare(b.Name!)),
    ).toEqual([
      { Name: `/${prefix}runner/heartbeat`, Type: 'String' },
      { Name: `/${prefix}tokens/klikoo`, Type: 'SecureString' },
    ]);
    // The 0.1 rings are still there (no `token-rotator prune` yet), their tags intact.
    const slot = await raw.send(new DescribeSecretCommand({ SecretId: `${prefix}tokens/keliweb-api@0` }));
    expect(slot.Tags).toEqual(expect.arrayContaining([{ Key: 'ring-slot', Value: '0' }]));
  }, 60_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
