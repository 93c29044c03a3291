/**
 * The few Secrets Manager calls the store makes, behind a narrow interface so the
 * compare-and-set logic above it can be unit-tested with a fake, and one adapter onto
 * the real SDK client.
 */
import type {
  CreateSecretCommandInput,
  DescribeSecretCommandInput,
  GetSecretValueCommandInput,
  ListSecretsCommandInput,
  PutSecretValueCommandInput,
  SecretsManagerClient,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import type { AwsStoreConfig } from './schema.js';

/**
 * The Secrets Manager operations {@link AwsSecretsStore} uses. Failures are thrown as the
 * SDK throws them: an error whose `name` is the service's exception name
 * (`ResourceNotFoundException`, `ResourceExistsException`, `InvalidParameterException`…).
 */
export interface SecretsManagerApi {
  getSecretValue(input: GetSecretValueCommandInput): Promise<{ VersionId?: string | undefined; SecretString?: string | undefined }>;
  describeSecret(input: DescribeSecretCommandInput): Promise<{ VersionIdsToStages?: Record<string, string[]> | undefined }>;
  createSecret(input: CreateSecretCommandInput): Promise<{ VersionId?: string | undefined }>;
  putSecretValue(input: PutSecretValueCommandInput): Promise<{ VersionId?: string | undefined }>;
  updateSecretVersionStage(input: UpdateSecretVersionStageCommandInput): Promise<unknown>;
  listSecrets(
    input: ListSecretsCommandInput,
  ): Promise<{ SecretList?: readonly { Name?: string | undefined }[] | undefined; NextToken?: string | undefined }>;
  /** Closes the client's sockets. */
  destroy(): void;
}

/**
 * Builds the SDK client from the store's config: the standard credential chain, the
 * configured or default region, and the SDK's standard retry strategy with
 * `max_attempts`, which backs off on throttling and 5xx. Nothing above retries again.
 */
export function sdkSecretsManager(config: Pick<AwsStoreConfig, 'region' | 'endpoint' | 'max_attempts'>): SecretsManagerApi {
  // The SDK is loaded on the first call, so runs on other stores never pay for it.
  let loaded: Promise<{ sdk: typeof import('@aws-sdk/client-secrets-manager'); client: SecretsManagerClient }> | undefined;
  let destroyed = false;
  const load = () =>
    (loaded ??= import('@aws-sdk/client-secrets-manager').then((sdk) => ({
      sdk,
      client: new sdk.SecretsManagerClient({
        ...(config.region === undefined ? {} : { region: config.region }),
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        maxAttempts: config.max_attempts,
        retryMode: 'standard',
        // A hung connection must not hold a lease until it expires.
        requestHandler: { connectionTimeout: 5_000, requestTimeout: 15_000 },
      }),
    })));
  const send = async <T>(call: (sdk: typeof import('@aws-sdk/client-secrets-manager'), client: SecretsManagerClient) => Promise<T>) => {
    if (destroyed) throw new Error('the Secrets Manager client is closed');
    const { sdk, client } = await load();
    return call(sdk, client);
  };
  return {
    getSecretValue: (input) => send((sdk, client) => client.send(new sdk.GetSecretValueCommand(input))),
    describeSecret: (input) => send((sdk, client) => client.send(new sdk.DescribeSecretCommand(input))),
    createSecret: (input) => send((sdk, client) => client.send(new sdk.CreateSecretCommand(input))),
    putSecretValue: (input) => send((sdk, client) => client.send(new sdk.PutSecretValueCommand(input))),
    updateSecretVersionStage: (input) => send((sdk, client) => client.send(new sdk.UpdateSecretVersionStageCommand(input))),
    listSecrets: (input) => send((sdk, client) => client.send(new sdk.ListSecretsCommand(input))),
    destroy: () => {
      destroyed = true;
      void loaded?.then(({ client }) => client.destroy());
    },
  };
}
