/**
 * What the AWS store says when the SDK's credential chain finds nothing: the real SDK
 * against moto, with no credentials anywhere the chain looks (no environment variables,
 * empty shared files, no web identity or container endpoint, EC2 metadata disabled).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { loadLambdaConfig } from '../../src/runtimes/lambda-config.js';
import { createAwsStore } from '../../src/stores/aws/index.js';
import { type Moto, startMoto } from '../helpers/moto.js';

let moto: Moto;
let dir: string;

/** Every variable the SDK's default chain reads credentials or a profile from. */
const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_CREDENTIAL_EXPIRATION',
  'AWS_PROFILE',
  'AWS_DEFAULT_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-aws-nocreds-'));
  await writeFile(join(dir, 'credentials'), '');
  await writeFile(join(dir, 'config'), '');
  for (const name of CREDENTIAL_VARIABLES) vi.stubEnv(name, undefined);
  vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'credentials'));
  vi.stubEnv('AWS_CONFIG_FILE', join(dir, 'config'));
  vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
  vi.stubEnv('AWS_REGION', 'us-east-1');
  moto = await startMoto();
});

afterAll(async () => {
  await moto?.stop();
  vi.unstubAllEnvs();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** What every message about a missing chain must say: what failed and where to put credentials. */
const EXPLAINS_CHAIN = new RegExp(
  [
    'CredentialsProviderError: the AWS SDK found no credentials where it looks: ',
    'the environment \\(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY\\), ',
    'the container endpoint \\(AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI\\), ',
    'and outside a Lambda function the shared files \\(~/\\.aws/credentials and ~/\\.aws/config, AWS_PROFILE\\), ',
    'web identity \\(AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN\\), EC2 instance metadata; ',
    'give the runner one of them, such as an IAM role where it runs\\)',
  ].join(''),
);

describe('AwsStore without credentials', () => {
  it('fails a read with a StoreError that says the SDK found no credentials and where it looked', async () => {
    const store = createAwsStore({
      kind: 'aws',
      prefix: 'no-credentials/',
      region: 'us-east-1',
      endpoint: moto.endpoint,
      max_attempts: 1,
    });

    // An hour token's public record: its one secret.
    const error = await store.read('tokens/a', { writesPerDay: 46 }).catch((e: unknown) => e);
    await store.close();

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(
      /^Secrets Manager \w+ failed for secret no-credentials\/tokens\/a \(/,
    );
    expect((error as StoreError).message).toMatch(EXPLAINS_CHAIN);
  });

  it('fails a read from Parameter Store the same way, naming the parameter', async () => {
    const store = createAwsStore({
      kind: 'aws',
      prefix: 'no-credentials/',
      region: 'us-east-1',
      endpoint: moto.endpoint,
      max_attempts: 1,
    });

    // A 900 s token's public record: a parameter.
    const error = await store.read('tokens/a', { writesPerDay: 233 }).catch((e: unknown) => e);
    await store.close();

    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toMatch(
      /^SSM GetParameter failed for parameter \/no-credentials\/tokens\/a \(/,
    );
    expect((error as StoreError).message).toMatch(EXPLAINS_CHAIN);
  });

  it('fails a write the same way, before anything is stored', async () => {
    const store = createAwsStore({
      kind: 'aws',
      prefix: 'no-credentials/',
      region: 'us-east-1',
      endpoint: moto.endpoint,
      max_attempts: 1,
    });

    const error = await store.write('tokens/a', { n: 1 }, null).catch((e: unknown) => e);
    await store.close();

    expect((error as StoreError).message).toMatch(EXPLAINS_CHAIN);
  });
});

describe('the Lambda config secret without credentials', () => {
  it('says the SDK found no credentials and where it looked', async () => {
    vi.stubEnv('AWS_ENDPOINT_URL_SECRETS_MANAGER', moto.endpoint);

    const error = await loadLambdaConfig({
      env: { TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config' },
      bundleDir: dir,
    }).catch((e: unknown) => e);

    expect((error as Error).message).toMatch(/^cannot read config secret token-rotator\/config \(/);
    expect((error as Error).message).toMatch(EXPLAINS_CHAIN);
  });
});
