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
  getSecretValue(
    input: GetSecretValueCommandInput,
  ): Promise<{ VersionId?: string | undefined; SecretString?: string | undefined }>;
  describeSecret(
    input: DescribeSecretCommandInput,
  ): Promise<{ VersionIdsToStages?: Record<string, string[]> | undefined }>;
  createSecret(input: CreateSecretCommandInput): Promise<{ VersionId?: string | undefined }>;
  putSecretValue(input: PutSecretValueCommandInput): Promise<{ VersionId?: string | undefined }>;
  updateSecretVersionStage(input: UpdateSecretVersionStageCommandInput): Promise<unknown>;
  listSecrets(
    input: ListSecretsCommandInput,
  ): Promise<{ SecretList?: readonly { Name?: string | undefined }[] | undefined; NextToken?: string | undefined }>;
  /** Closes the client's sockets. */
  destroy(): void;
}

/** How long one attempt waits for a connection to open. */
export const CONNECTION_TIMEOUT_MS = 5_000;
/** How long one attempt waits for an answer once connected (a hung server, a stalled socket). */
export const REQUEST_TIMEOUT_MS = 15_000;

/** Options of {@link sdkSecretsManager} beyond the store's config. */
export interface SdkSecretsManagerOptions {
  /** {@link CONNECTION_TIMEOUT_MS} by default. */
  readonly connectionTimeoutMs?: number;
  /** {@link REQUEST_TIMEOUT_MS} by default; tests shorten it to see a hung server fail quickly. */
  readonly requestTimeoutMs?: number;
  /** Used instead of the SDK's standard credential chain (a second principal in a test). */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
}

/**
 * Builds the SDK client from the store's config: the standard credential chain, the
 * configured or default region, and the SDK's standard retry strategy with
 * `max_attempts`, which backs off on throttling and 5xx. Nothing above retries again.
 */
export function sdkSecretsManager(
  config: Pick<AwsStoreConfig, 'region' | 'endpoint' | 'max_attempts'>,
  options: SdkSecretsManagerOptions = {},
): SecretsManagerApi {
  // The SDK is loaded on the first call, so runs on other stores never pay for it.
  let loaded:
    | Promise<{ sdk: typeof import('@aws-sdk/client-secrets-manager'); client: SecretsManagerClient }>
    | undefined;
  let destroyed = false;
  const load = () =>
    (loaded ??= import('@aws-sdk/client-secrets-manager').then((sdk) => ({
      sdk,
      client: new sdk.SecretsManagerClient({
        ...(config.region === undefined ? {} : { region: config.region }),
        ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
        maxAttempts: config.max_attempts,
        ...(options.credentials === undefined ? {} : { credentials: { ...options.credentials } }),
        retryMode: 'standard',
        // A hung connection must not hold a lease until it expires.
        requestHandler: {
          connectionTimeout: options.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
          requestTimeout: options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
          // Without it, @smithy/node-http-handler 4 only logs a warning when the request
          // timeout passes, and a call to a hung server waits forever.
          throwOnRequestTimeout: true,
        },
      }),
    })));
  const send = async <T>(
    call: (sdk: typeof import('@aws-sdk/client-secrets-manager'), client: SecretsManagerClient) => Promise<T>,
  ) => {
    if (destroyed) throw new Error('the Secrets Manager client is closed');
    const { sdk, client } = await load();
    return call(sdk, client);
  };
  return {
    getSecretValue: (input) => send((sdk, client) => client.send(new sdk.GetSecretValueCommand(input))),
    describeSecret: (input) => send((sdk, client) => client.send(new sdk.DescribeSecretCommand(input))),
    createSecret: (input) => send((sdk, client) => client.send(new sdk.CreateSecretCommand(input))),
    putSecretValue: (input) => send((sdk, client) => client.send(new sdk.PutSecretValueCommand(input))),
    updateSecretVersionStage: (input) =>
      send((sdk, client) => client.send(new sdk.UpdateSecretVersionStageCommand(input))),
    listSecrets: (input) => send((sdk, client) => client.send(new sdk.ListSecretsCommand(input))),
    destroy: () => {
      destroyed = true;
      void loaded?.then(({ client }) => client.destroy());
    },
  };
}
