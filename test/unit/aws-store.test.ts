/**
 * The AWS store's layout, compare-and-set and ring decisions, over in-memory fakes of the
 * narrow Secrets Manager and Parameter Store interfaces that follow the documented
 * staging-label and version-numbering rules. The fakes are never the proof that the
 * adapter talks to AWS correctly (the moto integration suite is); they let each
 * interleaving and lost answer be placed exactly, and every call be counted.
 */
import { describe, expect, it } from 'vitest';
import { recordPaths } from '../../src/engine/records.js';
import { writeWithRetry } from '../../src/engine/records-io.js';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import {
  AwsStore,
  MAX_SECRET_STRING_BYTES,
  MAX_SLOTS,
  PENDING_STAGE,
  placementOf,
  requestToken,
} from '../../src/stores/aws/index.js';
import type { RecordUsage } from '../../src/stores/contract.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { FakeParameterStore, FakeSecretsManager, serviceError } from '../helpers/fake-secrets-manager.js';

/** The usages the engine declares for a 3600 s token (public, state) and a 900 s token. */
const HOURLY_PUBLIC: RecordUsage = { writesPerDay: 46 };
const HOURLY_STATE: RecordUsage = { writesPerDay: 92 };
const SHORT_PUBLIC: RecordUsage = { writesPerDay: 233 };
const SHORT_STATE: RecordUsage = { writesPerDay: 466 };

function setup(options: { kmsKeyId?: string; tags?: Record<string, string> } = {}) {
  const secrets = new FakeSecretsManager();
  const parameters = new FakeParameterStore();
  const logs = captureLogs();
  const store = new AwsStore({ client: secrets, parameters, prefix: 'tr/', logger: logs.logger, ...options });
  /** Forgets the calls made so far, so a test counts only those of the step under test. */
  const resetCalls = () => {
    secrets.calls.length = 0;
    secrets.requests.length = 0;
    parameters.calls.length = 0;
    parameters.requests.length = 0;
  };
  return { secrets, parameters, store, logs, resetCalls };
}

/** The body the store writes for position `seq` of a ring recorded with `size`. */
const slotBody = (seq: number, size: number, record: Record<string, unknown>) =>
  JSON.stringify({ ring: { seq, size }, record });

/** Puts a secret straight into the fake, as an operator or an earlier release would have. */
function plant(secrets: FakeSecretsManager, name: string, body: string, versionId = `v-${name}`, createdAt?: number) {
  secrets.secrets.set(name, {
    versions: new Map([
      [versionId, { body, stages: ['AWSCURRENT'], ...(createdAt === undefined ? {} : { createdAt }) }],
    ]),
    tags: [],
  });
}

/** Lays out a ring as release 0.1 wrote it: `size` slots, positions `first`…`last`, each in slot `seq mod size`. */
function plantRing(secrets: FakeSecretsManager, base: string, size: number, first: number, last: number) {
  for (let seq = first; seq <= last; seq++) {
    plant(secrets, `${base}@${seq % size}`, slotBody(seq, size, { n: seq }), `v${seq}`);
  }
}

const PUBLIC = {
  provider: 'a',
  access_token: 'at-1',
  token_type: 'Bearer',
  issued_at: '2026-03-02T00:00:00.000Z',
  expires_at: '2026-03-02T01:00:00.000Z',
  generation: 1,
};

async function errorOf(promise: Promise<unknown>): Promise<StoreError> {
  return (await promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e,
  )) as StoreError;
}

