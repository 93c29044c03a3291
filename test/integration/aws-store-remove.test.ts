/**
 * `AwsStore.remove` (the `RecordRemover` of `token-rotator revoke`) against a real
 * moto_server, through the real SDK: every place the store may keep a record (a public
 * record's secret or parameter, a state ring of one or more slots, the heartbeat's
 * parameter, an operator's plain secret, the rings release 0.1 left) is gone after a
 * remove, without a recovery window, so a read finds nothing, a second remove finds
 * nothing, and the path can be created again at once; neighbouring records are untouched.
 *
 * What moto cannot show: that AWS's own deletion, which finishes in the background, frees
 * the name at once (moto's does; docs/aws.md says what to expect on AWS). What the IAM
 * policies allow for it is in test/unit/aws-policy.test.ts and test/integration/aws-iam.test.ts.
 */
import { randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
} from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, StoreError } from '../../src/errors.js';
import {
  AwsStore,
  createAwsStore,
  type SecretsManagerApi,
  sdkParameterStore,
  sdkSecretsManager,
} from '../../src/stores/aws/index.js';
import { isRecordRemover, type RecordUsage } from '../../src/stores/contract.js';
import { useMoto } from '../helpers/moto-suite.js';

const aws = useMoto();
const { opened } = aws;
/** An hour token's public record: one secret. */
const HOURLY: RecordUsage = { writesPerDay: 46 };
/** A 900 s token's public record: a parameter. */
const FREQUENT: RecordUsage = { writesPerDay: 233 };
/** An hour token's state: a ring of one slot. */
const HOURLY_STATE: RecordUsage = { writesPerDay: 92 };
/** A 900 s token's state: a ring of five slots. */
const FREQUENT_STATE: RecordUsage = { writesPerDay: 466 };

/** A store on its own prefix; `deletes`, when given, receives each DeleteSecret's name in order. */
function newStore(deletes?: string[]): AwsStore {
  const config = { region: 'us-east-1', endpoint: aws.moto.endpoint, ssm_endpoint: aws.moto.endpoint, max_attempts: 2 };
  const client = sdkSecretsManager(config);
  const recorded: SecretsManagerApi =
    deletes === undefined
      ? client
      : {
          ...client,
          deleteSecret: (input) => {
            deletes.push(input.SecretId!);
            return client.deleteSecret(input);
          },
        };
  const store = new AwsStore({ client: recorded, parameters: sdkParameterStore(config), prefix: `t-${randomUUID()}/` });
  opened.push(store);
  return store;
}

/** Every secret under the store's prefix, those scheduled for deletion included. */
async function secretsUnder(store: AwsStore): Promise<string[]> {
  const names: string[] = [];
  let NextToken: string | undefined;
  do {
    const page = await aws.raw.send(
      new ListSecretsCommand({
        Filters: [{ Key: 'name', Values: [store.prefix] }],
        IncludePlannedDeletion: true,
        ...(NextToken === undefined ? {} : { NextToken }),
      }),
    );
    for (const secret of page.SecretList ?? []) names.push(secret.Name!);
    NextToken = page.NextToken || undefined;
  } while (NextToken !== undefined);
  return names.sort();
}

/** Writes `values` one after the other at `path`, each over the version the last returned. */
async function writeSeveral(store: AwsStore, path: string, values: Record<string, unknown>[], usage?: RecordUsage) {
  let version: string | null = null;
  for (const value of values) version = await store.write(path, value, version, { usage });
  return version!;
}

/** One slot of a ring as release 0.1 wrote it, `size` slots in all. */
async function legacySlot(name: string, n: number, seq: number, size: number, record: Record<string, unknown>) {
  await aws.raw.send(
    new CreateSecretCommand({
      Name: `${name}@${n}`,
      SecretString: JSON.stringify({ ring: { seq, size }, record }),
      Tags: [{ Key: 'managed-by', Value: 'token-rotator' }],
    }),
  );
}

const generations = (count: number) => Array.from({ length: count }, (_, i) => ({ generation: i + 1 }));

