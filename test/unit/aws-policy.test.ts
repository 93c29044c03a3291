/**
 * The IAM policies in deploy/aws/ against the calls the AWS store really makes. A whole
 * provider life is run through the real engine and store on the in-memory fakes (a 3600 s
 * token published as a secret, then a 900 s one published as a parameter with its state in
 * a ring, then back; the heartbeat; the reader; a listing), every call is recorded with
 * the ARN AWS authorizes it on, and each is evaluated against the policy's Allow
 * statements: actions and resources with IAM's wildcards, and the conditions the
 * policies use (`StringEquals`, `StringLike`) against the request context AWS would give:
 * the tags of a create, and, for the KMS calls Secrets Manager and Parameter Store make on
 * the caller's behalf, `kms:ViaService` and the encryption context (`SecretARN`,
 * `PARAMETER_ARN`).
 *
 * What this cannot prove: that AWS evaluates as this small evaluator does (the moto test
 * `test/integration/aws-iam.test.ts` runs the consumer policy through moto's evaluator,
 * within what moto enforces).
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/services-secrets-manager.html#asm-encryption-context
 * @see https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html#parameter-store-encryption-context
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { recordHeartbeat } from '../../src/engine/heartbeat.js';
import { type EffectivePolicy, effectivePolicy } from '../../src/engine/policy.js';
import { type RotationEnv, type RotationTarget, rotate } from '../../src/engine/rotate.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createTokenReader } from '../../src/reader.js';
import { AwsStore } from '../../src/stores/aws/index.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { FakeParameterStore, FakeSecretsManager } from '../helpers/fake-secrets-manager.js';

interface Statement {
  Sid: string;
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}
interface PolicyDocument {
  Statement: Statement[];
}

/** What AWS authorizes for one request: an action on a resource, with the request's context keys. */
interface Authorization {
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, string>>;
}

const policy = (name: string) =>
  JSON.parse(readFileSync(resolve(import.meta.dirname, '../../deploy/aws', name), 'utf8')) as PolicyDocument;
const list = <T>(value: T | T[]) => (Array.isArray(value) ? value : [value]);
/** IAM's wildcard match: `*` any run of characters, `?` one character. */
const matches = (pattern: string, value: string) =>
  new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  ).test(value);

/** A condition block as IAM evaluates it: every key must hold (a key absent from the request fails), any value of a key may. */
function conditionHolds(condition: Statement['Condition'], context: Readonly<Record<string, string>>): boolean {
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, values] of Object.entries(keys)) {
      const actual = context[key];
      if (actual === undefined) return false;
      const test =
        operator === 'StringEquals'
          ? (v: string) => v === actual
          : operator === 'StringLike'
            ? (v: string) => matches(v, actual)
            : undefined;
      if (test === undefined) throw new Error(`the evaluator does not know condition operator ${operator}`);
      if (!list(values).some(test)) return false;
    }
  }
  return true;
}

/** The Allow statement that grants `request`, or `undefined` (the policies have no Deny). */
function allowing(document: PolicyDocument, request: Authorization): Statement | undefined {
  return document.Statement.find(
    (s) =>
      s.Effect === 'Allow' &&
      list(s.Action).some((a) => matches(a, request.action)) &&
      list(s.Resource).some((r) => matches(r, request.resource)) &&
      conditionHolds(s.Condition, request.context),
  );
}
const allows = (document: PolicyDocument, action: string, resource: string, context: Record<string, string> = {}) =>
  allowing(document, { action, resource, context }) !== undefined;

