/**
 * The AWS store (Secrets Manager and SSM Parameter Store) against a real moto_server,
 * through the real SDK.
 *
 * What this can prove: the wire protocol, the calls and their parameters, where each
 * record lands (one secret, a ring of secrets, a parameter), moto's staging label rules
 * (including that a move naming the wrong RemoveFromVersionId is refused), request-token
 * idempotency, tags, listing, the rings release 0.1 left behind, and the engine end to
 * end. What it cannot: linearizability under truly simultaneous moves, since moto's
 * threaded server takes no lock per secret; that the engine never double-spends a refresh
 * token under contention is proven store-independently in the engine tests.
 *
 * The contract's own cases run on the secret and ring placements in
 * store-conformance.test.ts; the parameter placement, which has no atomic compare-and-set,
 * has its own block here.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretVersionIdsCommand,
  PutSecretValueCommand,
} from '@aws-sdk/client-secrets-manager';
import { DescribeParametersCommand, GetParameterCommand, ListTagsForResourceCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import { startDemoSandbox } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import {
  AwsStore,
  createAwsStore,
  PENDING_STAGE,
  requestToken,
  sdkParameterStore,
  sdkSecretsManager,
} from '../../src/stores/aws/index.js';
import { MAX_PARAMETER_BYTES } from '../../src/stores/aws/parameters.js';
import type { RecordUsage } from '../../src/stores/contract.js';
import { useMoto } from '../helpers/moto-suite.js';
import { NON_ASCII } from '../helpers/store-conformance.js';

const aws = useMoto();
const { opened } = aws;
/** The usage of an hour token's public record (default policy): one secret. */
const HOURLY: RecordUsage = { writesPerDay: 46 };
/** The usage of a 900 s token's public record: over one secret's budget, so a parameter. */
const FREQUENT: RecordUsage = { writesPerDay: 233 };
/** The usage of a 900 s token's state: a ring of five secrets. */
const FREQUENT_STATE: RecordUsage = { writesPerDay: 466 };

/** A store on its own prefix, so tests share one moto without seeing each other's records. */
function newStore(overrides: { tags?: Record<string, string>; kms_key_id?: string } = {}): AwsStore {
  const store = createAwsStore({
    kind: 'aws',
    prefix: `t-${randomUUID()}/`,
    region: 'us-east-1',
    endpoint: aws.moto.endpoint,
    max_attempts: 2,
    ...overrides,
  });
  opened.push(store);
  return store;
}

/** A store on `prefix` built from its two SDK clients, with one attempt per call. */
function storeOn(
  prefix: string,
  client = sdkSecretsManager({ region: 'us-east-1', endpoint: aws.moto.endpoint, max_attempts: 1 }),
) {
  const store = new AwsStore({
    prefix,
    client,
    parameters: sdkParameterStore({ region: 'us-east-1', ssm_endpoint: aws.moto.endpoint, max_attempts: 1 }),
  });
  opened.push(store);
  return store;
}

/** Slot `n` of a record's ring. */
const slot = (store: AwsStore, path: string, n: number) => `${store.secretName(path)}@${n}`;

/** The VersionId labelled AWSCURRENT. */
async function currentId(name: string): Promise<string> {
  return Object.entries(await stagesOf(name)).find(([, stages]) => stages.includes('AWSCURRENT'))![0];
}

async function stagesOf(name: string): Promise<Record<string, string[]>> {
  return (await aws.raw.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
}

async function versionCount(name: string): Promise<number> {
  return (
    (await aws.raw.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }))).Versions
      ?.length ?? 0
  );
}

/** What a consumer's plain `GetSecretValue` (no VersionStage) returns, parsed. */
async function consumerRead(name: string): Promise<unknown> {
  return JSON.parse((await aws.raw.send(new GetSecretValueCommand({ SecretId: name }))).SecretString!);
}

/** Writes one slot of a ring as release 0.1 did: the envelope at AWSCURRENT, tagged. */
async function legacySlot(name: string, n: number, seq: number, record: Record<string, unknown>, provider: string) {
  await aws.raw.send(
    new CreateSecretCommand({
      Name: `${name}@${n}`,
      SecretString: JSON.stringify({ ring: { seq, size: 6 }, record }),
      Tags: [
        { Key: 'managed-by', Value: 'token-rotator' },
        { Key: 'provider', Value: provider },
        { Key: 'ring-slot', Value: String(n) },
      ],
    }),
  );
}

