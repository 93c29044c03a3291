/**
 * The IAM policies of deploy/aws/ enforced by a server, not by our own evaluator: moto
 * with IAM on (`INITIAL_NO_AUTH_ACTION_COUNT`), a user holding the policy, and its keys
 * given to the AWS CLI and boto3 as a consumer's service would hold them.
 *
 * What moto 5.2.5 enforces, found in its source (`moto/core/responses.py`,
 * `moto/iam/access_control.py`) and checked here:
 * - Every Secrets Manager and SSM call is authorized by action (`secretsmanager:*`,
 *   `ssm:*`), after the signature is checked against the user's secret key.
 * - Resources: moto authorizes those calls on the resource `*` only, which no statement
 *   scoped to ARNs matches, so it would deny every read of our policies. The launcher
 *   (`test/helpers/moto_server.py`, `TOKEN_ROTATOR_MOTO_IAM_RESOURCES=1`) gives moto the ARN
 *   a call names, as AWS authorizes it: the secret's full ARN (with its random suffix), the
 *   parameter's ARN; `*` for ListSecrets and BatchGetSecretValue. Moto's own evaluator
 *   (Allow and Deny statements, `*` wildcards) then judges the policy text.
 *
 * What moto does not enforce, so this test cannot prove it (the unit test
 * `test/unit/aws-policy.test.ts` evaluates it against the policy text):
 * - KMS: moto's Secrets Manager and SSM never call KMS, so the `kms:Decrypt` statements,
 *   `kms:ViaService` and the encryption contexts are not exercised.
 * - Conditions: moto passes no request context (tags) to the evaluator, so a statement with
 *   a condition, as the rotator's tag-conditioned CreateSecret, is not judged as AWS does.
 * - BatchGetSecretValue: moto checks `secretsmanager:BatchGetSecretValue` alone and returns
 *   every secret asked for; AWS also checks `secretsmanager:GetSecretValue` on each one and
 *   answers the others with `AccessDeniedException` entries. The launcher adds that check
 *   too, so a consumer's batch (the project's reader makes one) is judged as AWS judges it.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { createTokenReader } from '../../src/reader.js';
import { AwsStore, sdkParameterStore, sdkSecretsManager } from '../../src/stores/aws/index.js';
import {
  awsCli,
  awsCliGetParameter,
  awsCliGetSecretValue,
  boto3GetParameter,
  boto3GetSecretValue,
  type ConsumerOptions,
} from '../helpers/aws-consumers.js';
import { MOTO_ENV, type Moto, startMoto } from '../helpers/moto.js';

/** Requests moto serves before it enforces IAM: enough for the setup, the rest is spent below. */
const UNAUTHENTICATED_REQUESTS = 300;
const POLICIES = resolve(import.meta.dirname, '../../deploy/aws');
/** Public records as the rotator writes them, valid for a day from now. */
const publicRecord = (provider: string) => ({
  provider,
  access_token: `at-${provider}-1`,
  token_type: 'Bearer',
  issued_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  generation: 1,
});
const HOURLY = publicRecord('hourly');
const SHORT = publicRecord('short');

let moto: Moto;
let setup: ConsumerOptions;
/** Where and as whom each IAM user reaches moto, once made in `beforeAll`. */
const principals = new Map<'consumer' | 'rotator' | 'revoker', ConsumerOptions>();
const as = (user: 'consumer' | 'rotator' | 'revoker'): ConsumerOptions => {
  const options = principals.get(user);
  if (options === undefined) throw new Error(`no IAM user ${user}: the setup failed`);
  return options;
};

