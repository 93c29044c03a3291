/**
 * The AWS Secrets Manager store against a real moto_server, through the real SDK.
 *
 * What this can prove: the wire protocol, the calls and their parameters, moto's staging
 * label rules (including that a move naming the wrong RemoveFromVersionId is refused),
 * request-token idempotency, tags, listing, and the engine end to end. What it cannot:
 * linearizability under truly simultaneous moves, since moto's threaded server takes no
 * lock per secret; that the engine never double-spends a refresh token under contention
 * is proven store-independently in the engine tests.
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
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import { startDemoSandbox } from '../../src/runtimes/demo.js';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import {
  AwsSecretsStore,
  createAwsStore,
  PENDING_STAGE,
  requestToken,
  sdkSecretsManager,
} from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';

let moto: Moto;
let raw: SecretsManagerClient;
const opened: AwsSecretsStore[] = [];

beforeAll(async () => {
  for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
  moto = await startMoto();
  raw = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
});

afterAll(async () => {
  await Promise.all(opened.map((store) => store.close()));
  raw?.destroy();
  await moto?.stop();
  vi.unstubAllEnvs();
});

/**
 * A store on its own prefix, so tests share one moto without seeing each other's
 * secrets. Its rings have one slot unless told otherwise, so each write meets the
 * previous one in the same secret, `<prefix><path>@0`.
 */
function newStore(
  overrides: { tags?: Record<string, string>; kms_key_id?: string; ring_size?: number } = {},
): AwsSecretsStore {
  const store = createAwsStore({
    kind: 'aws',
    prefix: `t-${randomUUID()}/`,
    region: 'us-east-1',
    endpoint: moto.endpoint,
    max_attempts: 2,
    ring_size: 1,
    ...overrides,
  });
  opened.push(store);
  return store;
}

/** The secret of slot 0 of a record's ring. */
const slot0 = (store: AwsSecretsStore, path: string) => `${store.secretName(path)}@0`;

/** The VersionId labelled AWSCURRENT. */
async function currentId(name: string): Promise<string> {
  return Object.entries(await stagesOf(name)).find(([, stages]) => stages.includes('AWSCURRENT'))![0];
}

async function stagesOf(name: string): Promise<Record<string, string[]>> {
  return (await raw.send(new DescribeSecretCommand({ SecretId: name }))).VersionIdsToStages ?? {};
}

async function versionCount(name: string): Promise<number> {
  return (
    (await raw.send(new ListSecretVersionIdsCommand({ SecretId: name, IncludeDeprecated: true }))).Versions?.length ?? 0
  );
}