describe('AwsStore against moto', () => {
  describe('createAwsStore', () => {
    it('builds a store that declares compare-and-set and a write budget per record and usage', () => {
      const store = newStore();

      expect(store.kind).toBe('aws');
      expect(store.capabilities.compareAndSet).toBe(true);
      const budget = (path: string, usage: RecordUsage | undefined) => store.capabilities.writeBudget?.(path, usage);
      expect(budget('tokens/keliweb', HOURLY)).toEqual({ writes: 96, windowSeconds: 86_400 });
      expect(budget('tokens/keliweb', undefined)).toEqual({ writes: 96, windowSeconds: 86_400 });
      expect(budget('tokens/klikoo', FREQUENT)).toBeUndefined();
      expect(budget('state/keliweb', { writesPerDay: 92 })).toEqual({ writes: 96, windowSeconds: 86_400 });
      expect(budget('state/klikoo', FREQUENT_STATE)).toEqual({ writes: 5 * 96, windowSeconds: 86_400 });
      expect(budget('runner/heartbeat', { writesPerDay: 288 })).toBeUndefined();
    });
  });

  describe('public record in one secret (usage up to 96 writes a day)', () => {
    it('creates the secret <prefix>tokens/<p> holding the record JSON at AWSCURRENT; the version is s:<VersionId>', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');

      const version = await store.write('tokens/keliweb', { access_token: 'a1', generation: 1 }, null, {
        usage: HOURLY,
      });

      expect(version).toBe(`s:${await currentId(name)}`);
      expect(await store.read('tokens/keliweb', HOURLY)).toEqual({
        value: { access_token: 'a1', generation: 1 },
        version,
      });
      expect(await store.read('tokens/keliweb')).toEqual({ value: { access_token: 'a1', generation: 1 }, version });
      expect(Object.values(await stagesOf(name))).toEqual([['AWSCURRENT']]);
      expect(await consumerRead(name)).toEqual({ access_token: 'a1', generation: 1 });
      expect(await aws.secretExists(`${name}@0`)).toBe(false);
      expect(await aws.parameterExists(store.parameterName('tokens/keliweb'))).toBe(false);
    });

    it('tags the secret managed-by=token-rotator and provider=<name>, plus the configured tags, without a ring slot', async () => {
      const store = newStore({ tags: { team: 'billing' } });

      await store.write('tokens/keliweb', { generation: 0 }, null, { usage: HOURLY });

      const described = await aws.raw.send(new DescribeSecretCommand({ SecretId: store.secretName('tokens/keliweb') }));
      expect(described.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'managed-by', Value: 'token-rotator' },
          { Key: 'provider', Value: 'keliweb' },
          { Key: 'team', Value: 'billing' },
        ]),
      );
      expect(described.Tags).toHaveLength(3);
    });

    it('updates with the current version: AWSCURRENT moves to the new version, AWSPREVIOUS keeps the old, and a consumer reads the new value in one plain call', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');
      const v1 = await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });
      const first = await currentId(name);

      const v2 = await store.write('tokens/keliweb', { access_token: 'a2' }, v1, { usage: HOURLY });

      const second = await currentId(name);
      expect(v2).toBe(`s:${second}`);
      expect(await store.read('tokens/keliweb', HOURLY)).toEqual({ value: { access_token: 'a2' }, version: v2 });
      const stages = await stagesOf(name);
      expect(stages[first]).toEqual(['AWSPREVIOUS']);
      // The pending label stays on the current version until the next write moves it.
      expect([...(stages[second] ?? [])].sort()).toEqual(['AWSCURRENT', PENDING_STAGE]);
      expect(Object.keys(stages)).toHaveLength(2);
      expect(await consumerRead(name)).toEqual({ access_token: 'a2' });
    });

    it('rejects a stale version with a ConflictError; the record and its AWSCURRENT stay those of the newer write', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');
      const v1 = await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });
      const v2 = await store.write('tokens/keliweb', { access_token: 'a2' }, v1, { usage: HOURLY });
      const current = await currentId(name);

      const attempt = store.write('tokens/keliweb', { access_token: 'a3' }, v1, { usage: HOURLY });

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'tokens/keliweb' });
      expect(await store.read('tokens/keliweb', HOURLY)).toEqual({ value: { access_token: 'a2' }, version: v2 });
      expect(await currentId(name)).toBe(current);
      expect(await consumerRead(name)).toEqual({ access_token: 'a2' });
    });

    it('rejects creation with a null version when the secret exists with a ConflictError', async () => {
      const store = newStore();
      await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });

      const attempt = store.write('tokens/keliweb', { access_token: 'other' }, null, { usage: HOURLY });

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect((await store.read('tokens/keliweb'))?.value).toEqual({ access_token: 'a1' });
    });

    it('treats a retried identical update as a no-op: the same version comes back and no version is added', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');
      const v1 = await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });
      const v2 = await store.write('tokens/keliweb', { access_token: 'a2' }, v1, { usage: HOURLY });
      const versionsBefore = await versionCount(name);

      const retried = await store.write('tokens/keliweb', { access_token: 'a2' }, v1, { usage: HOURLY });

      expect(retried).toBe(v2);
      expect(await versionCount(name)).toBe(versionsBefore);
    });

    it('treats a retried identical create as a no-op returning the same version', async () => {
      const store = newStore();
      const v1 = await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });

      const retried = await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });

      expect(retried).toBe(v1);
      expect(await versionCount(store.secretName('tokens/keliweb'))).toBe(1);
    });

    it('relies on AWS token semantics moto reproduces: same token and value is a no-op, same token and another value is ResourceExistsException', async () => {
      const store = newStore();
      await store.write('tokens/keliweb', { access_token: 'a1' }, null, { usage: HOURLY });
      const name = store.secretName('tokens/keliweb');
      const token = randomUUID();
      const put = (value: string) =>
        aws.raw.send(
          new PutSecretValueCommand({
            SecretId: name,
            SecretString: value,
            ClientRequestToken: token,
            VersionStages: [PENDING_STAGE],
          }),
        );
      const first = await put('{"access_token":"a2"}');

      const again = await put('{"access_token":"a2"}');
      const other = put('{"access_token":"a3"}');

      expect(again.VersionId).toBe(first.VersionId);
      await expect(other).rejects.toMatchObject({ name: 'ResourceExistsException' });
      expect(await versionCount(name)).toBe(2);
    });
  });

  describe('state ring (every record but public ones and the heartbeat)', () => {
    it('starts a ring at slot 0 holding the record in an envelope; the version names the position, the size and each slot', async () => {
      const store = newStore();

      const version = await store.write('state/klikoo', { generation: 1 }, null);

      const name = slot(store, 'state/klikoo', 0);
      expect(version).toMatch(new RegExp(`^r:0:1:${await currentId(name)}(,)*$`));
      expect(await store.read('state/klikoo')).toEqual({ value: { generation: 1 }, version });
      const stored = await aws.raw.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
      expect(JSON.parse(stored.SecretString!)).toEqual({ ring: { seq: 0, size: 1 }, record: { generation: 1 } });
      expect(await aws.secretExists(store.secretName('state/klikoo'))).toBe(false);
    });

    it('tags a slot managed-by=token-rotator, provider=<name> and ring-slot=<n>, plus the configured tags', async () => {
      const store = newStore({ tags: { team: 'billing' } });

      await store.write('state/klikoo', { generation: 0 }, null);

      const described = await aws.raw.send(new DescribeSecretCommand({ SecretId: slot(store, 'state/klikoo', 0) }));
      expect(described.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'managed-by', Value: 'token-rotator' },
          { Key: 'provider', Value: 'klikoo' },
          { Key: 'ring-slot', Value: '0' },
          { Key: 'team', Value: 'billing' },
        ]),
      );
      expect(described.Tags).toHaveLength(4);
    });

    it('keeps the state of an hour token in one secret: every write meets the previous one in slot 0', async () => {
      const store = newStore();
      let version: string | null = null;
      for (let n = 0; n < 4; n++)
        version = await store.write('state/keliweb', { n }, version, { usage: { writesPerDay: 92 } });

      expect(version).toMatch(/^r:3:1:/);
      expect(await store.read('state/keliweb', { writesPerDay: 92 })).toEqual({ value: { n: 3 }, version });
      expect(await versionCount(slot(store, 'state/keliweb', 0))).toBe(4);
      expect(await aws.secretExists(slot(store, 'state/keliweb', 1))).toBe(false);
    });

    it('spreads the state of a 900 s token over five slots from its second write: seven writes make 2, 2, 1, 1 and 1 versions', async () => {
      const store = newStore();
      let version: string | null = null;
      for (let n = 0; n < 7; n++)
        version = await store.write('state/klikoo', { n }, version, { usage: FREQUENT_STATE });

      expect(version).toMatch(/^r:6:5:/);
      expect(await store.read('state/klikoo', FREQUENT_STATE)).toEqual({ value: { n: 6 }, version });
      const counts = [];
      for (let n = 0; n < 5; n++) counts.push(await versionCount(slot(store, 'state/klikoo', n)));
      expect(counts).toEqual([2, 2, 1, 1, 1]);
      expect(await aws.secretExists(slot(store, 'state/klikoo', 5))).toBe(false);
      expect(await store.list('state')).toEqual(['state/klikoo']);
    });

    it('rejects a stale writer with a ConflictError in the slot it aims at, and keeps the later record current', async () => {
      const store = newStore();
      const versions: string[] = [];
      let version: string | null = null;
      for (let n = 0; n < 4; n++) {
        version = await store.write('state/klikoo', { n }, version, { usage: FREQUENT_STATE });
        versions.push(version);
      }
      const before = await currentId(slot(store, 'state/klikoo', 2));

      // Read at n = 1 (seq 1): aims at slot 2, which the write of n = 2 took.
      const attempt = store.write('state/klikoo', { n: 'stale' }, versions[1]!, { usage: FREQUENT_STATE });

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(await currentId(slot(store, 'state/klikoo', 2))).toBe(before);
      expect(await store.read('state/klikoo', FREQUENT_STATE)).toEqual({ value: { n: 3 }, version });
    });

    it('rejects a write whose expected version is replaced between its check and its move: moto refuses the RemoveFromVersionId', async () => {
      const prefix = `t-${randomUUID()}/`;
      const rival = storeOn(prefix);
      const client = sdkSecretsManager({ region: 'us-east-1', endpoint: aws.moto.endpoint, max_attempts: 1 });
      const putSecretValue = client.putSecretValue;
      let rivalVersion: string | undefined;
      const v1 = await rival.write('state/klikoo', { holder: 'none' }, null);
      // The rival's whole write lands after our read and before our own version is staged.
      client.putSecretValue = async (input) => {
        rivalVersion ??= await rival.write('state/klikoo', { holder: 'rival' }, v1);
        return putSecretValue(input);
      };
      const store = storeOn(prefix, client);

      const attempt = store.write('state/klikoo', { holder: 'us' }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('state/klikoo')).toEqual({ value: { holder: 'rival' }, version: rivalVersion });
      // Our write staged nothing: the version id a write over v1 stages was the rival's already.
      const stages = await stagesOf(slot(store, 'state/klikoo', 0));
      expect(Object.keys(stages)).toHaveLength(2);
      expect(Object.values(stages).filter((labels) => labels.includes('AWSCURRENT'))).toHaveLength(1);
    });

    it('reports a write as landed when a rival finished it and a third writer replaced it before its own move', async () => {
      const prefix = `t-${randomUUID()}/`;
      const rival = storeOn(prefix);
      const third = storeOn(prefix);
      const client = sdkSecretsManager({ region: 'us-east-1', endpoint: aws.moto.endpoint, max_attempts: 1 });
      const move = client.updateSecretVersionStage;
      let thirdVersion: string | undefined;
      const v1 = await rival.write('state/klikoo', { holder: 'none' }, null);
      // Between our staging and our move: a rival over the same version loses and finishes
      // our write, then a third writer reads it and writes over it.
      client.updateSecretVersionStage = async (input) => {
        if (thirdVersion === undefined) {
          await expect(rival.write('state/klikoo', { holder: 'rival' }, v1)).rejects.toBeInstanceOf(ConflictError);
          const finished = await third.read('state/klikoo');
          expect(finished?.value).toEqual({ holder: 'us' });
          thirdVersion = await third.write('state/klikoo', { holder: 'third' }, finished!.version);
        }
        return move(input);
      };
      const store = storeOn(prefix, client);

      const ours = await store.write('state/klikoo', { holder: 'us' }, v1);

      expect(thirdVersion).toBeDefined();
      const name = slot(store, 'state/klikoo', 0);
      expect(ours).toMatch(new RegExp(`^r:1:1:${requestToken(name, v1)}(,)*$`));
      // The third writer wrote over exactly the version ours reports: one chain, no lost write.
      expect(thirdVersion).toMatch(new RegExp(`^r:2:1:${requestToken(name, ours)}(,)*$`));
      expect(await store.read('state/klikoo')).toEqual({ value: { holder: 'third' }, version: thirdVersion });
    });

    it('completes a write that crashed after staging its version, reusing that version instead of adding one', async () => {
      const store = newStore();
      const v1 = await store.write('state/klikoo', { generation: 1 }, null);
      const name = slot(store, 'state/klikoo', 0);
      const first = await currentId(name);
      const body = JSON.stringify({ ring: { seq: 1, size: 1 }, record: { generation: 2 } });
      const token = requestToken(name, v1);
      await aws.raw.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: body,
          ClientRequestToken: token,
          VersionStages: [PENDING_STAGE],
        }),
      );

      const version = await store.write('state/klikoo', { generation: 2 }, v1);

      expect(version).toMatch(new RegExp(`^r:1:1:${token}(,)*$`));
      const stages = await stagesOf(name);
      expect(Object.keys(stages).sort()).toEqual([first, token].sort());
      expect(stages[first]).toEqual(['AWSPREVIOUS']);
      expect([...(stages[token] ?? [])].sort()).toEqual(['AWSCURRENT', PENDING_STAGE]);
    });

    it('reads a ring of six that release 0.1 wrote, and shrinks it to the size its usage needs as it is written', async () => {
      const store = newStore();
      const name = store.secretName('state/keliweb');
      for (let n = 0; n < 6; n++) await legacySlot(name, n, 12 + n, { generation: 12 + n }, 'keliweb');

      const read = await store.read('state/keliweb', { writesPerDay: 92 });
      expect(read?.value).toEqual({ generation: 17 });
      expect(read?.version).toMatch(/^r:17:6:/);
      // Write 18 goes where the ring of six puts it (slot 0) and records one slot from then on.
      const v18 = await store.write('state/keliweb', { generation: 18 }, read!.version, {
        usage: { writesPerDay: 92 },
      });
      const v19 = await store.write('state/keliweb', { generation: 19 }, v18, { usage: { writesPerDay: 92 } });

      expect(v19).toMatch(/^r:19:1:/);
      expect(await store.read('state/keliweb', { writesPerDay: 92 })).toEqual({
        value: { generation: 19 },
        version: v19,
      });
      expect(
        JSON.parse((await aws.raw.send(new GetSecretValueCommand({ SecretId: `${name}@0` }))).SecretString!),
      ).toEqual({
        ring: { seq: 19, size: 1 },
        record: { generation: 19 },
      });
      for (let n = 1; n < 6; n++) expect(await versionCount(`${name}@${n}`), `slot ${n}`).toBe(1);
    });

    it('reads a single secret an operator created as the record', async () => {
      const store = newStore();
      await aws.raw.send(
        new CreateSecretCommand({
          Name: store.secretName('credentials/klikoo'),
          SecretString: '{"client_secret":"x"}',
        }),
      );

      expect((await store.read('credentials/klikoo'))?.value).toEqual({ client_secret: 'x' });
      expect(await store.list('credentials')).toEqual(['credentials/klikoo']);
    });
  });

  describe('heartbeat in a String parameter', () => {
    it('writes runner/heartbeat as the String parameter /<prefix>runner/heartbeat, one version a write', async () => {
      const store = newStore();
      const name = store.parameterName('runner/heartbeat');

      const v1 = await store.write('runner/heartbeat', { at: '2026-11-29T10:00:00.000Z' }, null);
      const v2 = await store.write('runner/heartbeat', { at: '2026-11-29T10:05:00.000Z' }, v1);

      expect(name).toBe(`/${store.prefix}runner/heartbeat`);
      expect([v1, v2]).toEqual(['p:1', 'p:2']);
      expect(await store.read('runner/heartbeat')).toEqual({
        value: { at: '2026-11-29T10:05:00.000Z' },
        version: 'p:2',
      });
      const { Parameter } = await aws.ssm.send(new GetParameterCommand({ Name: name }));
      expect(Parameter).toMatchObject({ Type: 'String', Version: 2 });
      expect(JSON.parse(Parameter!.Value!)).toEqual({ at: '2026-11-29T10:05:00.000Z' });
      expect(await aws.secretExists(store.secretName('runner/heartbeat@0'))).toBe(false);
    });
  });

  describe('a public record that moves between a secret and a parameter', () => {
    it('moves to a parameter when its usage grows, deleting the secret, and back to a secret when it shrinks, deleting the parameter', async () => {
      const store = newStore();
      const secret = store.secretName('tokens/klikoo');
      const parameter = store.parameterName('tokens/klikoo');
      const inSecret = await store.write('tokens/klikoo', { access_token: 'a1' }, null, { usage: HOURLY });

      // The lifetime shrank: the engine writes over what it read, with the new usage.
      const inParameter = await store.write('tokens/klikoo', { access_token: 'a2' }, inSecret, { usage: FREQUENT });

      expect(inParameter).toBe('p:1');
      expect(await aws.secretExists(secret)).toBe(false);
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: 'p:1' });

      const back = await store.write('tokens/klikoo', { access_token: 'a3' }, inParameter, { usage: HOURLY });

      expect(back).toBe(`s:${await currentId(secret)}`);
      expect(await aws.parameterExists(parameter)).toBe(false);
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a3' }, version: back });
      expect(await consumerRead(secret)).toEqual({ access_token: 'a3' });
    });

    it('reads, without usage, a public record only release 0.1 wrote (its ring) until the new name exists', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');
      for (let n = 0; n < 6; n++) await legacySlot(name, n, 6 + n, { access_token: `t${6 + n}` }, 'keliweb');

      const legacy = await store.read('tokens/keliweb');
      expect(legacy).toEqual({ value: { access_token: 't11' }, version: 'l:' });
      const written = await store.write('tokens/keliweb', { access_token: 't12' }, legacy!.version, { usage: HOURLY });

      expect(written).toMatch(/^s:/);
      expect(await store.read('tokens/keliweb')).toEqual({ value: { access_token: 't12' }, version: written });
      expect(await consumerRead(name)).toEqual({ access_token: 't12' });
      // The old ring is left for `token-rotator prune`.
      expect(await versionCount(`${name}@5`)).toBe(1);
    });
  });

  describe('read', () => {
    it('returns undefined for a record that was never written, with and without usage', async () => {
      const store = newStore();
      expect(await store.read('tokens/nobody')).toBeUndefined();
      expect(await store.read('tokens/nobody', HOURLY)).toBeUndefined();
      expect(await store.read('tokens/nobody', FREQUENT)).toBeUndefined();
      expect(await store.read('state/nobody')).toBeUndefined();
      expect(await store.read('runner/heartbeat')).toBeUndefined();
    });
  });

  describe('list', () => {
    it('lists the record paths under a prefix, sorted, from secrets, rings and parameters, without neighbouring names', async () => {
      const store = newStore();
      await store.write('tokens/b', { n: 1 }, null, { usage: HOURLY });
      await store.write('tokens/a', { n: 1 }, null, { usage: FREQUENT });
      await store.write('tokensx/c', { n: 1 }, null);
      await store.write('state/a', { n: 1 }, null, { usage: FREQUENT_STATE });
      await store.write('runner/heartbeat', { n: 1 }, null);

      expect(await store.list('tokens')).toEqual(['tokens/a', 'tokens/b']);
      expect(await store.list('tokens/')).toEqual(['tokens/a', 'tokens/b']);
      expect(await store.list('')).toEqual(['runner/heartbeat', 'state/a', 'tokens/a', 'tokens/b', 'tokensx/c']);
    });
  });

  describe('failures', () => {
    /** A store whose endpoint refuses connections (port 9, discard), with one attempt per call. */
    function unreachableStore(): AwsStore {
      const store = createAwsStore({
        kind: 'aws',
        prefix: 'token-rotator/',
        region: 'us-east-1',
        endpoint: 'http://127.0.0.1:9',
        max_attempts: 1,
      });
      opened.push(store);
      return store;
    }

    it('reports an unreachable endpoint as a StoreError naming the call and the secret or parameter', async () => {
      const store = unreachableStore();

      const [secret, parameter, ring] = await Promise.all(
        [store.read('tokens/klikoo', HOURLY), store.read('tokens/klikoo', FREQUENT), store.read('state/klikoo')].map(
          (read) => read.catch((error: unknown) => error),
        ),
      );

      expect(secret).toBeInstanceOf(StoreError);
      expect(secret).toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
      expect((secret as Error).message).toMatch(/GetSecretValue failed for secret token-rotator\/tokens\/klikoo \(/);
      expect((parameter as Error).message).toMatch(
        /SSM GetParameter failed for parameter \/token-rotator\/tokens\/klikoo \(/,
      );
      expect((ring as Error).message).toMatch(
        /BatchGetSecretValue failed for secret token-rotator\/state\/klikoo and 8 more \(/,
      );
    });

    it('reports a network failure as retryable, naming the system error', async () => {
      const store = unreachableStore();

      const error = await store.read('tokens/klikoo').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    });

    it('refuses a record whose secret would exceed 65,536 bytes before calling Secrets Manager, as a non-retryable StoreError', async () => {
      const store = newStore();

      const error = await store
        .write('tokens/klikoo', { padding: 'é'.repeat(33_000) }, null, { usage: HOURLY })
        .catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringContaining('over the Secrets Manager limit of 65536'),
      });
      await expect(
        aws.raw.send(new DescribeSecretCommand({ SecretId: store.secretName('tokens/klikoo') })),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    });
  });
});