describe('AwsStore (over fake clients)', () => {
  describe('placementOf', () => {
    it.each([
      ['tokens/a', undefined, 'secret'],
      ['tokens/a', { writesPerDay: 46 }, 'secret'],
      ['tokens/a', { writesPerDay: 96 }, 'secret'],
      ['tokens/a', { writesPerDay: 97 }, 'parameter'],
      ['tokens/a', { writesPerDay: 233 }, 'parameter'],
      ['state/a', undefined, 'ring'],
      ['state/a', { writesPerDay: 92 }, 'ring'],
      ['state/a', { writesPerDay: 466 }, 'ring'],
      ['runner/heartbeat', undefined, 'parameter'],
      ['runner/heartbeat', { writesPerDay: 10 }, 'parameter'],
      ['credentials/a', undefined, 'ring'],
      ['tokens/a/b', { writesPerDay: 233 }, 'ring'],
    ] as const)('places %s written %j times a day in a %s', (path, usage, placement) => {
      expect(placementOf(path, usage)).toBe(placement);
    });
  });

  describe('capabilities.writeBudget', () => {
    it.each([
      ['tokens/a', HOURLY_PUBLIC, { writes: 96, windowSeconds: 86_400 }],
      ['tokens/a', undefined, { writes: 96, windowSeconds: 86_400 }],
      ['tokens/a', SHORT_PUBLIC, undefined],
      ['runner/heartbeat', { writesPerDay: 288 }, undefined],
      ['state/a', undefined, { writes: 96, windowSeconds: 86_400 }],
      ['state/a', HOURLY_STATE, { writes: 96, windowSeconds: 86_400 }],
      ['state/a', { writesPerDay: 183 }, { writes: 192, windowSeconds: 86_400 }],
      ['state/a', SHORT_STATE, { writes: 480, windowSeconds: 86_400 }],
      ['state/a', { writesPerDay: 100_000 }, { writes: 8 * 96, windowSeconds: 86_400 }],
    ] as const)('gives %s written %j times a day a budget of %j', (path, usage, budget) => {
      const { store } = setup();

      expect(store.capabilities.compareAndSet).toBe(true);
      expect(store.capabilities.writeBudget?.(path, usage)).toEqual(budget);
    });
  });

  describe('requestToken', () => {
    it('is a version-8 UUID of the secret and the version read, the same whatever the value written', () => {
      const token = requestToken('tr/state/a@0', 'v1');

      expect(token).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(requestToken('tr/state/a@0', 'v1')).toBe(token);
      expect(requestToken('tr/state/a@0', 'v2')).not.toBe(token);
      expect(requestToken('tr/state/b', 'v1')).not.toBe(token);
      expect(requestToken('tr/state/a@0', null)).not.toBe(token);
    });
  });

  describe('names', () => {
    it('names secrets with the prefix and parameters with one leading slash', () => {
      const { store } = setup();
      const slashed = new AwsStore({
        client: new FakeSecretsManager(),
        parameters: new FakeParameterStore(),
        prefix: '/team/tr/',
      });

      expect(store.secretName('tokens/a')).toBe('tr/tokens/a');
      expect(store.parameterName('tokens/a')).toBe('/tr/tokens/a');
      expect(slashed.parameterName('tokens/a')).toBe('/team/tr/tokens/a');
      expect(new AwsStore({ client: new FakeSecretsManager(), parameters: new FakeParameterStore() }).prefix).toBe(
        'token-rotator/',
      );
    });

    it('refuses an empty prefix', () => {
      expect(
        () => new AwsStore({ client: new FakeSecretsManager(), parameters: new FakeParameterStore(), prefix: '' }),
      ).toThrow(TypeError);
    });

    it('refuses an invalid record path before any call', async () => {
      const { store, secrets, parameters } = setup();

      await expect(store.read('../tokens/a')).rejects.toMatchObject({ retryable: false });
      await expect(store.write('tokens/a b', {}, null)).rejects.toBeInstanceOf(StoreError);
      expect([...secrets.calls, ...parameters.calls]).toEqual([]);
    });
  });

  describe('a public record written up to 96 times a day', () => {
    it('is one plain secret named for the record, its AWSCURRENT value the record JSON, without envelope', async () => {
      const { store, secrets, parameters } = setup();

      const version = await store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });

      expect([...secrets.secrets.keys()]).toEqual(['tr/tokens/a']);
      const current = secrets.current('tr/tokens/a')!;
      expect(version).toBe(`s:${current}`);
      expect(secrets.secrets.get('tr/tokens/a')!.versions.get(current)!.body).toBe(JSON.stringify(PUBLIC));
      // What a consumer's plain GetSecretValue returns.
      const consumer = await secrets.getSecretValue({ SecretId: 'tr/tokens/a' });
      expect(JSON.parse(consumer.SecretString)).toEqual(PUBLIC);
      expect(parameters.parameters.size).toBe(0);
    });

    it('is created with one CreateSecret, and removes a parameter it may have moved from', async () => {
      const { store, secrets, parameters } = setup();

      await store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });

      expect(secrets.calls).toEqual(['createSecret']);
      expect(parameters.requests).toEqual([{ call: 'deleteParameter', name: '/tr/tokens/a' }]);
    });

    it('is updated with exactly PutSecretValue and UpdateSecretVersionStage, and read with one GetSecretValue', async () => {
      const { store, secrets, parameters, resetCalls } = setup();
      const v1 = await store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });
      resetCalls();

      const v2 = await store.write('tokens/a', { ...PUBLIC, generation: 2 }, v1, { usage: HOURLY_PUBLIC });
      const read = await store.read('tokens/a', HOURLY_PUBLIC);

      expect(secrets.calls).toEqual(['putSecretValue', 'updateSecretVersionStage', 'getSecretValue']);
      expect(parameters.calls).toEqual([]);
      expect(read).toEqual({ value: { ...PUBLIC, generation: 2 }, version: v2 });
      expect(v2).toBe(`s:${requestToken('tr/tokens/a', v1)}`);
    });

    it('reads as absent when the secret does not exist', async () => {
      const { store } = setup();

      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toBeUndefined();
    });

    it('tags the secret managed-by and provider, with the configured tags, and no ring slot', async () => {
      const { store, secrets } = setup({ tags: { team: 'billing' } });

      await store.write('tokens/klikoo', PUBLIC, null, { usage: HOURLY_PUBLIC });

      expect(secrets.secrets.get('tr/tokens/klikoo')!.tags).toEqual([
        { Key: 'team', Value: 'billing' },
        { Key: 'managed-by', Value: 'token-rotator' },
        { Key: 'provider', Value: 'klikoo' },
      ]);
    });

    it('encrypts a new secret with the configured KMS key, and with the default key otherwise', async () => {
      const keyed = setup({ kmsKeyId: 'alias/token-rotator' });
      const plain = setup();

      await keyed.store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });
      await plain.store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });

      expect(keyed.secrets.secrets.get('tr/tokens/a')!.kmsKeyId).toBe('alias/token-rotator');
      expect(plain.secrets.secrets.get('tr/tokens/a')!.kmsKeyId).toBeUndefined();
    });

    it('reports a secret that holds no JSON object as STORE_RECORD_INVALID without quoting it', async () => {
      const { store, secrets } = setup();
      plant(secrets, 'tr/tokens/a', 'not json: s3cr3t');

      const error = await errorOf(store.read('tokens/a', HOURLY_PUBLIC));

      expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID });
      expect(error.message).toBe('tr/tokens/a does not hold a JSON object');
    });
  });

  describe('compare-and-set on a secret', () => {
    it('reports a ConflictError when AWSCURRENT moved since the read, leaving the current version alone and adding none', async () => {
      const { store, secrets, resetCalls } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      const v2 = await store.write('tokens/a', { n: 2 }, v1);
      resetCalls();

      const attempt = store.write('tokens/a', { n: 3 }, v1);

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      // The version id a write over v1 stages is taken (by the write that made v2): refused before a version is made.
      expect(secrets.calls).toEqual(['putSecretValue', 'updateSecretVersionStage']);
      expect(secrets.secrets.get('tr/tokens/a')!.versions.size).toBe(2);
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { n: 2 }, version: v2 });
    });

    it('lets the first writer to stage a version over the one read win: a rival staging after it loses and finishes its write', async () => {
      const { store, secrets, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      const rival = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      let rivalAttempt: Promise<string> | undefined;
      secrets.before.set('updateSecretVersionStage', async () => {
        rivalAttempt = rival.write('tokens/a', { holder: 'rival' }, v1);
        await rivalAttempt.catch(() => undefined);
      });

      const ours = await store.write('tokens/a', { holder: 'us' }, v1);

      await expect(rivalAttempt).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { holder: 'us' }, version: ours });
      // Two writers over v1, one new version between them.
      expect(secrets.secrets.get('tr/tokens/a')!.versions.size).toBe(2);
    });

    it('reports its write as landed when a rival finished it and a third writer replaced it before its own move', async () => {
      const { store, secrets, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      const rival = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      const third = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      let thirdVersion: string | undefined;
      secrets.before.set('updateSecretVersionStage', async () => {
        await expect(rival.write('tokens/a', { holder: 'rival' }, v1)).rejects.toBeInstanceOf(ConflictError);
        const finished = await third.read('tokens/a', HOURLY_PUBLIC);
        expect(finished?.value).toEqual({ holder: 'us' });
        thirdVersion = await third.write('tokens/a', { holder: 'third' }, finished!.version);
      });

      const ours = await store.write('tokens/a', { holder: 'us' }, v1);

      // The third writer wrote over exactly the version ours reports: one chain, no lost write.
      expect(ours).toBe(`s:${requestToken('tr/tokens/a', v1)}`);
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({
        value: { holder: 'third' },
        version: thirdVersion,
      });
      expect(thirdVersion).toBe(`s:${requestToken('tr/tokens/a', ours)}`);
    });

    it('finishes a write that staged its version and never moved AWSCURRENT (its writer died), then reports a conflict', async () => {
      const { store, secrets, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      const dead = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      secrets.fail.set('updateSecretVersionStage', serviceError('ServiceUnavailable'));
      secrets.fail.set('describeSecret', serviceError('ServiceUnavailable'));
      await expect(dead.write('tokens/a', { holder: 'dead' }, v1)).rejects.toBeInstanceOf(StoreError);
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toMatchObject({ value: { n: 1 } });

      await expect(store.write('tokens/a', { holder: 'us' }, v1)).rejects.toBeInstanceOf(ConflictError);

      const after = await store.read('tokens/a', HOURLY_PUBLIC);
      expect(after?.value).toEqual({ holder: 'dead' });
      await store.write('tokens/a', { holder: 'us' }, after!.version);
      expect((await store.read('tokens/a', HOURLY_PUBLIC))?.value).toEqual({ holder: 'us' });
    });

    it('succeeds when the move landed but its answer was lost: AWSCURRENT on the new version decides', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.loseAnswer.add('updateSecretVersionStage');

      const v2 = await store.write('tokens/a', { n: 2 }, v1);

      expect(v2).toBe(`s:${requestToken('tr/tokens/a', v1)}`);
      expect(secrets.current('tr/tokens/a')).toBe(requestToken('tr/tokens/a', v1));
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { n: 2 }, version: v2 });
    });

    it('reports a retryable StoreError when the answer of PutSecretValue is lost, and a retry completes with no second version', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.loseAnswer.add('putSecretValue');

      const lost = await errorOf(store.write('tokens/a', { n: 2 }, v1));
      const v2 = await store.write('tokens/a', { n: 2 }, v1);

      expect(lost).toBeInstanceOf(StoreError);
      expect(lost).not.toBeInstanceOf(ConflictError);
      expect(lost.retryable).toBe(true);
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { n: 2 }, version: v2 });
      expect(secrets.secrets.get('tr/tokens/a')!.versions.size).toBe(2);
    });

    it('reports a StoreError, not a conflict, when the move fails while AWSCURRENT is still the expected version', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));

      const attempt = store.write('tokens/a', { n: 2 }, v1);

      await expect(attempt).rejects.toBeInstanceOf(StoreError);
      await expect(attempt).rejects.not.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toThrow(
        'Secrets Manager UpdateSecretVersionStage failed for secret tr/tokens/a (InternalServiceError)',
      );
      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { n: 1 }, version: v1 });
    });

    it('reports a StoreError when neither the move nor the check after it is answered', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));
      secrets.fail.set('describeSecret', serviceError('InternalServiceError'));

      const error = await errorOf(store.write('tokens/a', { n: 2 }, v1));

      expect(error).not.toBeInstanceOf(ConflictError);
      expect(error.message).toBe(
        'Secrets Manager UpdateSecretVersionStage failed for secret tr/tokens/a (InternalServiceError)',
      );
    });

    it('returns the same version for a retried identical write after a lost answer, creating no version again', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      const v2 = await store.write('tokens/a', { n: 2 }, v1);
      const created = secrets.created.length;

      const retried = await store.write('tokens/a', { n: 2 }, v1);

      expect(retried).toBe(v2);
      expect(secrets.created.length).toBe(created);
      expect(secrets.secrets.get('tr/tokens/a')!.versions.size).toBe(2);
    });

    it('completes a write whose version was staged but never made current, without a second version', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.fail.set('updateSecretVersionStage', serviceError('InternalServiceError'));
      await expect(store.write('tokens/a', { n: 2 }, v1)).rejects.toBeInstanceOf(StoreError);

      const v2 = await store.write('tokens/a', { n: 2 }, v1);

      expect(await store.read('tokens/a', HOURLY_PUBLIC)).toEqual({ value: { n: 2 }, version: v2 });
      expect(secrets.secrets.get('tr/tokens/a')!.versions.size).toBe(2);
    });

    it('keeps its pending label on the current version only: each write moves it along', async () => {
      const { store, secrets } = setup();
      let version = await store.write('tokens/a', { n: 0 }, null);
      for (let n = 1; n < 4; n++) version = await store.write('tokens/a', { n }, version);

      const labelled = [...secrets.secrets.get('tr/tokens/a')!.versions].filter(([, v]) =>
        v.stages.includes(PENDING_STAGE),
      );

      expect(labelled.map(([id]) => id)).toEqual([secrets.current('tr/tokens/a')]);
    });

    it('reports a ConflictError when the secret was deleted since it was read', async () => {
      const { store, secrets } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null);
      secrets.secrets.delete('tr/tokens/a');

      await expect(store.write('tokens/a', { n: 2 }, v1)).rejects.toBeInstanceOf(ConflictError);
    });

    it('maps ResourceExistsException on creation to a ConflictError naming the record', async () => {
      const { store } = setup();
      await store.write('tokens/a', { n: 1 }, null);

      await expect(store.write('tokens/a', { n: 9 }, null)).rejects.toMatchObject({
        code: ErrorCodes.STORE_CONFLICT,
        path: 'tokens/a',
      });
    });

    it('takes a version it cannot parse as a conflict, before any call', async () => {
      const { store, secrets } = setup();

      await expect(store.write('tokens/a', { n: 1 }, '3/6')).rejects.toBeInstanceOf(ConflictError);
      await expect(store.write('state/a', { n: 1 }, 'r:x:1:')).rejects.toBeInstanceOf(ConflictError);
      expect(secrets.calls).toEqual([]);
    });

    it('never puts the value in an error message', async () => {
      const { store, secrets } = setup();
      secrets.fail.set('createSecret', serviceError('ThrottlingException'));

      const error = await errorOf(store.write('state/a', { refresh_token: 'very-secret-refresh' }, null));

      expect(error).toBeInstanceOf(StoreError);
      expect(error.retryable).toBe(true);
      expect(error.message).toBe('Secrets Manager CreateSecret failed for secret tr/state/a@0 (ThrottlingException)');
      expect(JSON.stringify({ ...error, message: error.message })).not.toContain('very-secret-refresh');
    });

    it('reports access denied as a StoreError that is not worth retrying', async () => {
      const { store, secrets } = setup();
      secrets.fail.set('batchGetSecretValue', serviceError('AccessDeniedException'));

      const error = await errorOf(store.read('state/a'));

      expect(error).not.toBeInstanceOf(ConflictError);
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(
        'Secrets Manager BatchGetSecretValue failed for secret tr/state/a and 8 more (AccessDeniedException)',
      );
    });

    it(`refuses a record over ${MAX_SECRET_STRING_BYTES} bytes without a call, naming the size and not the value`, async () => {
      const { store, secrets } = setup();
      const value = { access_token: `s3cr3t${'x'.repeat(MAX_SECRET_STRING_BYTES)}` };

      const error = await errorOf(store.write('tokens/a', value, null, { usage: HOURLY_PUBLIC }));

      expect(error).toBeInstanceOf(StoreError);
      expect(error.retryable).toBe(false);
      expect(error.message).toBe(
        `record tokens/a takes ${JSON.stringify(value).length} bytes in secret tr/tokens/a, over the Secrets Manager limit of 65536`,
      );
      expect(secrets.calls).toEqual([]);
    });

    it('accepts a record of exactly the limit', async () => {
      const { store } = setup();
      const filler = 'x'.repeat(MAX_SECRET_STRING_BYTES - JSON.stringify({ t: '' }).length);

      await expect(store.write('tokens/a', { t: filler }, null, { usage: HOURLY_PUBLIC })).resolves.toMatch(/^s:/);
    });
  });

  describe('a public record written over 96 times a day', () => {
    it('is a SecureString parameter /<prefix>tokens/<p> holding the record JSON, version p:1', async () => {
      const { store, secrets, parameters } = setup({ tags: { team: 'billing' } });

      const version = await store.write('tokens/a', PUBLIC, null, { usage: SHORT_PUBLIC });

      expect(version).toBe('p:1');
      expect([...parameters.parameters.keys()]).toEqual(['/tr/tokens/a']);
      const parameter = parameters.parameters.get('/tr/tokens/a')!;
      expect(parameter).toMatchObject({ type: 'SecureString', version: 1, value: JSON.stringify(PUBLIC) });
      expect(parameter.keyId).toBeUndefined();
      expect(parameter.tags).toEqual([
        { Key: 'team', Value: 'billing' },
        { Key: 'managed-by', Value: 'token-rotator' },
        { Key: 'provider', Value: 'a' },
      ]);
      expect(parameters.calls).toEqual(['putParameter']);
      // The secret it may have moved from is removed.
      expect(secrets.requests).toEqual([{ call: 'deleteSecret', name: 'tr/tokens/a' }]);
      expect(secrets.secrets.size).toBe(0);
    });

    it('encrypts the parameter with the configured KMS key', async () => {
      const { store, parameters } = setup({ kmsKeyId: 'alias/token-rotator' });

      await store.write('tokens/a', PUBLIC, null, { usage: SHORT_PUBLIC });

      expect(parameters.parameters.get('/tr/tokens/a')).toMatchObject({
        type: 'SecureString',
        keyId: 'alias/token-rotator',
      });
    });

    it('is updated with one PutParameter over p:n that comes back as n+1, and read with one GetParameter', async () => {
      const { store, secrets, parameters, resetCalls } = setup();
      const v1 = await store.write('tokens/a', PUBLIC, null, { usage: SHORT_PUBLIC });
      resetCalls();

      const v2 = await store.write('tokens/a', { ...PUBLIC, generation: 2 }, v1, { usage: SHORT_PUBLIC });
      const read = await store.read('tokens/a', SHORT_PUBLIC);

      expect(v2).toBe('p:2');
      expect(read).toEqual({ value: { ...PUBLIC, generation: 2 }, version: 'p:2' });
      expect(parameters.calls).toEqual(['putParameter', 'getParameter']);
      expect(secrets.calls).toEqual([]);
    });

    it('reports a ConflictError when another write came in between (it comes back as n+2), although its value landed', async () => {
      const { store, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null, { usage: SHORT_PUBLIC });
      parameters.before.set('putParameter', async () => {
        await parameters.putParameter({ Name: '/tr/tokens/a', Value: '{"n":"rival"}', Overwrite: true });
      });

      const attempt = store.write('tokens/a', { n: 2 }, v1, { usage: SHORT_PUBLIC });

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      expect(parameters.parameters.get('/tr/tokens/a')).toMatchObject({ version: 3, value: '{"n":2}' });
    });

    it('reports a ConflictError when creating a parameter that exists', async () => {
      const { store } = setup();
      await store.write('tokens/a', { n: 1 }, null, { usage: SHORT_PUBLIC });

      await expect(store.write('tokens/a', { n: 2 }, null, { usage: SHORT_PUBLIC })).rejects.toMatchObject({
        code: ErrorCodes.STORE_CONFLICT,
        path: 'tokens/a',
      });
    });

    it('is recognised as its own write by the engine after a lost PutParameter answer', async () => {
      const { store, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null, { usage: SHORT_PUBLIC });
      parameters.loseAnswer.add('putParameter');

      const version = await writeWithRetry(
        store,
        'tokens/a',
        { n: 2 },
        {
          expectedVersion: v1,
          usage: SHORT_PUBLIC,
          retry: { sleep: async () => {} },
        },
      );

      // The lost write landed as version 2, the retry as version 3 (a conflict), and the read decided.
      expect(version).toBe('p:3');
      expect(await store.read('tokens/a', SHORT_PUBLIC)).toEqual({ value: { n: 2 }, version: 'p:3' });
    });

    it('refuses a record over the Parameter Store limit of 8192 bytes without a call', async () => {
      const { store, parameters } = setup();
      const value = { access_token: `s3cr3t${'x'.repeat(8_192)}` };

      const error = await errorOf(store.write('tokens/a', value, null, { usage: SHORT_PUBLIC }));

      expect(error.retryable).toBe(false);
      expect(error.message).toBe(
        `record tokens/a takes ${JSON.stringify(value).length} bytes in parameter /tr/tokens/a, over the Parameter Store limit of 8192`,
      );
      expect(parameters.calls).toEqual([]);
    });

    it('maps a failed PutParameter to a StoreError naming the parameter, not the value', async () => {
      const { store, parameters } = setup();
      parameters.fail.set('putParameter', serviceError('AccessDeniedException'));

      const error = await errorOf(store.write('tokens/a', { access_token: 's3cr3t' }, null, { usage: SHORT_PUBLIC }));

      expect(error.retryable).toBe(false);
      expect(error.message).toBe('SSM PutParameter failed for parameter /tr/tokens/a (AccessDeniedException)');
    });
  });

  describe('the heartbeat', () => {
    it('is a String parameter, not a SecureString, even with a KMS key, and touches no secret', async () => {
      const { store, secrets, parameters } = setup({ kmsKeyId: 'alias/token-rotator' });
      const beat = { last_pass_at: '2026-03-02T00:05:00.000Z', last_pass_ok: true, holder: 'h', duration_ms: 3 };

      const v1 = await store.write('runner/heartbeat', beat, null);
      const v2 = await store.write('runner/heartbeat', beat, v1);

      expect([v1, v2]).toEqual(['p:1', 'p:2']);
      const parameter = parameters.parameters.get('/tr/runner/heartbeat')!;
      expect(parameter.type).toBe('String');
      expect(parameter.keyId).toBeUndefined();
      expect(parameters.calls).toEqual(['putParameter', 'putParameter']);
      expect(secrets.calls).toEqual([]);
      expect(await store.read('runner/heartbeat')).toEqual({ value: beat, version: 'p:2' });
    });
  });

  describe('a public record that moves', () => {
    it('moves from the secret to a parameter when its usage passes 96, deleting the secret', async () => {
      const { store, secrets, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null, { usage: HOURLY_PUBLIC });

      const v2 = await store.write('tokens/a', { n: 2 }, v1, { usage: SHORT_PUBLIC });

      expect(v2).toBe('p:1');
      expect(secrets.secrets.has('tr/tokens/a')).toBe(false);
      await expect(secrets.getSecretValue({ SecretId: 'tr/tokens/a' })).rejects.toMatchObject({
        name: 'ResourceNotFoundException',
      });
      expect(await store.read('tokens/a')).toEqual({ value: { n: 2 }, version: 'p:1' });
      expect(parameters.parameters.get('/tr/tokens/a')!.type).toBe('SecureString');
    });

    it('moves back to a secret when its usage falls to 96, deleting the parameter', async () => {
      const { store, secrets, parameters } = setup();
      const v1 = await store.write('tokens/a', { n: 1 }, null, { usage: SHORT_PUBLIC });

      const v2 = await store.write('tokens/a', { n: 2 }, v1, { usage: HOURLY_PUBLIC });

      expect(v2).toMatch(/^s:/);
      expect(parameters.parameters.size).toBe(0);
      expect(await store.read('tokens/a')).toEqual({ value: { n: 2 }, version: v2 });
      expect(secrets.created.map((c) => c.name)).toEqual(['tr/tokens/a']);
    });

    it('keeps a move that landed when the old copy cannot be removed, and logs it without the value', async () => {
      const { store, parameters, logs } = setup();
      parameters.fail.set('deleteParameter', serviceError('AccessDeniedException'));

      const version = await store.write('tokens/a', { access_token: 's3cr3t' }, null, { usage: HOURLY_PUBLIC });

      expect(version).toMatch(/^s:/);
      expect(logs.lines()).toEqual([
        expect.objectContaining({
          level: 40,
          msg: 'could not remove the copy of a record that moved',
          err: {
            class: 'store',
            code: 'STORE_UNAVAILABLE',
            message: 'SSM DeleteParameter failed for parameter /tr/tokens/a (AccessDeniedException)',
          },
        }),
      ]);
      expect(logs.text()).not.toContain('s3cr3t');
    });
  });

  describe('reading a public record without its usage', () => {
    it('finds the secret with one BatchGetSecretValue (the secret and a 0.1 ring) and one GetParameter', async () => {
      const { store, secrets, parameters, resetCalls } = setup();
      const written = await store.write('tokens/a', PUBLIC, null, { usage: HOURLY_PUBLIC });
      resetCalls();

      const read = await store.read('tokens/a');

      expect(read).toEqual({ value: PUBLIC, version: written });
      expect(secrets.calls).toEqual(['batchGetSecretValue']);
      expect(parameters.requests).toEqual([{ call: 'getParameter', name: '/tr/tokens/a' }]);
    });

    it('names the secret and the 0.1 ring slots @0 to @7 in its batch', async () => {
      const { store, secrets } = setup();
      let names: string[] = [];
      const batch = secrets.batchGetSecretValue.bind(secrets);
      secrets.batchGetSecretValue = async (input) => {
        names = [...(input.SecretIdList ?? [])];
        return batch(input);
      };

      await store.read('tokens/a');

      expect(names).toEqual(['tr/tokens/a', ...Array.from({ length: MAX_SLOTS }, (_, slot) => `tr/tokens/a@${slot}`)]);
    });

    it('finds the parameter', async () => {
      const { store } = setup();
      await store.write('tokens/a', PUBLIC, null, { usage: SHORT_PUBLIC });

      expect(await store.read('tokens/a')).toEqual({ value: PUBLIC, version: 'p:1' });
    });

    it('takes the later-written when both a secret and a parameter exist', async () => {
      const { store, secrets, parameters } = setup();
      const clock = { now: 1_000 };
      secrets.clock = () => clock.now;
      parameters.clock = () => clock.now;
      plant(secrets, 'tr/tokens/a', '{"from":"secret"}', 'v1', 2_000);
      clock.now = 1_000;
      await parameters.putParameter({ Name: '/tr/tokens/a', Value: '{"from":"parameter"}', Type: 'SecureString' });

      expect(await store.read('tokens/a')).toEqual({ value: { from: 'secret' }, version: 's:v1' });

      clock.now = 3_000;
      await parameters.putParameter({ Name: '/tr/tokens/a', Value: '{"from":"parameter"}', Overwrite: true });

      expect(await store.read('tokens/a')).toEqual({ value: { from: 'parameter' }, version: 'p:2' });
    });

    it('falls back to a ring written by release 0.1 while neither new place exists, as version l:', async () => {
      const { store, secrets } = setup();
      plantRing(secrets, 'tr/tokens/a', 6, 3, 9);

      expect(await store.read('tokens/a')).toEqual({ value: { n: 9 }, version: 'l:' });
    });

    it('prefers the new secret to a 0.1 ring that is still there', async () => {
      const { store, secrets } = setup();
      plantRing(secrets, 'tr/tokens/a', 6, 3, 9);
      plant(secrets, 'tr/tokens/a', '{"n":"new"}', 'v-new');

      expect(await store.read('tokens/a')).toEqual({ value: { n: 'new' }, version: 's:v-new' });
    });

    it('writes over an l: version by creating the new secret, leaving the 0.1 ring as it was', async () => {
      const { store, secrets, resetCalls } = setup();
      plantRing(secrets, 'tr/tokens/a', 6, 3, 9);
      const legacy = (await store.read('tokens/a'))!.version;
      resetCalls();

      const version = await store.write('tokens/a', PUBLIC, legacy, { usage: HOURLY_PUBLIC });

      expect(secrets.calls).toEqual(['createSecret']);
      expect(await store.read('tokens/a')).toEqual({ value: PUBLIC, version });
      expect(secrets.secrets.get('tr/tokens/a@3')!.versions.get('v9')!.body).toBe(slotBody(9, 6, { n: 9 }));
    });

    it('writes over an l: version of a short-lived token by creating the parameter', async () => {
      const { store, secrets, parameters } = setup();
      plantRing(secrets, 'tr/tokens/a', 6, 0, 4);

      const version = await store.write('tokens/a', PUBLIC, 'l:', { usage: SHORT_PUBLIC });

      expect(version).toBe('p:1');
      expect(parameters.parameters.has('/tr/tokens/a')).toBe(true);
      expect(await store.read('tokens/a')).toEqual({ value: PUBLIC, version: 'p:1' });
    });

    it('reads as absent when there is no secret, parameter nor ring', async () => {
      const { store } = setup();

      expect(await store.read('tokens/a')).toBeUndefined();
    });
  });

  describe('a state ring', () => {
    it('is read with exactly one BatchGetSecretValue over the plain name and slots @0 to @7', async () => {
      const { store, secrets, parameters } = setup();
      let names: string[] = [];
      const batch = secrets.batchGetSecretValue.bind(secrets);
      secrets.batchGetSecretValue = async (input) => {
        names = [...(input.SecretIdList ?? [])];
        return batch(input);
      };
      await store.write('state/a', { n: 0 }, null, { usage: SHORT_STATE });
      secrets.calls.length = 0;

      const read = await store.read('state/a');

      expect(secrets.calls).toEqual(['batchGetSecretValue']);
      expect(parameters.calls).toEqual([]);
      expect(names).toEqual(['tr/state/a', ...Array.from({ length: 8 }, (_, slot) => `tr/state/a@${slot}`)]);
      expect(read?.value).toEqual({ n: 0 });
    });

    it('starts at slot 0 with one CreateSecret holding the envelope and the size the usage needs', async () => {
      const { store, secrets, parameters } = setup();

      const version = await store.write('state/a', { n: 0 }, null, { usage: SHORT_STATE });

      expect(secrets.calls).toEqual(['createSecret']);
      expect(parameters.calls).toEqual([]);
      const current = secrets.current('tr/state/a@0')!;
      expect(secrets.secrets.get('tr/state/a@0')!.versions.get(current)!.body).toBe(slotBody(0, 5, { n: 0 }));
      expect(version).toBe(`r:0:5:${current},,,,,,,`);
      expect(secrets.secrets.has('tr/state/a')).toBe(false);
    });

    it('writes an existing slot with exactly PutSecretValue and UpdateSecretVersionStage, a new one with one CreateSecret', async () => {
      const { store, secrets } = setup();
      let version = await store.write('state/a', { n: 0 }, null, { usage: { writesPerDay: 183 } });
      const calls: string[][] = [];
      for (let n = 1; n < 4; n++) {
        secrets.calls.length = 0;
        version = await store.write('state/a', { n }, version, { usage: { writesPerDay: 183 } });
        calls.push([...secrets.calls]);
      }

      // A ring of 2: seq 1 creates @1, seq 2 and 3 update @0 and @1.
      expect(calls).toEqual([
        ['createSecret'],
        ['putSecretValue', 'updateSecretVersionStage'],
        ['putSecretValue', 'updateSecretVersionStage'],
      ]);
      expect(await store.read('state/a')).toEqual({ value: { n: 3 }, version });
    });

    it('writes position n to slot n mod size and reads back the latest, whichever slot holds it', async () => {
      const { store, secrets } = setup();
      let version: string | null = null;
      for (let n = 0; n < 12; n++) version = await store.write('state/a', { n }, version, { usage: SHORT_STATE });

      expect(version).toMatch(/^r:11:5:/);
      expect(await store.read('state/a')).toEqual({ value: { n: 11 }, version });
      // Positions 0,5,10 in @0; 1,6,11 in @1; 2,7 in @2; 3,8 in @3; 4,9 in @4.
      const versionsOf = (slot: number) => secrets.created.filter((c) => c.name === `tr/state/a@${slot}`).length;
      expect([0, 1, 2, 3, 4, 5].map(versionsOf)).toEqual([3, 3, 2, 2, 2, 0]);
    });

    it('grows one write after the usage does: the size is recorded now and applied from the next write', async () => {
      const { store, secrets } = setup();
      const v0 = await store.write('state/a', { n: 0 }, null); // usage unknown: 1 slot
      const v1 = await store.write('state/a', { n: 1 }, v0, { usage: SHORT_STATE });
      const v2 = await store.write('state/a', { n: 2 }, v1, { usage: SHORT_STATE });

      expect(v0).toMatch(/^r:0:1:/);
      // Position 1 goes where a ring of 1 puts it (@0), recording 5 for what follows.
      expect(v1).toMatch(/^r:1:5:/);
      expect(secrets.secrets.get('tr/state/a@0')!.versions.get(secrets.current('tr/state/a@0')!)!.body).toBe(
        slotBody(1, 5, { n: 1 }),
      );
      // Position 2 goes to 2 mod 5.
      expect(v2).toMatch(/^r:2:5:/);
      expect([...secrets.secrets.keys()].sort()).toEqual(['tr/state/a@0', 'tr/state/a@2']);
    });

    it('sends every racer that read the same version to the same slot, whatever usage it writes with: one wins', async () => {
      const { store, secrets, parameters } = setup();
      const rival = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      let version = await store.write('state/a', { n: 0 }, null, { usage: HOURLY_STATE });
      for (let n = 1; n < 3; n++) version = await store.write('state/a', { n }, version, { usage: HOURLY_STATE });
      // Recorded size 1: the next write goes to @0, whoever makes it and with whatever usage.
      let rivalAttempt: Promise<string> | undefined;
      secrets.before.set('updateSecretVersionStage', async () => {
        rivalAttempt = rival.write('state/a', { holder: 'rival' }, version, { usage: SHORT_STATE });
        await rivalAttempt.catch(() => undefined);
      });

      const ours = await store.write('state/a', { holder: 'us' }, version, { usage: HOURLY_STATE });

      await expect(rivalAttempt).rejects.toBeInstanceOf(ConflictError);
      expect(ours).toMatch(/^r:3:1:/);
      expect(await store.read('state/a')).toEqual({ value: { holder: 'us' }, version: ours });
      expect([...secrets.secrets.keys()]).toEqual(['tr/state/a@0']);
    });

    it('lets one of two writers creating the same new slot win; the other gets a ConflictError', async () => {
      const { store, secrets, parameters } = setup();
      const rival = new AwsStore({ client: secrets, parameters, prefix: 'tr/' });
      const v0 = await store.write('state/a', { n: 0 }, null, { usage: SHORT_STATE });
      secrets.before.set('createSecret', async () => {
        await rival.write('state/a', { holder: 'rival' }, v0, { usage: SHORT_STATE });
      });

      await expect(store.write('state/a', { holder: 'us' }, v0, { usage: SHORT_STATE })).rejects.toBeInstanceOf(
        ConflictError,
      );

      expect((await store.read('state/a'))?.value).toEqual({ holder: 'rival' });
    });

    it('rejects a stale version after the ring wrapped, leaving the latest current', async () => {
      const { store } = setup();
      const v0 = await store.write('state/a', { n: 0 }, null, { usage: { writesPerDay: 250 } });
      const v1 = await store.write('state/a', { n: 1 }, v0, { usage: { writesPerDay: 250 } });
      let latest = v1;
      for (let n = 2; n < 5; n++)
        latest = await store.write('state/a', { n }, latest, { usage: { writesPerDay: 250 } });

      await expect(store.write('state/a', { n: 'stale' }, v0)).rejects.toBeInstanceOf(ConflictError);
      await expect(store.write('state/a', { n: 'stale' }, v1)).rejects.toBeInstanceOf(ConflictError);

      expect(await store.read('state/a')).toEqual({ value: { n: 4 }, version: latest });
    });

    it('shrinks a ring of 6 written by release 0.1 to 1 slot: one write in its own place, then all in @0', async () => {
      const { store, secrets } = setup();
      plantRing(secrets, 'tr/state/a', 6, 0, 5);
      const read = await store.read('state/a');
      expect(read?.value).toEqual({ n: 5 });
      expect(read?.version).toMatch(/^r:5:6:v0,v1,v2,v3,v4,v5,,$/);

      const v6 = await store.write('state/a', { n: 6 }, read!.version, { usage: HOURLY_STATE });
      const v7 = await store.write('state/a', { n: 7 }, v6, { usage: HOURLY_STATE });
      const v8 = await store.write('state/a', { n: 8 }, v7, { usage: HOURLY_STATE });

      expect([v6, v7, v8].map((v) => v.split(':').slice(0, 3).join(':'))).toEqual(['r:6:1', 'r:7:1', 'r:8:1']);
      // 6 mod 6 = 0, then 7 mod 1 = 0 and 8 mod 1 = 0: only @0 takes new versions.
      expect(secrets.created.map((c) => c.name)).toEqual(['tr/state/a@0', 'tr/state/a@0', 'tr/state/a@0']);
      expect(await store.read('state/a')).toEqual({ value: { n: 8 }, version: v8 });
    });

    it('reads a ring of 12 (release 0.1 allowed 20) with a second batch for the slots past @7, and writes it', async () => {
      const { store, secrets, resetCalls } = setup();
      plantRing(secrets, 'tr/state/a', 12, 0, 10);
      resetCalls();

      const read = await store.read('state/a');

      expect(secrets.calls).toEqual(['batchGetSecretValue', 'batchGetSecretValue']);
      expect(secrets.requests[1]).toEqual({ call: 'batchGetSecretValue', name: 'tr/state/a@8' });
      expect(read?.value).toEqual({ n: 10 });
      expect(read?.version).toBe('r:10:12:v0,v1,v2,v3,v4,v5,v6,v7,v8,v9,v10,');

      const v11 = await store.write('state/a', { n: 11 }, read!.version, { usage: HOURLY_STATE });
      await store.write('state/a', { n: 12 }, v11, { usage: HOURLY_STATE });
      const shrunk = await store.read('state/a');
      await store.write('state/a', { n: 13 }, shrunk!.version, { usage: HOURLY_STATE });

      // 11 mod 12 = 11 (the last write in the old size), then every write in @0.
      expect(secrets.created.map((c) => c.name)).toEqual(['tr/state/a@11', 'tr/state/a@0', 'tr/state/a@0']);
      // Shrunk to 1, the ring is read in one batch again.
      expect(shrunk).toEqual({ value: { n: 12 }, version: expect.stringMatching(/^r:12:1:/) });
      expect((await store.read('state/a'))?.value).toEqual({ n: 13 });
      expect(secrets.calls.filter((c) => c === 'batchGetSecretValue')).toHaveLength(2 + 1 + 1);
    });

    it('reads a secret an operator stored at the plain name, and starts a ring rather than overwrite it', async () => {
      const { store, secrets } = setup();
      plant(secrets, 'tr/credentials/a', '{"client_secret":"x"}', 'v1');

      const read = await store.read('credentials/a');
      expect(read).toEqual({ value: { client_secret: 'x' }, version: 's:v1' });
      const version = await store.write('credentials/a', { client_secret: 'y' }, read!.version);

      expect(version).toMatch(/^r:0:1:/);
      expect(await store.read('credentials/a')).toEqual({ value: { client_secret: 'y' }, version });
      expect(secrets.secrets.get('tr/credentials/a')!.versions.size).toBe(1);
    });

    it('keeps the recorded size when written without a usage', async () => {
      const { store } = setup();
      const v0 = await store.write('state/a', { n: 0 }, null, { usage: SHORT_STATE });

      const v1 = await store.write('state/a', { n: 1 }, v0);

      expect(v1).toMatch(/^r:1:5:/);
    });

    it.each([
      ['{"access_token":"s3cr3t"}', 'is not a ring slot ({"ring":…,"record":…})'],
      ['not json: s3cr3t', 'is not JSON'],
      ['{"ring":{"seq":-1,"size":2},"record":{"access_token":"s3cr3t"}}', 'has an invalid ring position'],
      ['{"ring":{"seq":1,"size":21},"record":{"access_token":"s3cr3t"}}', 'has an invalid ring position'],
    ])('reports a slot holding %s as STORE_RECORD_INVALID, naming the secret only', async (body, reason) => {
      const { store, secrets } = setup();
      plant(secrets, 'tr/state/a@1', body);

      const error = await errorOf(store.read('state/a'));

      expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID });
      expect(error.message).toBe(`secret tr/state/a@1 ${reason}`);
      expect(error.message).not.toContain('s3cr3t');
    });

    it('tags each slot with its number next to managed-by and provider', async () => {
      const { store, secrets } = setup();
      const v0 = await store.write('state/klikoo', { n: 0 }, null, { usage: SHORT_STATE });
      const v1 = await store.write('state/klikoo', { n: 1 }, v0, { usage: SHORT_STATE });
      await store.write('state/klikoo', { n: 2 }, v1, { usage: SHORT_STATE });

      expect(secrets.secrets.get('tr/state/klikoo@2')!.tags).toEqual([
        { Key: 'managed-by', Value: 'token-rotator' },
        { Key: 'provider', Value: 'klikoo' },
        { Key: 'ring-slot', Value: '2' },
      ]);
    });

    it('holds the records the engine writes for a 900 s token in 5 secrets, as recordPaths names them', async () => {
      const { store, secrets } = setup();
      let version: string | null = null;
      for (let n = 0; n < 10; n++)
        version = await store.write(recordPaths.state('klikoo'), { n }, version, { usage: SHORT_STATE });

      expect([...secrets.secrets.keys()].sort()).toEqual([0, 1, 2, 3, 4].map((slot) => `tr/state/klikoo@${slot}`));
    });
  });

  describe('list', () => {
    it('pages through NextToken and returns record paths without the prefix', async () => {
      const { store, secrets } = setup();
      for (const name of ['c', 'a', 'b', 'd', 'e'])
        await store.write(`tokens/${name}`, { n: 1 }, null, { usage: HOURLY_PUBLIC });
      secrets.pageSize = 2;

      expect(await store.list('tokens')).toEqual(['tokens/a', 'tokens/b', 'tokens/c', 'tokens/d', 'tokens/e']);
      expect(secrets.calls.filter((c) => c === 'listSecrets')).toHaveLength(3);
    });

    it('lists a record once, however many slots its ring has, with plain secrets and parameters', async () => {
      const { store, secrets, parameters, resetCalls } = setup();
      let version = await store.write('state/a', { n: 0 }, null, { usage: SHORT_STATE });
      for (let n = 1; n < 4; n++) version = await store.write('state/a', { n }, version, { usage: SHORT_STATE });
      await store.write('tokens/a', { n: 1 }, null, { usage: SHORT_PUBLIC });
      await store.write('tokens/b', { n: 1 }, null, { usage: HOURLY_PUBLIC });
      await store.write('runner/heartbeat', { n: 1 }, null);
      plantRing(secrets, 'tr/tokens/c', 6, 0, 2);
      resetCalls();

      expect(await store.list('')).toEqual(['runner/heartbeat', 'state/a', 'tokens/a', 'tokens/b', 'tokens/c']);
      expect(await store.list('tokens/')).toEqual(['tokens/a', 'tokens/b', 'tokens/c']);
      expect(secrets.calls).toEqual(['listSecrets', 'listSecrets']);
      expect(parameters.requests).toEqual([
        { call: 'getParametersByPath', name: '/tr' },
        { call: 'getParametersByPath', name: '/tr/tokens' },
      ]);
    });
  });

  describe('close', () => {
    it('destroys both clients once, however often it is called', async () => {
      const { store, secrets, parameters } = setup();

      await store.close();
      await store.close();

      expect(secrets.destroyed).toBe(1);
      expect(parameters.destroyed).toBe(1);
    });
  });
});