const REGION = 'eu-south-1';
const ACCOUNT = '123456789012';
/** The ARN of a secret: its name and the six random characters AWS appends. */
const secretArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-AbCdEf`;
/** The ARN of a parameter: its name without the leading slash after `parameter/`. */
const parameterArn = (name: string) => `arn:aws:ssm:${REGION}:${ACCOUNT}:parameter/${name.replace(/^\//, '')}`;
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
/** The KMS call Secrets Manager makes for the caller on `secret`, as KMS authorizes it. */
const viaSecretsManager = (action: string, secret: string): Authorization => ({
  action,
  resource: KEY,
  context: {
    'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com`,
    'kms:EncryptionContext:SecretARN': secretArn(secret),
  },
});
/** The KMS call Parameter Store makes for the caller on a `SecureString` parameter. */
const viaParameterStore = (action: string, parameter: string): Authorization => ({
  action,
  resource: KEY,
  context: {
    'kms:ViaService': `ssm.${REGION}.amazonaws.com`,
    'kms:EncryptionContext:PARAMETER_ARN': parameterArn(parameter),
  },
});
const tagContext = (tags: readonly { Key?: string; Value?: string }[] | undefined) =>
  Object.fromEntries((tags ?? []).map((t) => [`aws:RequestTag/${t.Key}`, t.Value ?? '']));

type Input = Record<string, any>;

/**
 * What AWS authorizes for each store call: the API action on its resource, the tagging a
 * create with tags implies, the per-secret `GetSecretValue` of a batch read, and the KMS
 * calls the service makes on the caller's behalf (Secrets Manager: `GenerateDataKey` to
 * write, `Decrypt` to read; Parameter Store, standard tier: `Encrypt` and `Decrypt`).
 */
function authorizationsOf(call: string, input: Input, secureParameter: (name: string) => boolean): Authorization[] {
  const sm = (action: string, name: string, context: Record<string, string> = {}): Authorization => ({
    action: `secretsmanager:${action}`,
    resource: secretArn(name),
    context,
  });
  const ssm = (action: string, name: string): Authorization => ({
    action: `ssm:${action}`,
    resource: parameterArn(name),
    context: {},
  });
  switch (call) {
    case 'getSecretValue':
      return [sm('GetSecretValue', input['SecretId']), viaSecretsManager('kms:Decrypt', input['SecretId'])];
    case 'batchGetSecretValue':
      return [
        { action: 'secretsmanager:BatchGetSecretValue', resource: '*', context: {} },
        ...(input['SecretIdList'] as string[]).flatMap((name) => [
          sm('GetSecretValue', name),
          viaSecretsManager('kms:Decrypt', name),
        ]),
      ];
    case 'createSecret': {
      const context = tagContext(input['Tags']);
      return [
        sm('CreateSecret', input['Name'], context),
        ...(input['Tags']?.length ? [sm('TagResource', input['Name'], context)] : []),
        viaSecretsManager('kms:GenerateDataKey', input['Name']),
      ];
    }
    case 'putSecretValue':
      return [sm('PutSecretValue', input['SecretId']), viaSecretsManager('kms:GenerateDataKey', input['SecretId'])];
    case 'updateSecretVersionStage':
      return [sm('UpdateSecretVersionStage', input['SecretId'])];
    case 'describeSecret':
      return [sm('DescribeSecret', input['SecretId'])];
    case 'deleteSecret':
      return [sm('DeleteSecret', input['SecretId'])];
    case 'listSecrets':
      return [{ action: 'secretsmanager:ListSecrets', resource: '*', context: {} }];
    case 'getParameter':
      return [
        ssm('GetParameter', input['Name']),
        ...(input['WithDecryption'] && secureParameter(input['Name'])
          ? [viaParameterStore('kms:Decrypt', input['Name'])]
          : []),
      ];
    case 'putParameter':
      return [
        ssm('PutParameter', input['Name']),
        ...(input['Tags']?.length ? [ssm('AddTagsToResource', input['Name'])] : []),
        ...(input['Type'] === 'SecureString' ? [viaParameterStore('kms:Encrypt', input['Name'])] : []),
      ];
    case 'deleteParameter':
      return [ssm('DeleteParameter', input['Name'])];
    case 'getParametersByPath':
      return [ssm('GetParametersByPath', input['Path'])];
    default:
      throw new Error(`the test does not know what AWS authorizes for ${call}`);
  }
}

/** `client` with every call recorded (name and input) before it runs. */
function recording<T extends object>(client: T, calls: { call: string; input: Input }[]): T {
  return new Proxy(client, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function' || key === 'destroy') return value;
      return (input: Input) => {
        calls.push({ call: String(key), input });
        return value.call(target, input);
      };
    },
  });
}

