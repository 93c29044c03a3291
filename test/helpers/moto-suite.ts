import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, vi } from 'vitest';
import type { AwsStore } from '../../src/stores/aws/index.js';
import { MOTO_ENV, type Moto, startMoto } from './moto.js';

/** What {@link useMoto} gives a test file; `moto`, `raw` and `ssm` are set once `beforeAll` ran. */
export interface MotoSuite {
  readonly moto: Moto;
  /** A plain Secrets Manager client on moto, to look behind the store. */
  readonly raw: SecretsManagerClient;
  /** A plain SSM client on moto, to look behind the store. */
  readonly ssm: SSMClient;
  /** The stores the file opened: closed after its last test. */
  readonly opened: AwsStore[];
  /** Whether moto holds the secret `name` (one scheduled for deletion counts). */
  secretExists(name: string): Promise<boolean>;
  /** Whether moto holds the parameter `name`. */
  parameterExists(name: string): Promise<boolean>;
}

/** `true` once `call` succeeds, `false` when it fails with the error named `missing`. */
function exists(call: Promise<unknown>, missing: string): Promise<boolean> {
  return call.then(
    () => true,
    (error: unknown) => {
      if ((error as Error).name === missing) return false;
      throw error;
    },
  );
}

/**
 * Starts moto for the test file, points the SDK's standard environment at fake credentials
 * ({@link MOTO_ENV}), opens plain clients on it, and stops everything after the last test.
 */
export function useMoto(): MotoSuite {
  const suite = {
    opened: [] as AwsStore[],
    secretExists: (name: string) =>
      exists(suite.raw.send(new DescribeSecretCommand({ SecretId: name })), 'ResourceNotFoundException'),
    parameterExists: (name: string) =>
      exists(suite.ssm.send(new GetParameterCommand({ Name: name })), 'ParameterNotFound'),
  } as MotoSuite & { moto: Moto; raw: SecretsManagerClient; ssm: SSMClient };
  beforeAll(async () => {
    for (const [key, value] of Object.entries(MOTO_ENV)) vi.stubEnv(key, value);
    suite.moto = await startMoto();
    const client = {
      endpoint: suite.moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    };
    suite.raw = new SecretsManagerClient(client);
    suite.ssm = new SSMClient(client);
  });
  afterAll(async () => {
    await Promise.all(suite.opened.map((store) => store.close()));
    suite.raw?.destroy();
    suite.ssm?.destroy();
    await suite.moto?.stop();
    vi.unstubAllEnvs();
  });
  return suite;
}