/** An IAM user holding `policies` (files of deploy/aws/), and its keys. */
async function userWith(name: string, ...policies: string[]): Promise<ConsumerOptions> {
  await awsCli(['iam', 'create-user', '--user-name', name], setup);
  // put-user-policy answers nothing: its empty output, which awsCli cannot parse, is its success.
  for (const policy of policies)
    await awsCli(
      [
        'iam',
        'put-user-policy',
        '--user-name',
        name,
        '--policy-name',
        policy,
        '--policy-document',
        readFileSync(resolve(POLICIES, policy), 'utf8'),
      ],
      setup,
    ).catch((error: unknown) => {
      if (!/printed 0 characters that are not JSON/.test((error as Error).message)) throw error;
    });
  const { json } = await awsCli(['iam', 'create-access-key', '--user-name', name], setup);
  const key = (json as { AccessKey: { AccessKeyId: string; SecretAccessKey: string } }).AccessKey;
  // No session token: a user's long-term keys, as a service is given them.
  return {
    endpoint: moto.endpoint,
    env: { AWS_ACCESS_KEY_ID: key.AccessKeyId, AWS_SECRET_ACCESS_KEY: key.SecretAccessKey, AWS_SESSION_TOKEN: '' },
  };
}

/** A store as the rotator runs it, with `credentials`. */
function storeAs(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): AwsStore {
  const config = { region: MOTO_ENV.AWS_REGION, endpoint: moto.endpoint, ssm_endpoint: moto.endpoint, max_attempts: 1 };
  return new AwsStore({
    client: sdkSecretsManager(config, { credentials }),
    parameters: sdkParameterStore(config, { credentials }),
    prefix: 'token-rotator/',
  });
}

/** What an AWS CLI call refused by IAM says; fails when the call succeeds. */
async function refusal(args: readonly string[], principal: ConsumerOptions): Promise<string> {
  const result = await awsCli(args, principal).then(
    () => undefined,
    (error: unknown) => (error as Error).message,
  );
  if (result === undefined) throw new Error(`aws ${args.join(' ')} was allowed`);
  return result;
}

beforeAll(async () => {
  moto = await startMoto({
    env: { INITIAL_NO_AUTH_ACTION_COUNT: String(UNAUTHENTICATED_REQUESTS), TOKEN_ROTATOR_MOTO_IAM_RESOURCES: '1' },
  });
  setup = { endpoint: moto.endpoint };
  // The records as the rotator lays them out, written before IAM is on.
  const owner = storeAs({
    accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID,
    secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY,
    sessionToken: MOTO_ENV.AWS_SESSION_TOKEN,
  });
  await owner.write('tokens/hourly', HOURLY, null, { usage: { writesPerDay: 46 } });
  await owner.write('tokens/short', SHORT, null, { usage: { writesPerDay: 233 } });
  await owner.write('state/hourly', { schema: 1, refresh_token: 'rt-private' }, null, { usage: { writesPerDay: 92 } });
  await owner.write('runner/heartbeat', { last_pass_at: '2026-03-01T00:00:00.000Z' }, null);
  await owner.close();
  principals.set('consumer', await userWith('consumer', 'consumer-policy.json'));
  principals.set('rotator', await userWith('rotator', 'rotator-policy.json'));
  principals.set('revoker', await userWith('revoker', 'rotator-policy.json', 'revoke-policy.json'));

  // Spend the unauthenticated requests left: IAM is on once the default keys are refused.
  const client = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: MOTO_ENV.AWS_REGION,
    maxAttempts: 1,
    credentials: { accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID, secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY },
  });
  try {
    let enforced = false;
    for (let i = 0; i <= UNAUTHENTICATED_REQUESTS && !enforced; i++) {
      enforced = await client.send(new ListSecretsCommand({})).then(
        () => false,
        () => true,
      );
    }
    if (!enforced) throw new Error(`moto still serves unauthenticated requests after ${UNAUTHENTICATED_REQUESTS}`);
  } finally {
    client.destroy();
  }
}, 120_000);

afterAll(async () => {
  await moto?.stop();
});