/**
 * The parameter placement: a public record written more than 96 times a day. The
 * contract's cases, but for the strict race: Parameter Store has no conditional write, so
 * a write over version n that comes back as n + 1 succeeded, and any other number is a
 * conflict although the value landed (parameters.ts). What the engine needs of it is
 * that at most one racer over a version is told it won.
 */
describe('AwsStore parameter placement (public records written over 96 times a day) against moto', () => {
  /** 500 writes a day: a parameter whatever the policy. */
  const usage: RecordUsage = { writesPerDay: 500 };
  const RACERS = 6;

  it('creates a SecureString parameter /<prefix>tokens/<p> and reads back its value and version, with and without usage', async () => {
    const store = newStore({ tags: { team: 'billing' } });
    const name = store.parameterName('tokens/klikoo');

    const version = await store.write('tokens/klikoo', { access_token: 'a1', expires_in: 900 }, null, { usage });

    expect(version).toBe('p:1');
    expect(await store.read('tokens/klikoo', usage)).toEqual({
      value: { access_token: 'a1', expires_in: 900 },
      version,
    });
    expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1', expires_in: 900 }, version });
    expect(await aws.secretExists(store.secretName('tokens/klikoo'))).toBe(false);
    const encrypted = await aws.ssm.send(new GetParameterCommand({ Name: name }));
    expect(encrypted.Parameter).toMatchObject({ Type: 'SecureString', Version: 1 });
    const decrypted = await aws.ssm.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
    expect(JSON.parse(decrypted.Parameter!.Value!)).toEqual({ access_token: 'a1', expires_in: 900 });
    const described = await aws.ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: 'Name', Option: 'Equals', Values: [name] }] }),
    );
    // moto echoes the tier asked for; AWS answers Standard for a value of 4 KB or less
    // (free), Advanced above. Without decryption moto returns `kms:<key>:<value>`, a stand-in
    // for the ciphertext AWS returns: not the record's JSON either way.
    expect(described.Parameters).toMatchObject([{ Name: name, Type: 'SecureString', Tier: 'Intelligent-Tiering' }]);
    expect(encrypted.Parameter?.Value).not.toBe(decrypted.Parameter?.Value);
    const tags = await aws.ssm.send(new ListTagsForResourceCommand({ ResourceType: 'Parameter', ResourceId: name }));
    expect(tags.TagList).toEqual(
      expect.arrayContaining([
        { Key: 'managed-by', Value: 'token-rotator' },
        { Key: 'provider', Value: 'klikoo' },
        { Key: 'team', Value: 'billing' },
      ]),
    );
  });

  it('updates with its current version to the next version number', async () => {
    const store = newStore();
    const first = await store.write('tokens/klikoo', { generation: 1 }, null, { usage });

    const second = await store.write('tokens/klikoo', { generation: 2 }, first, { usage });

    expect(second).toBe('p:2');
    expect(await store.read('tokens/klikoo', usage)).toEqual({ value: { generation: 2 }, version: second });
  });

  it('rejects creating a parameter that exists with a ConflictError and keeps the record', async () => {
    const store = newStore();
    const first = await store.write('tokens/klikoo', { holder: 'first' }, null, { usage });

    const error: unknown = await store
      .write('tokens/klikoo', { holder: 'second' }, null, { usage })
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'tokens/klikoo', retryable: false });
    expect(await store.read('tokens/klikoo', usage)).toEqual({ value: { holder: 'first' }, version: first });
  });

  it('reports a write over a stale version as a ConflictError, although its value landed (no conditional write)', async () => {
    const store = newStore();
    const first = await store.write('tokens/klikoo', { generation: 1 }, null, { usage });
    await store.write('tokens/klikoo', { generation: 2 }, first, { usage });

    const error: unknown = await store
      .write('tokens/klikoo', { generation: 'stale' }, first, { usage })
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'tokens/klikoo' });
    // The documented weakness: the value is there, and the next read and write repair it.
    expect(await store.read('tokens/klikoo', usage)).toEqual({ value: { generation: 'stale' }, version: 'p:3' });
  });

  it(`tells at most one of ${RACERS} writers racing over the same version that it won, and the others ConflictError`, async () => {
    const store = newStore();
    let version = await store.write('tokens/klikoo', { round: 0 }, null, { usage });
    let wins = 0;

    for (let round = 1; round <= 5; round++) {
      const racers = Array.from({ length: RACERS }, (_, racer) => {
        // Each racer has its own clients, as separate runners would.
        const own = storeOn(store.prefix);
        return own.write('tokens/klikoo', { round, racer }, version, { usage });
      });
      const results = await Promise.allSettled(racers);

      const won = results.filter((result) => result.status === 'fulfilled');
      const lost = results.filter((result) => result.status === 'rejected');
      expect(won.length, `round ${round}`).toBeLessThanOrEqual(1);
      wins += won.length;
      for (const result of lost) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ConflictError);
      const current = await store.read('tokens/klikoo', usage);
      // Every racer's value landed: the parameter took one version each.
      expect(current?.version).toBe(`p:${Number(version.slice(2)) + RACERS}`);
      if (won.length === 1)
        expect((won[0] as PromiseFulfilledResult<string>).value).toBe(`p:${Number(version.slice(2)) + 1}`);
      version = current!.version;
    }
    // Whoever landed first over a version got the next number: the race had winners to count.
    expect(wins).toBeGreaterThan(0);
  }, 60_000);

  it('accepts labels and keeps them out of the value (ignored: tags are set once, on creation)', async () => {
    const store = newStore();

    const version = await store.write('tokens/klikoo', { access_token: 'a1' }, null, {
      usage,
      labels: { provider: 'klikoo', expires_at: '2026-11-21T10:15:00.000Z' },
    });

    expect(await store.read('tokens/klikoo', usage)).toEqual({ value: { access_token: 'a1' }, version });
  });

  it(`writes and reads back a record of exactly the limit (${MAX_PARAMETER_BYTES} bytes)`, async () => {
    const store = newStore();
    const padding = MAX_PARAMETER_BYTES - Buffer.byteLength(JSON.stringify({ padding: '' }), 'utf8');
    const value = { padding: 'x'.repeat(padding) };
    expect(Buffer.byteLength(JSON.stringify(value), 'utf8')).toBe(MAX_PARAMETER_BYTES);

    const version = await store.write('tokens/large', value, null, { usage });

    expect(await store.read('tokens/large', usage)).toEqual({ value, version });
  });

  it('refuses a record one byte over the limit with a non-retryable StoreError naming the record, and writes nothing', async () => {
    const store = newStore();
    const padding = MAX_PARAMETER_BYTES + 1 - Buffer.byteLength(JSON.stringify({ padding: '' }), 'utf8');
    const value = { padding: 'x'.repeat(padding) };

    const error: unknown = await store.write('tokens/large', value, null, { usage }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).not.toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ retryable: false, message: expect.stringContaining('tokens/large') });
    expect((error as Error).message).toContain(String(MAX_PARAMETER_BYTES));
    expect(await store.read('tokens/large', usage)).toBeUndefined();
    expect(await aws.parameterExists(store.parameterName('tokens/large'))).toBe(false);
  });

  it('round-trips non-ASCII values and keys exactly', async () => {
    const store = newStore();

    const version = await store.write('tokens/unicode', { ...NON_ASCII }, null, { usage });

    const read = await store.read('tokens/unicode', usage);
    expect(read).toEqual({ value: { ...NON_ASCII }, version });
    for (const [key, value] of Object.entries(NON_ASCII)) expect(read?.value[key], key).toBe(value);
  });
});