describe('AwsStore.remove against moto', () => {
  it('is offered: the store is a RecordRemover', () => {
    expect(isRecordRemover(newStore())).toBe(true);
  });

  describe('each place a record may be', () => {
    it('deletes the secret of a public record (≤ 96 writes a day) with every version; a second remove returns false; the path is created again as a new secret', async () => {
      const store = newStore();
      await writeSeveral(store, 'tokens/keliweb', generations(3), HOURLY);

      expect(await store.remove('tokens/keliweb', HOURLY)).toBe(true);

      expect(await store.read('tokens/keliweb')).toBeUndefined();
      expect(await store.read('tokens/keliweb', HOURLY)).toBeUndefined();
      expect(await aws.secretExists(store.secretName('tokens/keliweb'))).toBe(false);
      // No recovery window: nothing is left scheduled for deletion.
      expect(await secretsUnder(store)).toEqual([]);
      expect(await store.remove('tokens/keliweb', HOURLY)).toBe(false);
      const again = await store.write('tokens/keliweb', { generation: 1 }, null, { usage: HOURLY });
      expect(await store.read('tokens/keliweb')).toEqual({ value: { generation: 1 }, version: again });
      const { SecretString } = await aws.raw.send(
        new GetSecretValueCommand({ SecretId: store.secretName('tokens/keliweb') }),
      );
      expect(JSON.parse(SecretString!)).toEqual({ generation: 1 });
    });

    it('deletes the parameter of a public record written more often, with every version: the next create is version 1 again', async () => {
      const store = newStore();
      await writeSeveral(store, 'tokens/klikoo', generations(3), FREQUENT);
      expect(await store.read('tokens/klikoo', FREQUENT)).toMatchObject({ version: 'p:3' });

      expect(await store.remove('tokens/klikoo', FREQUENT)).toBe(true);

      expect(await store.read('tokens/klikoo')).toBeUndefined();
      expect(await store.read('tokens/klikoo', FREQUENT)).toBeUndefined();
      expect(await aws.parameterExists(store.parameterName('tokens/klikoo'))).toBe(false);
      expect(await store.remove('tokens/klikoo', FREQUENT)).toBe(false);
      expect(await store.write('tokens/klikoo', { generation: 1 }, null, { usage: FREQUENT })).toBe('p:1');
      expect(await store.read('tokens/klikoo')).toEqual({ value: { generation: 1 }, version: 'p:1' });
    });

    it('finds a public record without its usage: removing it with none given deletes the secret or the parameter', async () => {
      const store = newStore();
      await store.write('tokens/a', { generation: 1 }, null, { usage: HOURLY });
      await store.write('tokens/b', { generation: 1 }, null, { usage: FREQUENT });

      expect(await store.remove('tokens/a')).toBe(true);
      expect(await store.remove('tokens/b')).toBe(true);

      expect(await store.list('')).toEqual([]);
      expect(await secretsUnder(store)).toEqual([]);
    });

    it('deletes every slot of the state ring of a 900 s token (five secrets); the path starts a new ring', async () => {
      const store = newStore();
      await writeSeveral(store, 'state/klikoo', generations(7), FREQUENT_STATE);
      expect(await secretsUnder(store)).toHaveLength(5);

      expect(await store.remove('state/klikoo', FREQUENT_STATE)).toBe(true);

      expect(await store.read('state/klikoo', FREQUENT_STATE)).toBeUndefined();
      expect(await store.read('state/klikoo')).toBeUndefined();
      expect(await secretsUnder(store)).toEqual([]);
      expect(await store.remove('state/klikoo', FREQUENT_STATE)).toBe(false);
      const again = await store.write('state/klikoo', { generation: 1 }, null, { usage: FREQUENT_STATE });
      expect(again).toMatch(/^r:0:5:/);
      expect(await store.read('state/klikoo', FREQUENT_STATE)).toEqual({ value: { generation: 1 }, version: again });
    });

    it("deletes the one-slot ring of an hour token's state, and the plain secret a ring started over", async () => {
      const store = newStore();
      // An operator's plain secret at the path, then the rotator's ring over it.
      await aws.raw.send(
        new CreateSecretCommand({ Name: store.secretName('state/keliweb'), SecretString: '{"generation":0}' }),
      );
      const plain = await store.read('state/keliweb', HOURLY_STATE);
      await store.write('state/keliweb', { generation: 1 }, plain!.version, { usage: HOURLY_STATE });
      expect(await secretsUnder(store)).toEqual([
        store.secretName('state/keliweb'),
        `${store.secretName('state/keliweb')}@0`,
      ]);

      expect(await store.remove('state/keliweb')).toBe(true);

      expect(await store.read('state/keliweb', HOURLY_STATE)).toBeUndefined();
      expect(await secretsUnder(store)).toEqual([]);
      expect(await store.remove('state/keliweb')).toBe(false);
    });

    it("deletes an operator's plain secret (a ${store:} credential)", async () => {
      const store = newStore();
      await aws.raw.send(
        new CreateSecretCommand({
          Name: store.secretName('credentials/klikoo'),
          SecretString: '{"client_secret":"x"}',
        }),
      );

      expect(await store.remove('credentials/klikoo')).toBe(true);

      expect(await store.read('credentials/klikoo')).toBeUndefined();
      expect(await secretsUnder(store)).toEqual([]);
    });

    it("deletes the heartbeat's parameter: the next create is version 1 again", async () => {
      const store = newStore();
      await writeSeveral(store, 'runner/heartbeat', generations(2));

      expect(await store.remove('runner/heartbeat')).toBe(true);

      expect(await store.read('runner/heartbeat')).toBeUndefined();
      expect(await store.remove('runner/heartbeat')).toBe(false);
      expect(await store.write('runner/heartbeat', { generation: 1 }, null)).toBe('p:1');
    });

    it('deletes a public record kept in both places (a move whose cleanup failed) and the ring release 0.1 left for it', async () => {
      const store = newStore();
      const name = store.secretName('tokens/keliweb');
      for (let n = 0; n < 6; n++) await legacySlot(name, n, n, 6, { generation: n });
      await store.write('tokens/keliweb', { generation: 7 }, null, { usage: HOURLY });
      await aws.ssm.send(
        new PutParameterCommand({
          Name: store.parameterName('tokens/keliweb'),
          Value: '{"generation":6}',
          Type: 'SecureString',
        }),
      );

      expect(await store.remove('tokens/keliweb')).toBe(true);

      expect(await store.read('tokens/keliweb')).toBeUndefined();
      expect(await secretsUnder(store)).toEqual([]);
      expect(await aws.parameterExists(store.parameterName('tokens/keliweb'))).toBe(false);
    });

    it('deletes a state ring release 0.1 made larger than this release reads at once (12 slots)', async () => {
      const store = newStore();
      const name = store.secretName('state/big');
      for (let n = 0; n < 12; n++) await legacySlot(name, n, 12 + n, 12, { generation: 12 + n });
      expect((await store.read('state/big'))?.value).toEqual({ generation: 23 });

      expect(await store.remove('state/big')).toBe(true);

      expect(await store.read('state/big')).toBeUndefined();
      expect(await secretsUnder(store)).toEqual([]);
    });
  });

  it("removes one provider's records and leaves every other record, and its versions, as they were", async () => {
    const store = newStore();
    await writeSeveral(store, 'tokens/klikoo', generations(2), HOURLY);
    await writeSeveral(store, 'state/klikoo', generations(3), FREQUENT_STATE);
    const others: [string, RecordUsage | undefined][] = [
      ['tokens/klikoo-b', HOURLY],
      ['tokens/klikoob', FREQUENT],
      ['state/klikoo-b', FREQUENT_STATE],
      ['state/klikoob', HOURLY_STATE],
      ['tokensx/klikoo', undefined],
      ['runner/heartbeat', undefined],
    ];
    const before = new Map<string, unknown>();
    for (const [path, usage] of others) {
      await writeSeveral(store, path, generations(2), usage);
      before.set(path, await store.read(path, usage));
    }
    const secretsBefore = await secretsUnder(store);

    expect(await store.remove('tokens/klikoo')).toBe(true);
    expect(await store.remove('state/klikoo')).toBe(true);

    expect(await store.list('')).toEqual(others.map(([path]) => path).sort());
    for (const [path, usage] of others) expect(await store.read(path, usage), path).toEqual(before.get(path));
    const klikoo = [store.secretName('tokens/klikoo'), store.secretName('state/klikoo')];
    expect(await secretsUnder(store)).toEqual(
      secretsBefore.filter((name) => !klikoo.some((gone) => name === gone || name.startsWith(`${gone}@`))),
    );
  });

  it("deletes a ring's latest slot last, so a remove stopped half-way leaves the latest record or none, never an older one", async () => {
    const deletes: string[] = [];
    const store = newStore(deletes);
    // Seven writes over five slots: the latest (seq 6) is in slot 1.
    await writeSeveral(store, 'state/klikoo', generations(7), FREQUENT_STATE);
    await aws.raw.send(
      new CreateSecretCommand({ Name: store.secretName('state/klikoo'), SecretString: '{"generation":0}' }),
    );

    await store.remove('state/klikoo');

    const name = store.secretName('state/klikoo');
    expect(deletes).toHaveLength(6);
    expect(deletes.at(-1)).toBe(`${name}@1`);
    expect(deletes.slice(0, -1).sort()).toEqual([name, `${name}@0`, `${name}@2`, `${name}@3`, `${name}@4`]);
  });

  it('frees the name of a ring slot someone scheduled for deletion (no record, so false), which a create could not take', async () => {
    const store = newStore();
    await store.write('state/klikoo', { generation: 1 }, null, { usage: HOURLY_STATE });
    await aws.raw.send(
      new DeleteSecretCommand({ SecretId: `${store.secretName('state/klikoo')}@0`, RecoveryWindowInDays: 7 }),
    );
    expect(await store.read('state/klikoo')).toBeUndefined();
    // (Another value than the first write's: the same one would be that write's retry, a no-op.)
    const blocked = await store
      .write('state/klikoo', { generation: 2 }, null, { usage: HOURLY_STATE })
      .catch((error: unknown) => error);
    expect(blocked).toBeInstanceOf(StoreError);

    expect(await store.remove('state/klikoo')).toBe(false);

    expect(await secretsUnder(store)).toEqual([]);
    const again = await store.write('state/klikoo', { generation: 2 }, null, { usage: HOURLY_STATE });
    expect(await store.read('state/klikoo')).toEqual({ value: { generation: 2 }, version: again });
  });

  it('reports an unreachable endpoint as a retryable StoreError naming the call, and deletes nothing', async () => {
    const store = createAwsStore({
      kind: 'aws',
      prefix: 'token-rotator/',
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      max_attempts: 1,
    });
    opened.push(store);

    const error = await store.remove('tokens/klikoo').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE, retryable: true });
    expect((error as Error).message).toMatch(
      /BatchGetSecretValue failed for secret token-rotator\/tokens\/klikoo and 19 more \(.*ECONNREFUSED/,
    );
  });
});