describe('deploy/aws/consumer-policy.json, enforced by moto', () => {
  it('lets the AWS CLI and boto3 read a public record kept in a secret, in one call on its name', async () => {
    for (const read of [awsCliGetSecretValue, boto3GetSecretValue]) {
      const { value } = await read('token-rotator/tokens/hourly', as('consumer'));

      expect(JSON.parse(value)).toEqual(HOURLY);
    }
  });

  it('lets the AWS CLI and boto3 read a public record kept in a parameter, decrypted, in one call', async () => {
    for (const read of [awsCliGetParameter, boto3GetParameter]) {
      const { value } = await read('/token-rotator/tokens/short', as('consumer'));

      expect(JSON.parse(value)).toEqual(SHORT);
    }
  });

  it("refuses the state's ring slot, the heartbeat and any listing", async () => {
    const consumer = as('consumer');

    expect(
      await refusal(['secretsmanager', 'get-secret-value', '--secret-id', 'token-rotator/state/hourly@0'], consumer),
    ).toMatch(/AccessDenied/);
    expect(await refusal(['ssm', 'get-parameter', '--name', '/token-rotator/runner/heartbeat'], consumer)).toMatch(
      /AccessDenied/,
    );
    expect(await refusal(['secretsmanager', 'list-secrets'], consumer)).toMatch(/AccessDenied/);
    expect(await refusal(['ssm', 'get-parameters-by-path', '--path', '/token-rotator'], consumer)).toMatch(
      /AccessDenied/,
    );
  });

  it('answers a batch read with the public record only: the state comes back as AccessDeniedException', async () => {
    const { json } = await awsCli(
      [
        'secretsmanager',
        'batch-get-secret-value',
        '--secret-id-list',
        'token-rotator/tokens/hourly',
        'token-rotator/state/hourly@0',
      ],
      as('consumer'),
    );
    const answer = json as { SecretValues: { Name: string }[]; Errors: { SecretId: string; ErrorCode: string }[] };

    expect(answer.SecretValues.map((value) => value.Name)).toEqual(['token-rotator/tokens/hourly']);
    expect(answer.Errors).toEqual([
      expect.objectContaining({ SecretId: 'token-rotator/state/hourly@0', ErrorCode: 'AccessDeniedException' }),
    ]);
  });

  it("lets the project's own reader, with the consumer's keys, read both records", async () => {
    const env = as('consumer').env!;
    const store = storeAs({ accessKeyId: env['AWS_ACCESS_KEY_ID']!, secretAccessKey: env['AWS_SECRET_ACCESS_KEY']! });
    const reader = createTokenReader({ store, refreshMarginSeconds: 0 });
    try {
      expect((await reader.get('hourly')).accessToken).toBe(HOURLY.access_token);
      expect((await reader.get('short')).accessToken).toBe(SHORT.access_token);
    } finally {
      await store.close();
    }
  });

  it('refuses every write to a public record, in either place', async () => {
    const consumer = as('consumer');

    expect(
      await refusal(
        ['secretsmanager', 'put-secret-value', '--secret-id', 'token-rotator/tokens/hourly', '--secret-string', '{}'],
        consumer,
      ),
    ).toMatch(/AccessDenied/);
    expect(
      await refusal(
        ['ssm', 'put-parameter', '--name', '/token-rotator/tokens/short', '--value', '{}', '--overwrite'],
        consumer,
      ),
    ).toMatch(/AccessDenied/);
    expect(
      await refusal(['secretsmanager', 'delete-secret', '--secret-id', 'token-rotator/tokens/hourly'], consumer),
    ).toMatch(/AccessDenied/);
  });
});