describe('createRotator with an aws store (moto and the provider sandbox)', () => {
  let sandbox: Sandbox;
  let secrets: DemoSecrets;
  let dir: string;
  beforeAll(async () => {
    ({ sandbox, secrets } = await startDemoSandbox());
    dir = await mkdtemp(join(tmpdir(), 'tr-aws-'));
  });
  afterAll(async () => {
    await sandbox?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const config = (prefix: string, password: string) => `
store: { kind: aws, prefix: ${prefix}, region: us-east-1, endpoint: ${aws.moto.endpoint} }
providers:
  fatture:
    kind: keliweb
    base_url: ${sandbox.baseUrl('keliweb-fatture')}
    body: multipart
    client_id: ${secrets['keliweb-fatture'].clientId}
    client_secret: \${store:credentials/fatture#client_secret}
    username: ${secrets['keliweb-fatture'].username}
    password: ${password}
`;

  it('rotates a provider; the public record reads back from its one secret; one rotation makes two state versions in one slot, and one token version', async () => {
    const prefix = `t-${randomUUID()}/`;
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, secrets['keliweb-fatture'].password, { mode: 0o600 });
    const seed = newStoreAt(prefix);
    await seed.write('credentials/fatture', { client_secret: secrets['keliweb-fatture'].clientSecret }, null);
    const rotator = await createRotator(
      await parseConfig(config(prefix, `\${file:${passwordFile}}`), 'inline.yaml', {}),
    );

    const summary = await rotator.pass();
    await rotator.close();

    expect(summary.outcomes).toMatchObject([{ provider: 'fatture', status: 'rotated', method: 'obtain' }]);
    const record = await seed.read('tokens/fatture');
    expect(record?.value).toMatchObject({ provider: 'fatture', generation: 1 });
    expect(sandbox.isValid(record!.value['access_token'] as string)).toBe(true);
    // The lease creates state slot 0 and the result goes there too (an hour token's state
    // takes one secret); the public record is created as the secret tokens/fatture.
    expect(await versionCount(`${prefix}state/fatture@0`)).toBe(2);
    expect(await aws.secretExists(`${prefix}state/fatture@1`)).toBe(false);
    expect(await versionCount(`${prefix}tokens/fatture`)).toBe(1);
    expect(await aws.secretExists(`${prefix}tokens/fatture@0`)).toBe(false);
    expect(await consumerRead(`${prefix}tokens/fatture`)).toEqual(record?.value);
    expect((await seed.read('state/fatture'))?.version).toMatch(/^r:1:1:/);
  });

  it('resolves ${store:PATH#KEY} references from Secrets Manager at each pass', async () => {
    const prefix = `t-${randomUUID()}/`;
    const seed = newStoreAt(prefix);
    // As an operator would: one plain secret, created outside the rotator.
    const credentials = {
      client_secret: secrets['keliweb-fatture'].clientSecret,
      password: secrets['keliweb-fatture'].password,
    };
    await aws.raw.send(
      new CreateSecretCommand({ Name: `${prefix}credentials/fatture`, SecretString: JSON.stringify(credentials) }),
    );
    const rotator = await createRotator(
      await parseConfig(config(prefix, '${store:credentials/fatture#password}'), 'inline.yaml', {}),
    );

    const resolved = await rotator.check();
    const summary = await rotator.pass();
    await rotator.close();

    expect(resolved.providers['fatture']).toMatchObject({ password: secrets['keliweb-fatture'].password });
    expect(summary.outcomes).toMatchObject([{ provider: 'fatture', status: 'rotated' }]);
    expect(sandbox.isValid((await seed.read('tokens/fatture'))!.value['access_token'] as string)).toBe(true);
  });
});

function newStoreAt(prefix: string): AwsStore {
  const store = createAwsStore({
    kind: 'aws',
    prefix,
    region: 'us-east-1',
    endpoint: aws.moto.endpoint,
    max_attempts: 2,
  });
  opened.push(store);
  return store;
}