describe('AwsSecretsStore against moto', () => {
  describe('createAwsStore', () => {
    it('builds a store that declares compare-and-set and its write budget per record', () => {
      const store = newStore();

      expect(store.kind).toBe('aws');
      expect(store.capabilities).toEqual({ compareAndSet: true, writeBudget: { writes: 96, windowSeconds: 86_400 } });
    });
  });

  describe('write', () => {
    it('creates slot 0 on the first write, holding the record in a ring envelope; the version is the ring position', async () => {
      const store = newStore();

      const version = await store.write('tokens/klikoo', { access_token: 'a1', generation: 1 }, null);

      expect(version).toBe('0/1');
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1', generation: 1 }, version });
      const name = slot0(store, 'tokens/klikoo');
      expect(Object.values(await stagesOf(name))).toEqual([['AWSCURRENT']]);
      const stored = await raw.send(new GetSecretValueCommand({ SecretId: name, VersionStage: 'AWSCURRENT' }));
      expect(JSON.parse(stored.SecretString!)).toEqual({
        ring: { seq: 0, size: 1 },
        record: { access_token: 'a1', generation: 1 },
      });
    });

    it('tags a created secret managed-by=token-rotator and provider=<name>, plus the configured tags', async () => {
      const store = newStore({ tags: { team: 'billing' } });

      await store.write('state/klikoo', { generation: 0 }, null);

      const described = await raw.send(new DescribeSecretCommand({ SecretId: slot0(store, 'state/klikoo') }));
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

    it('updates with the current version: AWSCURRENT moves to the new version, AWSPREVIOUS keeps the old, no pending label is left', async () => {
      const store = newStore();
      const v1 = await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const first = await currentId(slot0(store, 'tokens/klikoo'));

      const v2 = await store.write('tokens/klikoo', { access_token: 'a2' }, v1);

      expect(v2).toBe('1/1');
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: v2 });
      const stages = await stagesOf(slot0(store, 'tokens/klikoo'));
      expect(stages[first]).toEqual(['AWSPREVIOUS']);
      expect(Object.values(stages).sort()).toEqual([['AWSCURRENT'], ['AWSPREVIOUS']]);
    });

    it('rejects a stale version with a ConflictError, keeps the record and adds no version', async () => {
      const store = newStore();
      const v1 = await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const v2 = await store.write('tokens/klikoo', { access_token: 'a2' }, v1);
      const name = slot0(store, 'tokens/klikoo');
      const versionsBefore = await versionCount(name);

      const attempt = store.write('tokens/klikoo', { access_token: 'a3' }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'tokens/klikoo' });
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: v2 });
      expect(await versionCount(name)).toBe(versionsBefore);
    });

    it('rejects a write whose expected version is replaced between its check and its move: moto refuses the RemoveFromVersionId', async () => {
      const prefix = `t-${randomUUID()}/`;
      const rival = new AwsSecretsStore({
        prefix,
        ringSize: 1,
        client: sdkSecretsManager({ region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 1 }),
      });
      const client = sdkSecretsManager({ region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 1 });
      const putSecretValue = client.putSecretValue;
      let rivalVersion: string | undefined;
      const v1 = await rival.write('state/klikoo', { holder: 'none' }, null);
      // The rival's whole write lands after our check passed and before our own version is staged.
      client.putSecretValue = async (input) => {
        rivalVersion ??= await rival.write('state/klikoo', { holder: 'rival' }, v1);
        return putSecretValue(input);
      };
      const store = new AwsSecretsStore({ prefix, ringSize: 1, client });
      opened.push(store, rival);

      const attempt = store.write('state/klikoo', { holder: 'us' }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('state/klikoo')).toEqual({ value: { holder: 'rival' }, version: rivalVersion });
      // Our staged version exists but never became current.
      const stages = await stagesOf(slot0(store, 'state/klikoo'));
      expect(Object.keys(stages)).toHaveLength(3);
      expect(Object.values(stages).filter((labels) => labels.includes('AWSCURRENT'))).toHaveLength(1);
    });

    it('rejects creation with a null version when the secret exists with a ConflictError', async () => {
      const store = newStore();
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      const attempt = store.write('tokens/klikoo', { access_token: 'other' }, null);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect((await store.read('tokens/klikoo'))?.value).toEqual({ access_token: 'a1' });
    });

    it('treats a retried identical update as a no-op: the same version comes back and no version is added', async () => {
      const store = newStore();
      const v1 = await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const v2 = await store.write('tokens/klikoo', { access_token: 'a2' }, v1);
      const name = slot0(store, 'tokens/klikoo');
      const versionsBefore = await versionCount(name);

      const retried = await store.write('tokens/klikoo', { access_token: 'a2' }, v1);

      expect(retried).toBe(v2);
      expect(await versionCount(name)).toBe(versionsBefore);
    });

    it('treats a retried identical create as a no-op returning the same version', async () => {
      const store = newStore();
      const v1 = await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      const retried = await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      expect(retried).toBe(v1);
      expect(await versionCount(slot0(store, 'tokens/klikoo'))).toBe(1);
    });

    it('completes a write that crashed after staging its version, reusing that version instead of adding one', async () => {
      const store = newStore();
      const v1 = await store.write('state/klikoo', { generation: 1 }, null);
      const name = slot0(store, 'state/klikoo');
      const first = await currentId(name);
      const body = JSON.stringify({ ring: { seq: 1, size: 1 }, record: { generation: 2 } });
      const token = requestToken(name, v1, body);
      await raw.send(
        new PutSecretValueCommand({
          SecretId: name,
          SecretString: body,
          ClientRequestToken: token,
          VersionStages: [PENDING_STAGE],
        }),
      );

      const version = await store.write('state/klikoo', { generation: 2 }, v1);

      expect(version).toBe('1/1');
      expect(await stagesOf(name)).toEqual({ [first]: ['AWSPREVIOUS'], [token]: ['AWSCURRENT'] });
    });

    it('relies on AWS token semantics moto reproduces: same token and value is a no-op, same token and another value is ResourceExistsException', async () => {
      const store = newStore();
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const name = slot0(store, 'tokens/klikoo');
      const token = randomUUID();
      const put = (value: string) =>
        raw.send(
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

  describe('ring', () => {
    it('spreads writes over the slots in turn: seven writes to a ring of three make 3, 2 and 2 versions', async () => {
      const store = newStore({ ring_size: 3 });
      let version: string | null = null;
      for (let n = 0; n < 7; n++) version = await store.write('tokens/klikoo', { n }, version);

      expect(version).toBe('6/3');
      expect(await store.read('tokens/klikoo')).toEqual({ value: { n: 6 }, version: '6/3' });
      const name = store.secretName('tokens/klikoo');
      expect([
        await versionCount(`${name}@0`),
        await versionCount(`${name}@1`),
        await versionCount(`${name}@2`),
      ]).toEqual([3, 2, 2]);
      expect(await store.list('tokens')).toEqual(['tokens/klikoo']);
      // A stale writer finds a later position in its slot and adds no version.
      await expect(store.write('tokens/klikoo', { n: 'stale' }, '3/3')).rejects.toBeInstanceOf(ConflictError);
      expect(await versionCount(`${name}@1`)).toBe(2);
    });

    it('reads a single secret an operator created as the record', async () => {
      const store = newStore({ ring_size: 3 });
      await raw.send(
        new CreateSecretCommand({
          Name: store.secretName('credentials/klikoo'),
          SecretString: '{"client_secret":"x"}',
        }),
      );

      expect((await store.read('credentials/klikoo'))?.value).toEqual({ client_secret: 'x' });
      expect(await store.list('credentials')).toEqual(['credentials/klikoo']);
    });
  });

  describe('read', () => {
    it('returns undefined for a record that was never written', async () => {
      expect(await newStore().read('tokens/nobody')).toBeUndefined();
    });
  });

  describe('list', () => {
    it('lists the record paths under a prefix, sorted, without the secret prefix or neighbouring names', async () => {
      const store = newStore();
      await store.write('tokens/b', { n: 1 }, null);
      await store.write('tokens/a', { n: 1 }, null);
      await store.write('tokensx/c', { n: 1 }, null);
      await store.write('state/a', { n: 1 }, null);

      expect(await store.list('tokens')).toEqual(['tokens/a', 'tokens/b']);
      expect(await store.list('tokens/')).toEqual(['tokens/a', 'tokens/b']);
      expect(await store.list('')).toEqual(['state/a', 'tokens/a', 'tokens/b', 'tokensx/c']);
    });
  });

  describe('failures', () => {
    /** A store whose endpoint refuses connections (port 9, discard), with one attempt per call. */
    function unreachableStore(): AwsSecretsStore {
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

    it('reports an unreachable endpoint as a StoreError naming the call and the secret', async () => {
      const store = unreachableStore();

      const attempt = store.read('tokens/klikoo');

      await expect(attempt).rejects.toBeInstanceOf(StoreError);
      await expect(attempt).rejects.toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE });
      await expect(attempt).rejects.toThrow(/GetSecretValue failed for secret token-rotator\/tokens\/klikoo@\d/);
    });

    it('reports a network failure as retryable, naming the system error', async () => {
      const store = unreachableStore();

      const error = await store.read('tokens/klikoo').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ retryable: true, message: expect.stringContaining('ECONNREFUSED') });
    });

    it('refuses a record whose slot would exceed 65,536 bytes before calling Secrets Manager, as a non-retryable StoreError', async () => {
      const store = newStore();

      const error = await store.write('tokens/klikoo', { padding: 'é'.repeat(33_000) }, null).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringContaining('over the Secrets Manager limit of 65536'),
      });
      await expect(
        raw.send(new DescribeSecretCommand({ SecretId: slot0(store, 'tokens/klikoo') })),
      ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    });
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
store: { kind: aws, prefix: ${prefix}, region: us-east-1, endpoint: ${moto.endpoint} }
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

  it('rotates a provider; the public record reads back from Secrets Manager; one rotation makes two state versions, in two slots, and one token version', async () => {
    const prefix = `t-${randomUUID()}/`;
    const passwordFile = join(dir, 'password');
    await writeFile(passwordFile, secrets['keliweb-fatture'].password, { mode: 0o600 });
    const seed = newStoreAt(prefix);
    await seed.write('credentials/fatture', { client_secret: secrets['keliweb-fatture'].clientSecret }, null);
    const rotator = createRotator(await parseConfig(config(prefix, `\${file:${passwordFile}}`), 'inline.yaml', {}));

    const summary = await rotator.pass();
    await rotator.close();

    expect(summary.outcomes).toMatchObject([{ provider: 'fatture', status: 'rotated', method: 'obtain' }]);
    const record = await seed.read('tokens/fatture');
    expect(record?.value).toMatchObject({ provider: 'fatture', generation: 1 });
    expect(sandbox.isValid(record!.value['access_token'] as string)).toBe(true);
    // The lease creates state slot 0, the result slot 1 (a 5-minute schedule gives rings of
    // 6), the public record is created in its slot 0.
    expect(await versionCount(`${prefix}state/fatture@0`)).toBe(1);
    expect(await versionCount(`${prefix}state/fatture@1`)).toBe(1);
    expect(await versionCount(`${prefix}tokens/fatture@0`)).toBe(1);
    expect((await seed.read('state/fatture'))?.version).toBe('1/6');
  });

  it('resolves ${store:PATH#KEY} references from Secrets Manager at each pass', async () => {
    const prefix = `t-${randomUUID()}/`;
    const seed = newStoreAt(prefix);
    // As an operator would: one plain secret, created outside the rotator.
    const credentials = {
      client_secret: secrets['keliweb-fatture'].clientSecret,
      password: secrets['keliweb-fatture'].password,
    };
    await raw.send(
      new CreateSecretCommand({ Name: `${prefix}credentials/fatture`, SecretString: JSON.stringify(credentials) }),
    );
    const rotator = createRotator(
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

function newStoreAt(prefix: string): AwsSecretsStore {
  const store = createAwsStore({ kind: 'aws', prefix, region: 'us-east-1', endpoint: moto.endpoint, max_attempts: 2 });
  opened.push(store);
  return store;
}