const T0 = Date.parse('2026-03-01T00:00:00Z');
const basePolicy: EffectivePolicy = effectivePolicy(resolvedConfigSchema.shape.policy.parse({}), undefined);

/** The calls of one provider's whole life, recorded once for every test below. */
async function recordProviderLife(): Promise<{
  authorizations: Authorization[];
  /** What the project's own reader (`createTokenReader`) made AWS authorize, among the above. */
  readerAuthorizations: Authorization[];
  calls: string[];
  names: string[];
  /** What removing the provider's records (`token-rotator revoke`) made AWS authorize, after the life. */
  removeAuthorizations: Authorization[];
}> {
  const secrets = new FakeSecretsManager();
  const parameters = new FakeParameterStore();
  const calls: { call: string; input: Input }[] = [];
  const authorizations: Authorization[] = [];
  const readerAuthorizations: Authorization[] = [];
  const secureParameter = (name: string) => parameters.parameters.get(name)?.type === 'SecureString';
  const store = new AwsStore({
    client: recording(secrets, calls),
    parameters: recording(parameters, calls),
    prefix: 'token-rotator/',
  });
  const provider = new FakeProvider({ lifetime: 3600, refreshable: true });
  const clock = { now: T0 };
  const target: RotationTarget = { name: 'klikoo', provider, policy: basePolicy, renewal: 'refresh' };
  const env: RotationEnv = {
    store,
    gapSeconds: 300,
    holder: 'runner-a',
    logger: silentLogger(),
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
    writeRetry: { sleep: async () => {} },
    force: true,
  };
  const reader = createTokenReader({ store, now: () => clock.now, refreshMarginSeconds: 0 });
  // Authorizations are worked out as each call is made, so a SecureString is known as such.
  const settle = () => {
    for (const { call, input } of calls.splice(0))
      authorizations.push(...authorizationsOf(call, input, secureParameter));
  };
  const pass = async (lifetime: number) => {
    provider.options.lifetime = lifetime;
    const outcome = await rotate(target, env);
    expect(outcome.status, `rotation of a ${lifetime} s token`).toBe('rotated');
    settle();
    await recordHeartbeat(
      store,
      { last_pass_at: new Date(clock.now).toISOString(), last_pass_ok: true, holder: 'runner-a', duration_ms: 5 },
      silentLogger(),
    );
    settle();
    expect((await reader.get('klikoo')).accessToken).toMatch(/^at-/);
    reader.invalidate('klikoo');
    const before = authorizations.length;
    settle();
    readerAuthorizations.push(...authorizations.slice(before));
    clock.now += 600_000;
  };

  // An hour-long token: its public record is one secret, its state a one-slot ring.
  for (let i = 0; i < 2; i++) await pass(3600);
  // A compare-and-set whose answer is lost: the store asks which version is current.
  secrets.loseAnswer.add('updateSecretVersionStage');
  await pass(3600);
  expect(secrets.calls).toContain('describeSecret');
  // A 15-minute token: the public record moves to a SecureString parameter, the state ring grows.
  for (let i = 0; i < 7; i++) await pass(900);
  // Back to an hour: the public record moves back to a secret and the parameter goes.
  for (let i = 0; i < 2; i++) await pass(3600);
  expect(await store.list('')).toEqual(['runner/heartbeat', 'state/klikoo', 'tokens/klikoo']);
  expect(await store.list('tokens')).toEqual(['tokens/klikoo']);
  settle();
  // A record of the operator's (a `${store:…}` credential) is read from its plain secret.
  await secrets.createSecret({ Name: 'token-rotator/credentials/klikoo', SecretString: '{"client_secret":"x"}' });
  calls.splice(0);
  await store.read('credentials/klikoo');
  settle();

  const names = [...secrets.secrets.keys(), ...parameters.parameters.keys()].sort();
  // `token-rotator revoke`: the provider's records removed, recorded apart from the life's calls.
  expect([await store.remove('tokens/klikoo'), await store.remove('state/klikoo')]).toEqual([true, true]);
  const removeAuthorizations = calls
    .splice(0)
    .flatMap(({ call, input }) => authorizationsOf(call, input, secureParameter));
  expect([...secrets.secrets.keys()]).toEqual(['token-rotator/credentials/klikoo']);
  return {
    authorizations,
    readerAuthorizations,
    calls: [...new Set(authorizations.map((a) => a.action))].sort(),
    names,
    removeAuthorizations,
  };
}