describe('deploy/aws/rotator-policy.json, enforced by moto', () => {
  it('lets the store read, update and list every record it laid out', async () => {
    const env = as('rotator').env!;
    const store = storeAs({ accessKeyId: env['AWS_ACCESS_KEY_ID']!, secretAccessKey: env['AWS_SECRET_ACCESS_KEY']! });
    try {
      const hourly = await store.read('tokens/hourly', { writesPerDay: 46 });
      const short = await store.read('tokens/short', { writesPerDay: 233 });
      const state = await store.read('state/hourly', { writesPerDay: 92 });
      const heartbeat = await store.read('runner/heartbeat');
      expect(hourly?.value).toEqual(HOURLY);
      expect(short?.value).toEqual(SHORT);
      expect(state?.value).toMatchObject({ schema: 1 });

      await store.write('tokens/hourly', { ...HOURLY, generation: 2 }, hourly!.version, {
        usage: { writesPerDay: 46 },
      });
      await store.write('tokens/short', { ...SHORT, generation: 2 }, short!.version, { usage: { writesPerDay: 233 } });
      await store.write('state/hourly', { schema: 1 }, state!.version, { usage: { writesPerDay: 92 } });
      await store.write('runner/heartbeat', { last_pass_at: '2026-03-01T00:05:00.000Z' }, heartbeat!.version);

      expect((await store.read('tokens/hourly'))?.value).toMatchObject({ generation: 2 });
      expect((await store.read('tokens/short'))?.value).toMatchObject({ generation: 2 });
      expect(await store.list('')).toEqual(['runner/heartbeat', 'state/hourly', 'tokens/hourly', 'tokens/short']);
    } finally {
      await store.close();
    }
  });

  it('refuses the rotator anything outside its prefix', async () => {
    const rotator = as('rotator');

    expect(await refusal(['secretsmanager', 'get-secret-value', '--secret-id', 'another-app/db'], rotator)).toMatch(
      /AccessDenied/,
    );
    expect(await refusal(['ssm', 'get-parameter', '--name', '/another-app/db'], rotator)).toMatch(/AccessDenied/);
    expect(
      await refusal(['secretsmanager', 'delete-secret', '--secret-id', 'token-rotator/state/hourly@0'], rotator),
    ).toMatch(/AccessDenied/);
  });
});

describe('deploy/aws/revoke-policy.json added to the rotator policy, enforced by moto', () => {
  /** The store as the IAM user `user`. */
  const storeOf = (user: 'rotator' | 'revoker') => {
    const env = as(user).env!;
    return storeAs({ accessKeyId: env['AWS_ACCESS_KEY_ID']!, secretAccessKey: env['AWS_SECRET_ACCESS_KEY']! });
  };

  it("refuses the rotator policy alone the removal of a provider's state (not retryable), which stays readable", async () => {
    const rotator = storeOf('rotator');
    try {
      await rotator.write('state/refused', { schema: 1, refresh_token: 'rt-refused' }, null, {
        usage: { writesPerDay: 92 },
      });

      const error = await rotator.remove('state/refused').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ retryable: false });
      // AWS answers AccessDeniedException; moto, an XML 403 the SDK cannot parse: either is access denied.
      expect((error as Error).message).toMatch(
        /DeleteSecret failed for secret token-rotator\/state\/refused@0 \(.*(?:AccessDenied|access denied)/,
      );
      expect((error as Error).message).not.toContain('rt-refused');
      expect((await rotator.read('state/refused'))?.value).toEqual({ schema: 1, refresh_token: 'rt-refused' });
    } finally {
      await rotator.close();
    }
  });

  it("lets a principal holding both remove a provider's records, its public record in either place and its state", async () => {
    const rotator = storeOf('rotator');
    const revoker = storeOf('revoker');
    try {
      await rotator.write('tokens/gone', publicRecord('gone'), null, { usage: { writesPerDay: 46 } });
      await rotator.write('tokens/gone-short', publicRecord('gone-short'), null, { usage: { writesPerDay: 233 } });
      await rotator.write('state/gone', { schema: 1 }, null, { usage: { writesPerDay: 466 } });

      for (const path of ['tokens/gone', 'tokens/gone-short', 'state/gone']) {
        expect(await revoker.remove(path), path).toBe(true);
        expect(await revoker.read(path), path).toBeUndefined();
      }
      const left = await revoker.list('');
      for (const path of ['tokens/gone', 'tokens/gone-short', 'state/gone']) expect(left).not.toContain(path);
      expect(left).toEqual(expect.arrayContaining(['state/hourly', 'tokens/hourly', 'tokens/short']));
    } finally {
      await rotator.close();
      await revoker.close();
    }
  });
});
