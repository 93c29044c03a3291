/**
 * The AWS store's compare-and-set decisions, over an in-memory fake of the narrow client
 * interface that follows the documented staging-label rules. The fake is never the proof
 * that the adapter talks to AWS correctly (the moto integration suite is); it lets each
 * interleaving and lost answer be placed exactly.
 */
import type {
  CreateSecretCommandInput,
  DescribeSecretCommandInput,
  GetSecretValueCommandInput,
  ListSecretsCommandInput,
  PutSecretValueCommandInput,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import { describe, expect, it } from 'vitest';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import type { SecretsManagerApi } from '../../src/stores/aws/client.js';
import { AwsSecretsStore, PENDING_STAGE, requestToken } from '../../src/stores/aws/index.js';

type Call = keyof SecretsManagerApi;

function serviceError(name: string): Error {
  return Object.assign(new Error(`${name} from the fake`), { name });
}

/** Secrets Manager's staging-label rules in memory, with hooks to interleave and to lose answers. */
class FakeSecretsManager implements SecretsManagerApi {
  readonly secrets = new Map<string, { versions: Map<string, { body: string; stages: string[] }>; tags: { Key: string; Value: string }[] }>();
  readonly calls: Call[] = [];
  /** Runs before the named call is applied (another writer's turn). */
  readonly before = new Map<Call, () => Promise<void>>();
  /** The named call is applied, then its answer is lost. */
  readonly loseAnswer = new Set<Call>();
  /** The named call fails before being applied. */
  readonly fail = new Map<Call, Error>();
  pageSize = 100;
  destroyed = 0;
  #next = 0;

  async #enter(call: Call): Promise<void> {
    this.calls.push(call);
    const hook = this.before.get(call);
    this.before.delete(call);
    await hook?.();
    const failure = this.fail.get(call);
    if (failure) {
      this.fail.delete(call);
      throw failure;
    }
  }

  #leave<T>(call: Call, result: T): T {
    if (this.loseAnswer.delete(call)) throw serviceError('TimeoutError');
    return result;
  }

  #secret(name: string | undefined) {
    const secret = this.secrets.get(name ?? '');
    if (!secret) throw serviceError('ResourceNotFoundException');
    return secret;
  }

  current(name: string): string | undefined {
    return [...(this.secrets.get(name)?.versions ?? [])].find(([, v]) => v.stages.includes('AWSCURRENT'))?.[0];
  }

  async getSecretValue(input: GetSecretValueCommandInput) {
    await this.#enter('getSecretValue');
    const secret = this.#secret(input.SecretId);
    const stage = input.VersionStage ?? 'AWSCURRENT';
    const found = [...secret.versions].find(([, v]) => v.stages.includes(stage));
    if (!found) throw serviceError('ResourceNotFoundException');
    return this.#leave('getSecretValue', { VersionId: found[0], SecretString: found[1].body });
  }

  async describeSecret(input: DescribeSecretCommandInput) {
    await this.#enter('describeSecret');
    const secret = this.#secret(input.SecretId);
    return this.#leave('describeSecret', { VersionIdsToStages: Object.fromEntries([...secret.versions].map(([id, v]) => [id, [...v.stages]])) });
  }

  async createSecret(input: CreateSecretCommandInput) {
    await this.#enter('createSecret');
    const name = input.Name!;
    const id = input.ClientRequestToken ?? `v${++this.#next}`;
    const existing = this.secrets.get(name);
    if (existing) {
      if (existing.versions.get(id)?.body === input.SecretString) return this.#leave('createSecret', { VersionId: id });
      throw serviceError('ResourceExistsException');
    }
    this.secrets.set(name, {
      versions: new Map([[id, { body: input.SecretString!, stages: ['AWSCURRENT'] }]]),
      tags: (input.Tags ?? []).map((t) => ({ Key: t.Key!, Value: t.Value! })),
    });
    return this.#leave('createSecret', { VersionId: id });
  }

  async putSecretValue(input: PutSecretValueCommandInput) {
    await this.#enter('putSecretValue');
    const secret = this.#secret(input.SecretId);
    const id = input.ClientRequestToken ?? `v${++this.#next}`;
    const existing = secret.versions.get(id);
    if (existing) {
      if (existing.body !== input.SecretString) throw serviceError('ResourceExistsException');
      return this.#leave('putSecretValue', { VersionId: id });
    }
    const stages = input.VersionStages ?? ['AWSCURRENT'];
    // A label lives on one version at a time: attaching it elsewhere detaches it here.
    for (const version of secret.versions.values()) version.stages = version.stages.filter((s) => !stages.includes(s));
    secret.versions.set(id, { body: input.SecretString!, stages: [...stages] });
    return this.#leave('putSecretValue', { VersionId: id });
  }

  async updateSecretVersionStage(input: UpdateSecretVersionStageCommandInput) {
    await this.#enter('updateSecretVersionStage');
    const secret = this.#secret(input.SecretId);
    const stage = input.VersionStage!;
    const holder = [...secret.versions].find(([, v]) => v.stages.includes(stage))?.[0];
    if (holder !== undefined && holder !== input.MoveToVersionId && holder !== input.RemoveFromVersionId) throw serviceError('InvalidParameterException');
    if (input.RemoveFromVersionId !== undefined && holder !== input.RemoveFromVersionId) throw serviceError('InvalidParameterException');
    if (input.MoveToVersionId !== undefined && !secret.versions.has(input.MoveToVersionId)) throw serviceError('InvalidParameterException');
    if (holder !== undefined) {
      const from = secret.versions.get(holder)!;
      from.stages = from.stages.filter((s) => s !== stage);
      if (stage === 'AWSCURRENT') {
        for (const v of secret.versions.values()) v.stages = v.stages.filter((s) => s !== 'AWSPREVIOUS');
        from.stages.push('AWSPREVIOUS');
      }
    }
    if (input.MoveToVersionId !== undefined) secret.versions.get(input.MoveToVersionId)!.stages.push(stage);
    return this.#leave('updateSecretVersionStage', {});
  }

  async listSecrets(input: ListSecretsCommandInput) {
    await this.#enter('listSecrets');
    const prefix = input.Filters?.[0]?.Values?.[0] ?? '';
    const names = [...this.secrets.keys()].filter((n) => n.startsWith(prefix)).sort();
    const start = Number(input.NextToken ?? 0);
    const page = names.slice(start, start + this.pageSize);
    const more = start + this.pageSize < names.length;
    return this.#leave('listSecrets', { SecretList: page.map((Name) => ({ Name })), ...(more ? { NextToken: String(start + this.pageSize) } : {}) });
  }

  destroy(): void {
    this.destroyed++;
  }
}