describe('deploy/aws IAM policies', () => {
  const rotator = policy('rotator-policy.json');
  const consumer = policy('consumer-policy.json');
  let life: Awaited<ReturnType<typeof recordProviderLife>>;
  beforeAll(async () => {
    life = await recordProviderLife();
  });

  describe('the rotator policy', () => {
    it('allows every call of a provider life (both placements, the state ring, the heartbeat, the reader, listing) on the records it names', () => {
      const denied = life.authorizations.filter((request) => allowing(rotator, request) === undefined);

      expect(denied.map((r) => `${r.action} on ${r.resource}`)).toEqual([]);
      expect(life.names).toEqual([
        '/token-rotator/runner/heartbeat',
        'token-rotator/credentials/klikoo',
        'token-rotator/state/klikoo@0',
        'token-rotator/state/klikoo@1',
        'token-rotator/state/klikoo@2',
        'token-rotator/state/klikoo@3',
        'token-rotator/state/klikoo@4',
        'token-rotator/tokens/klikoo',
      ]);
    });

    it('grants exactly the actions the store makes AWS authorize, no more', () => {
      const granted = [...new Set(rotator.Statement.flatMap((s) => list(s.Action)))].sort();

      expect(life.calls).toEqual([
        'kms:Decrypt',
        'kms:Encrypt',
        'kms:GenerateDataKey',
        'secretsmanager:BatchGetSecretValue',
        'secretsmanager:CreateSecret',
        'secretsmanager:DeleteSecret',
        'secretsmanager:DescribeSecret',
        'secretsmanager:GetSecretValue',
        'secretsmanager:ListSecrets',
        'secretsmanager:PutSecretValue',
        'secretsmanager:TagResource',
        'secretsmanager:UpdateSecretVersionStage',
        'ssm:AddTagsToResource',
        'ssm:DeleteParameter',
        'ssm:GetParameter',
        'ssm:GetParametersByPath',
        'ssm:PutParameter',
      ]);
      expect(granted).toEqual(life.calls);
    });

    it('refuses every action on secrets and parameters outside its prefix', () => {
      for (const action of ['GetSecretValue', 'PutSecretValue', 'UpdateSecretVersionStage', 'DeleteSecret']) {
        expect(allows(rotator, `secretsmanager:${action}`, secretArn('another-app/db')), action).toBe(false);
      }
      for (const action of ['GetParameter', 'PutParameter', 'DeleteParameter']) {
        expect(allows(rotator, `ssm:${action}`, parameterArn('/another-app/db')), action).toBe(false);
      }
      expect(allows(rotator, 'ssm:GetParameter', parameterArn('/token-rotator-other/tokens/x'))).toBe(false);
    });

    it('creates a secret only with its managed-by tag', () => {
      const arn = secretArn('token-rotator/tokens/klikoo');

      expect(
        allows(rotator, 'secretsmanager:CreateSecret', arn, { 'aws:RequestTag/managed-by': 'token-rotator' }),
      ).toBe(true);
      expect(allows(rotator, 'secretsmanager:CreateSecret', arn)).toBe(false);
      expect(allows(rotator, 'secretsmanager:CreateSecret', arn, { 'aws:RequestTag/managed-by': 'someone' })).toBe(
        false,
      );
      expect(allows(rotator, 'secretsmanager:TagResource', arn)).toBe(false);
    });

    it('deletes only public-record secrets (a record that moved to Parameter Store, an old ring slot), never the state', () => {
      expect(allows(rotator, 'secretsmanager:DeleteSecret', secretArn('token-rotator/tokens/klikoo'))).toBe(true);
      expect(allows(rotator, 'secretsmanager:DeleteSecret', secretArn('token-rotator/tokens/klikoo@3'))).toBe(true);
      expect(allows(rotator, 'secretsmanager:DeleteSecret', secretArn('token-rotator/state/klikoo@0'))).toBe(false);
      expect(allows(rotator, 'secretsmanager:DeleteSecret', secretArn('token-rotator/credentials/klikoo'))).toBe(false);
    });

    it('uses a KMS key only through Secrets Manager or Parameter Store, and only for its own records', () => {
      expect(allowing(rotator, viaSecretsManager('kms:Decrypt', 'another-app/db'))).toBeUndefined();
      expect(allowing(rotator, viaParameterStore('kms:Decrypt', '/another-app/db'))).toBeUndefined();
      expect(allows(rotator, 'kms:Decrypt', KEY)).toBe(false);
      // Secrets Manager never encrypts with the key directly; Parameter Store's standard tier does.
      expect(allowing(rotator, viaSecretsManager('kms:Encrypt', 'token-rotator/tokens/klikoo'))).toBeUndefined();
      expect(allowing(rotator, viaParameterStore('kms:Encrypt', '/token-rotator/tokens/klikoo'))).toBeDefined();
    });
  });

  describe('the consumer policy', () => {
    it('allows the one read a consumer makes of a public record, in either place, with its decryption', () => {
      for (const name of life.names.filter((n) => /^token-rotator\/tokens\/[^/@]+$/.test(n))) {
        expect(allows(consumer, 'secretsmanager:GetSecretValue', secretArn(name)), name).toBe(true);
        expect(allowing(consumer, viaSecretsManager('kms:Decrypt', name)), name).toBeDefined();
      }
      // The 900 s phase kept the public record in this parameter.
      expect(allows(consumer, 'ssm:GetParameter', parameterArn('/token-rotator/tokens/klikoo'))).toBe(true);
      expect(allowing(consumer, viaParameterStore('kms:Decrypt', '/token-rotator/tokens/klikoo'))).toBeDefined();
    });

    it('allows nothing of the state, the heartbeat or an operator credential the rotator read', () => {
      const privateReads = life.authorizations.filter(
        (request) =>
          /^(?:secretsmanager:GetSecretValue|ssm:GetParameter|kms:Decrypt)$/.test(request.action) &&
          !/token-rotator\/tokens\//.test(request.resource + JSON.stringify(request.context)),
      );

      expect(privateReads.length).toBeGreaterThan(0);
      for (const request of privateReads) {
        expect(allowing(consumer, request), `${request.action} on ${request.resource}`).toBeUndefined();
      }
      expect(allows(consumer, 'secretsmanager:GetSecretValue', secretArn('token-rotator/state/klikoo@0'))).toBe(false);
      expect(allows(consumer, 'secretsmanager:GetSecretValue', secretArn('token-rotator/state/klikoo'))).toBe(false);
      expect(allowing(consumer, viaSecretsManager('kms:Decrypt', 'token-rotator/state/klikoo@0'))).toBeUndefined();
    });

    it("allows the project's own reader, which looks in both places (and in a 0.1 ring) in one batch and one GetParameter", () => {
      const denied = life.readerAuthorizations.filter((request) => allowing(consumer, request) === undefined);

      expect(life.readerAuthorizations.map((r) => r.action)).toContain('secretsmanager:BatchGetSecretValue');
      expect(denied.map((r) => `${r.action} on ${r.resource}`)).toEqual([]);
    });

    it('allows a batch read only as the per-secret GetSecretValue AWS checks with it allows: never the state', () => {
      const batch = { action: 'secretsmanager:BatchGetSecretValue', resource: '*', context: {} };

      expect(allowing(consumer, batch)).toBeDefined();
      expect(allows(consumer, 'secretsmanager:GetSecretValue', secretArn('token-rotator/state/klikoo@2'))).toBe(false);
    });

    it('allows no write, delete or listing at all', () => {
      const writes = life.authorizations.filter(
        (request) =>
          !/^(?:secretsmanager:GetSecretValue|secretsmanager:BatchGetSecretValue|ssm:GetParameter|kms:Decrypt)$/.test(
            request.action,
          ),
      );

      expect(writes.length).toBeGreaterThan(0);
      for (const request of writes) {
        expect(allowing(consumer, request), `${request.action} on ${request.resource}`).toBeUndefined();
      }
    });

    it('also matches the slots of a 0.1 public ring (tokens/<p>@0…), which hold public records too', () => {
      expect(allows(consumer, 'secretsmanager:GetSecretValue', secretArn('token-rotator/tokens/klikoo@5'))).toBe(true);
    });
  });

  describe('the prune policy (added to the rotator policy for `token-rotator prune`)', () => {
    const prune = policy('prune-policy.json');

    it('deletes the ring slots release 0.1 left: public rings, the heartbeat ring, state slots beyond the size', () => {
      for (const name of ['tokens/klikoo@3', 'runner/heartbeat@5', 'state/klikoo@5']) {
        expect(allows(prune, 'secretsmanager:DeleteSecret', secretArn(`token-rotator/${name}`)), name).toBe(true);
      }
    });

    it('deletes no record kept in one secret, and nothing outside the prefix', () => {
      for (const name of ['token-rotator/credentials/klikoo', 'token-rotator/state/klikoo', 'another-app/db@1']) {
        expect(allows(prune, 'secretsmanager:DeleteSecret', secretArn(name)), name).toBe(false);
      }
      expect(prune.Statement.flatMap((s) => list(s.Action))).toEqual(['secretsmanager:DeleteSecret']);
    });
  });

  describe('the revoke policy (added to the rotator policy for `token-rotator revoke`)', () => {
    const revoke = policy('revoke-policy.json');
    const describeRequest = (r: Authorization) => `${r.action} on ${r.resource}`;

    it("allows, with the rotator policy, every call removing a provider's records makes (public record, state ring)", () => {
      const denied = life.removeAuthorizations.filter(
        (request) => allowing(rotator, request) === undefined && allowing(revoke, request) === undefined,
      );

      expect(life.removeAuthorizations.map((r) => r.action)).toEqual(
        expect.arrayContaining([
          'secretsmanager:BatchGetSecretValue',
          'secretsmanager:DeleteSecret',
          'ssm:DeleteParameter',
        ]),
      );
      expect(denied.map(describeRequest)).toEqual([]);
    });

    it("is what the rotator policy lacks: deleting the state's secrets, which a runner is never allowed", () => {
      const beyondRotator = life.removeAuthorizations.filter((request) => allowing(rotator, request) === undefined);

      expect(beyondRotator.map(describeRequest).sort()).toEqual(
        [0, 1, 2, 3, 4].map((n) => `secretsmanager:DeleteSecret on ${secretArn(`token-rotator/state/klikoo@${n}`)}`),
      );
    });

    it("deletes the state's secrets only: no operator credential, no heartbeat ring, nothing outside the prefix", () => {
      for (const name of ['token-rotator/state/klikoo', 'token-rotator/state/klikoo@7']) {
        expect(allows(revoke, 'secretsmanager:DeleteSecret', secretArn(name)), name).toBe(true);
      }
      for (const name of [
        'token-rotator/credentials/klikoo',
        'token-rotator/runner/heartbeat@0',
        'another-app/state/x',
      ]) {
        expect(allows(revoke, 'secretsmanager:DeleteSecret', secretArn(name)), name).toBe(false);
      }
      expect(revoke.Statement.flatMap((s) => list(s.Action))).toEqual(['secretsmanager:DeleteSecret']);
    });
  });

  it('never grants a wildcard action, and grants on `*` only what cannot be scoped to a secret', () => {
    for (const statement of [
      ...rotator.Statement,
      ...consumer.Statement,
      ...policy('prune-policy.json').Statement,
      ...policy('revoke-policy.json').Statement,
    ]) {
      for (const action of list(statement.Action)) expect(action, statement.Sid).not.toMatch(/\*/);
      if (list(statement.Resource).includes('*')) {
        for (const action of list(statement.Action)) {
          expect(['secretsmanager:BatchGetSecretValue', 'secretsmanager:ListSecrets'], statement.Sid).toContain(action);
        }
      }
    }
  });
});
