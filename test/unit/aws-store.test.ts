/**
 * The AWS store's compare-and-set and ring decisions, over an in-memory fake of the
 * narrow client interface that follows the documented staging-label rules. The fake is
 * never the proof that the adapter talks to AWS correctly (the moto integration suite
 * is); it lets each interleaving and lost answer be placed exactly.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { AwsSecretsStore, PENDING_STAGE, requestToken } from '../../src/stores/aws/index.js';
import { FakeSecretsManager, serviceError } from '../helpers/fake-secrets-manager.js';

/** A store whose rings have one slot, so every write meets the previous one in `tr/<path>@0`. */
function setup(ringSize = 1) {
  const fake = new FakeSecretsManager();
  const store = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize });
  return { fake, store };
}

/** The body the store writes for position `seq` of a ring of `size`. */
const slotBody = (seq: number, size: number, record: Record<string, unknown>) =>
  JSON.stringify({ ring: { seq, size }, record });

describe('AwsSecretsStore (over a fake client)', () => {
  describe('requestToken', () => {
    it('is a version-8 UUID, equal for equal writes and different when the value or expected version differs', () => {
      const token = requestToken('tr/state/a@0', 'v1', '{"n":1}');

      expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(requestToken('tr/state/a@0', 'v1', '{"n":1}')).toBe(token);
      expect(requestToken('tr/state/a@0', 'v1', '{"n":2}')).not.toBe(token);
      expect(requestToken('tr/state/a@0', 'v2', '{"n":1}')).not.toBe(token);
      expect(requestToken('tr/state/b', 'v1', '{"n":1}')).not.toBe(token);
      expect(requestToken('tr/state/a@0', null, '{"n":1}')).not.toBe(token);
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
      expect(fake.calls).toEqual(['getSecretValue']);
      expect(fake.secrets.get('tr/state/a@0')!.versions.size).toBe(2);
    });

    it('reports a ConflictError when AWSCURRENT moves between the check and the move, leaving the rival current', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      const rival = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize: 1 });
      let rivalVersion = '';
      fake.before.set('updateSecretVersionStage', async () => {
        rivalVersion = await rival.write('state/a', { holder: 'rival' }, v1);
      });

      const attempt = store.write('state/a', { holder: 'us' }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(rivalVersion).toBe('1/1');
      expect(await store.read('state/a')).toEqual({ value: { holder: 'rival' }, version: rivalVersion });
    });

    it('succeeds when the move landed but its answer was lost: AWSCURRENT on the new version decides', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.loseAnswer.add('updateSecretVersionStage');

      const v2 = await store.write('state/a', { n: 2 }, v1);

      expect(v2).toBe('1/1');
      expect(fake.current('tr/state/a@0')).toBe(requestToken('tr/state/a@0', v1, slotBody(1, 1, { n: 2 })));
      expect(await store.read('state/a')).toEqual({ value: { n: 2 }, version: '1/1' });
    });

    it('reports a StoreError, not a conflict, when the move fails while AWSCURRENT is still the expected version', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));

      const attempt = store.write('state/a', { n: 2 }, v1);

      await expect(attempt).rejects.toBeInstanceOf(StoreError);
      await expect(attempt).rejects.not.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toThrow(
        'Secrets Manager UpdateSecretVersionStage failed for secret tr/state/a@0 (InternalServiceError)',
      );
      expect(await store.read('state/a')).toEqual({ value: { n: 1 }, version: v1 });
    });

    it('returns the same version for a retried identical write after a lost answer, staging nothing again', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      const v2 = await store.write('state/a', { n: 2 }, v1);
      fake.calls.length = 0;

      const retried = await store.write('state/a', { n: 2 }, v1);

      expect(retried).toBe(v2);
      expect(fake.calls).toEqual(['getSecretValue']);
      expect(fake.secrets.get('tr/state/a@0')!.versions.size).toBe(2);
    });

    it('completes a write whose version was staged but never made current, without a second version', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));
      await expect(store.write('state/a', { n: 2 }, v1)).rejects.toBeInstanceOf(StoreError);

      const v2 = await store.write('state/a', { n: 2 }, v1);

      expect(await store.read('state/a')).toEqual({ value: { n: 2 }, version: v2 });
      expect(fake.secrets.get('tr/state/a@0')!.versions.size).toBe(2);
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

      expect(await store.read('state/a')).toEqual({ value: { n: 3 }, version: v3 });
      const labelled = [...fake.secrets.get('tr/state/a@0')!.versions.values()].filter((v) =>
        v.stages.includes(PENDING_STAGE),
      );
      expect(labelled).toHaveLength(0);
    });

    it('reports a ConflictError when the secret was deleted since it was read', async () => {
      const { fake, store } = setup();
      const v1 = await store.write('state/a', { n: 1 }, null);
      fake.secrets.delete('tr/state/a@0');

      await expect(store.write('state/a', { n: 2 }, v1)).rejects.toBeInstanceOf(ConflictError);
    });

    it('maps ResourceExistsException on creation to a ConflictError', async () => {
      const { store } = setup();
      await store.write('state/a', { n: 1 }, null);

      await expect(store.write('state/a', { n: 9 }, null)).rejects.toMatchObject({
        code: ErrorCodes.STORE_CONFLICT,
        path: 'state/a',
      });
    });

    it('never puts the value in an error message', async () => {
      const { fake, store } = setup();
      fake.fail.set('createSecret', serviceError('ThrottlingException'));

      const error = (await store.write('state/a', { refresh_token: 'very-secret-refresh' }, null).then(
        () => undefined,
        (e: unknown) => e,
      )) as Error;

      expect(error).toBeInstanceOf(StoreError);
      expect(error.message).toBe('Secrets Manager CreateSecret failed for secret tr/state/a@0 (ThrottlingException)');
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain('very-secret-refresh');
    });
  });

  describe('ring', () => {
    it('writes position n to slot n mod size and reads back the latest, whichever slot holds it', async () => {
      const { fake, store } = setup(3);
      let version: string | null = null;
      for (let n = 0; n < 7; n++) version = await store.write('tokens/a', { n }, version);

      expect(version).toBe('6/3');
      expect(await store.read('tokens/a')).toEqual({ value: { n: 6 }, version: '6/3' });
      // Positions 0,3,6 in @0; 1,4 in @1; 2,5 in @2.
      const versionsOf = (slot: number) => fake.created.filter((c) => c.name === `tr/tokens/a@${slot}`).length;
      expect([versionsOf(0), versionsOf(1), versionsOf(2)]).toEqual([3, 2, 2]);
      expect(fake.secrets.has('tr/tokens/a')).toBe(false);
    });

    it('rejects a stale version after the ring wrapped, before creating a version', async () => {
      const { fake, store } = setup(3);
      const v0 = await store.write('tokens/a', { n: 0 }, null);
      const v1 = await store.write('tokens/a', { n: 1 }, v0);
      let latest = v1;
      for (let n = 2; n < 5; n++) latest = await store.write('tokens/a', { n }, latest);
      const versions = fake.created.length;

      await expect(store.write('tokens/a', { n: 'stale' }, v0)).rejects.toBeInstanceOf(ConflictError);
      await expect(store.write('tokens/a', { n: 'stale' }, v1)).rejects.toBeInstanceOf(ConflictError);

      expect(fake.created.length).toBe(versions);
      expect(await store.read('tokens/a')).toEqual({ value: { n: 4 }, version: '4/3' });
    });

    it('lets one of two writers of the same position win; the other gets a ConflictError', async () => {
      const { fake, store } = setup(3);
      const rival = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize: 3 });
      let version = await store.write('tokens/a', { n: 0 }, null);
      for (let n = 1; n < 4; n++) version = await store.write('tokens/a', { n }, version);
      fake.before.set('updateSecretVersionStage', async () => {
        await rival.write('tokens/a', { holder: 'rival' }, version);
      });

      await expect(store.write('tokens/a', { holder: 'us' }, version)).rejects.toBeInstanceOf(ConflictError);

      expect(await store.read('tokens/a')).toEqual({ value: { holder: 'rival' }, version: '4/3' });
    });

    it('follows the size a ring was created with, whatever size the writer or reader is configured with', async () => {
      const fake = new FakeSecretsManager();
      const three = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize: 3 });
      const five = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize: 5 });
      const one = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize: 1 });
      let version = await three.write('tokens/a', { n: 0 }, null);
      for (let n = 1; n < 5; n++) version = await (n % 2 === 0 ? three : five).write('tokens/a', { n }, version);

      expect(version).toBe('4/3');
      expect([...fake.secrets.keys()].sort()).toEqual(['tr/tokens/a@0', 'tr/tokens/a@1', 'tr/tokens/a@2']);
      // A reader configured for one slot finds position 4 in @1 from the size @0 records.
      expect(await one.read('tokens/a')).toEqual({ value: { n: 4 }, version: '4/3' });
    });

    it('reads a single secret an operator stored as the record, and starts a ring rather than overwrite it', async () => {
      const { fake, store } = setup(3);
      fake.secrets.set('tr/credentials/a', {
        versions: new Map([['v1', { body: '{"client_secret":"x"}', stages: ['AWSCURRENT'] }]]),
        tags: [],
      });

      const read = await store.read('credentials/a');
      expect(read).toEqual({ value: { client_secret: 'x' }, version: 'single:v1' });
      const version = await store.write('credentials/a', { client_secret: 'y' }, read!.version);

      expect(version).toBe('0/3');
      expect(await store.read('credentials/a')).toEqual({ value: { client_secret: 'y' }, version: '0/3' });
      expect(fake.secrets.get('tr/credentials/a')!.versions.size).toBe(1);
    });

    it('reports a slot that is not a ring envelope as STORE_RECORD_INVALID, naming the secret only', async () => {
      const { fake, store } = setup(2);
      fake.secrets.set('tr/tokens/a@1', {
        versions: new Map([['v1', { body: '{"access_token":"s3cr3t"}', stages: ['AWSCURRENT'] }]]),
        tags: [],
      });

      const error = (await store.read('tokens/a').then(
        () => undefined,
        (e: unknown) => e,
      )) as StoreError;

      expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID });
      expect(error.message).toBe('secret tr/tokens/a@1 is not a ring slot ({"ring":…,"record":…})');
    });

    it('tags each slot with its number next to managed-by and provider', async () => {
      const { fake, store } = setup(2);
      const v0 = await store.write('state/klikoo', { n: 0 }, null);
      await store.write('state/klikoo', { n: 1 }, v0);

      expect(fake.secrets.get('tr/state/klikoo@1')!.tags).toEqual(
        expect.arrayContaining([
          { Key: 'managed-by', Value: 'token-rotator' },
          { Key: 'provider', Value: 'klikoo' },
          { Key: 'ring-slot', Value: '1' },
        ]),
      );
    });

    it('refuses a ring size outside 1..20', () => {
      expect(() => new AwsSecretsStore({ client: new FakeSecretsManager(), ringSize: 0 })).toThrow(TypeError);
      expect(() => new AwsSecretsStore({ client: new FakeSecretsManager(), ringSize: 21 })).toThrow(TypeError);
    });
  });

  describe('read', () => {
    it('reports a secret that holds no JSON object as STORE_RECORD_INVALID without quoting it', async () => {
      const { fake, store } = setup();
      fake.secrets.set('tr/tokens/a@0', {
        versions: new Map([['v1', { body: 'not json: s3cr3t', stages: ['AWSCURRENT'] }]]),
        tags: [],
      });

      const error = (await store.read('tokens/a').then(
        () => undefined,
        (e: unknown) => e,
      )) as StoreError;

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

    it('lists a record once, however many slots its ring has, and single secrets too', async () => {
      const { fake, store } = setup(3);
      let version = await store.write('tokens/a', { n: 0 }, null);
      for (let n = 1; n < 4; n++) version = await store.write('tokens/a', { n }, version);
      fake.secrets.set('tr/tokens/b', {
        versions: new Map([['v1', { body: '{}', stages: ['AWSCURRENT'] }]]),
        tags: [],
      });
      fake.calls.length = 0;

      expect(await store.list('tokens/')).toEqual(['tokens/a', 'tokens/b']);
      expect(fake.calls).toEqual(['listSecrets']);
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