function setup() {
  const fake = new FakeSecretsManager();
  const store = new AwsSecretsStore({ client: fake, prefix: 'tr/' });
  return { fake, store };
}

describe('AwsSecretsStore (over a fake client)', () => {
  describe('requestToken', () => {
    it('is a version-8 UUID, equal for equal writes and different when the value or expected version differs', () => {
      const token = requestToken('tr/state/a', 'v1', '{"n":1}');

      expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(requestToken('tr/state/a', 'v1', '{"n":1}')).toBe(token);
      expect(requestToken('tr/state/a', 'v1', '{"n":2}')).not.toBe(token);
      expect(requestToken('tr/state/a', 'v2', '{"n":1}')).not.toBe(token);
      expect(requestToken('tr/state/b', 'v1', '{"n":1}')).not.toBe(token);
      expect(requestToken('tr/state/a', null, '{"n":1}')).not.toBe(token);
    });
  });

  describe('write', () => {
    it('fails fast with a ConflictError when AWSCURRENT moved since the read, staging no version', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      await store.write('state/a', { n: 2 }, v1);
      fake.calls.length = 0;

      const attempt = store.write('state/a', { n: 3 }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(fake.calls).toEqual(['describeSecret']);
      expect(fake.secrets.get('tr/state/a')!.versions.size).toBe(2);
    });

    it('reports a ConflictError when AWSCURRENT moves between the check and the move, leaving the rival current', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      const rival = new AwsSecretsStore({ client: fake, prefix: 'tr/' });
      let rivalVersion = '';
      fake.before.set('updateSecretVersionStage', async () => {
        rivalVersion = await rival.write('state/a', { holder: 'rival' }, v1);
      });

      const attempt = store.write('state/a', { holder: 'us' }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(fake.current('tr/state/a')).toBe(rivalVersion);
      expect(await store.read('state/a')).toEqual({ value: { holder: 'rival' }, version: rivalVersion });
    });

    it('succeeds when the move landed but its answer was lost: AWSCURRENT on the new version decides', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.loseAnswer.add('updateSecretVersionStage');

      const v2 = await store.write('state/a', { n: 2 }, v1);

      expect(fake.current('tr/state/a')).toBe(v2);
      expect(v2).toBe(requestToken('tr/state/a', v1, '{"n":2}'));
    });

    it('reports a StoreError, not a conflict, when the move fails while AWSCURRENT is still the expected version', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));

      const attempt = store.write('state/a', { n: 2 }, v1);

      await expect(attempt).rejects.toBeInstanceOf(StoreError);
      await expect(attempt).rejects.not.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toThrow('Secrets Manager UpdateSecretVersionStage failed for secret tr/state/a (InternalServiceError)');
      expect(fake.current('tr/state/a')).toBe(v1);
    });

    it('returns the same version for a retried identical write after a lost answer, staging nothing again', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      const v2 = await store.write('state/a', { n: 2 }, v1);
      fake.calls.length = 0;

      const retried = await store.write('state/a', { n: 2 }, v1);

      expect(retried).toBe(v2);
      expect(fake.calls).toEqual(['describeSecret']);
      expect(fake.secrets.get('tr/state/a')!.versions.size).toBe(2);
    });

    it('completes a write whose version was staged but never made current, without a second version', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));
      await expect(store.write('state/a', { n: 2 }, v1)).rejects.toBeInstanceOf(StoreError);

      const v2 = await store.write('state/a', { n: 2 }, v1);

      expect(fake.current('tr/state/a')).toBe(v2);
      expect(fake.secrets.get('tr/state/a')!.versions.size).toBe(2);
    });

    it('keeps a landed write successful when removing the pending label fails; the next write takes the label over', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      // The move succeeds; the label removal right after it fails.
      fake.before.set('updateSecretVersionStage', async () => {
        fake.before.set('updateSecretVersionStage', async () => {
          throw serviceError('InternalServiceError');
        });
      });

      const v2 = await store.write('state/a', { n: 2 }, v1);
      const v3 = await store.write('state/a', { n: 3 }, v2);

      expect(fake.current('tr/state/a')).toBe(v3);
      const labelled = [...fake.secrets.get('tr/state/a')!.versions.values()].filter((v) => v.stages.includes(PENDING_STAGE));
      expect(labelled).toHaveLength(0);
    });

    it('reports a ConflictError when the secret was deleted since it was read', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.secrets.delete('tr/state/a');

      await expect(store.write('state/a', { n: 2 }, v1)).rejects.toBeInstanceOf(ConflictError);
    });

    it('maps ResourceExistsException on creation to a ConflictError', async () => {
      const { store } = setup();
      await store.write('state/a', { n: 1 }, null);

      await expect(store.write('state/a', { n: 9 }, null)).rejects.toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'state/a' });
    });

    it('never puts the value in an error message', async () => {
      const { fake, store } = setup();
      fake.fail.set('createSecret', serviceError('ThrottlingException'));

      const error = (await store.write('state/a', { refresh_token: 'very-secret-refresh' }, null).then(() => undefined, (e: unknown) => e)) as Error;

      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toBe('Secrets Manager CreateSecret failed for secret tr/state/a (ThrottlingException)');
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain('very-secret-refresh');
    });
  });

  describe('read', () => {
    it('reports a secret that holds no JSON object as STORE_RECORD_INVALID without quoting it', async () => {
      const { fake, store } = setup();
      fake.secrets.set('tr/tokens/a', { versions: new Map([['v1', { body: 'not json: s3cr3t', stages: ['AWSCURRENT'] }]]), tags: [] });

      const error = (await store.read('tokens/a').then(() => undefined, (e: unknown) => e)) as StoreError;

      expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID });
      expect(error.message).not.toContain('s3cr3t');
    });
  });

  describe('list', () => {
    it('pages through NextToken and returns record paths without the prefix', async () => {
      const { fake, store } = setup();
      for (const name of ['c', 'a', 'b', 'd', 'e']) await store.write(`tokens/${name}`, { n: 1 }, null);
      fake.pageSize = 2;

      expect(await store.list('tokens')).toEqual(['tokens/a', 'tokens/b', 'tokens/c', 'tokens/d', 'tokens/e']);
      expect(fake.calls.filter((c) => c === 'listSecrets')).toHaveLength(3);
    });
  });

  describe('close', () => {
    it('destroys the client once, however often it is called', async () => {
      const { fake, store } = setup();

      await store.close();
      await store.close();

      expect(fake.destroyed).toBe(1);
    });
  });
});
