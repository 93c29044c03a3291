/**
 * The few Secrets Manager and SSM Parameter Store calls the store makes, behind narrow
 * interfaces so the compare-and-set logic above them can be unit-tested with a fake, and
 * one adapter each: the Secrets Manager SDK client, and a thin SSM client of our own
 * (`ssm.ts`) that borrows that client's chains. Each is loaded on its first call, so a
 * run that never needs it (another store, or no short-lived token) never pays for it.
 */
import type {
  BatchGetSecretValueCommandInput,
  CreateSecretCommandInput,
  DeleteSecretCommandInput,
  DescribeSecretCommandInput,
  GetSecretValueCommandInput,
  ListSecretsCommandInput,
  PutSecretValueCommandInput,
  SecretsManagerClient,
  UpdateSecretVersionStageCommandInput,
} from '@aws-sdk/client-secrets-manager';
import type { AwsStoreConfig } from './schema.js';
import type {
  DeleteParameterInput,
  GetParameterInput,
  GetParametersByPathInput,
  PutParameterInput,
  ThinSsmClient,
} from './ssm.js';

/**
 * The Secrets Manager operations {@link AwsSecretsStore} uses. Failures are thrown as the
 * SDK throws them: an error whose `name` is the service's exception name
 * (`ResourceNotFoundException`, `ResourceExistsException`, `InvalidParameterException`…).
 */
export interface SecretsManagerApi {
  getSecretValue(
    input: GetSecretValueCommandInput,
  ): Promise<{ VersionId?: string | undefined; SecretString?: string | undefined; CreatedDate?: Date | undefined }>;
  /** Up to 20 secrets' `AWSCURRENT` values in one call; a secret that is missing is in `Errors`. */
  batchGetSecretValue(input: BatchGetSecretValueCommandInput): Promise<{
    SecretValues?:
      | readonly {
          Name?: string | undefined;
          VersionId?: string | undefined;
          SecretString?: string | undefined;
          CreatedDate?: Date | undefined;
        }[]
      | undefined;
    Errors?:
      | readonly { SecretId?: string | undefined; ErrorCode?: string | undefined; Message?: string | undefined }[]
      | undefined;
  }>;
  deleteSecret(input: DeleteSecretCommandInput): Promise<unknown>;
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
  let loaded: Promise<{ sdk: typeof import('./sdk.js'); client: SecretsManagerClient }> | undefined;
  let destroyed = false;
  const load = () =>
    (loaded ??= import('./sdk.js').then((sdk) => ({
      sdk,
      client: new sdk.SecretsManagerClient(clientConfig(config, config.endpoint, options)),
    })));
  const send = async <T>(call: (sdk: typeof import('./sdk.js'), client: SecretsManagerClient) => Promise<T>) => {
    if (destroyed) throw new Error('the Secrets Manager client is closed');
    const { sdk, client } = await load();
    return call(sdk, client);
  };
  return {
    getSecretValue: (input) => send((sdk, client) => client.send(new sdk.GetSecretValueCommand(input))),
    batchGetSecretValue: (input) => send((sdk, client) => client.send(new sdk.BatchGetSecretValueCommand(input))),
    deleteSecret: (input) => send((sdk, client) => client.send(new sdk.DeleteSecretCommand(input))),
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

/**
 * The SSM Parameter Store operations the store uses for records written too often for one
 * secret. Failures are thrown as the SDK would throw them (`ParameterNotFound`,
 * `ParameterAlreadyExists`, `AccessDeniedException`…).
 */
export interface ParameterStoreApi {
  getParameter(input: GetParameterInput): Promise<{
    Parameter?:
      | { Value?: string | undefined; Version?: number | undefined; LastModifiedDate?: Date | undefined }
      | undefined;
  }>;
  putParameter(input: PutParameterInput): Promise<{ Version?: number | undefined }>;
  deleteParameter(input: DeleteParameterInput): Promise<unknown>;
  getParametersByPath(input: GetParametersByPathInput): Promise<{
    Parameters?: readonly { Name?: string | undefined }[] | undefined;
    NextToken?: string | undefined;
  }>;
  /** Closes the client's sockets. */
  destroy(): void;
}

/**
 * Builds the SSM client from the store's config, with the same credential and region
 * chains, retry strategy and timeouts as {@link sdkSecretsManager}: a
 * {@link ThinSsmClient} (four JSON calls, signed with Signature V4) that borrows the
 * resolved config of a Secrets Manager client built from the same settings, instead of
 * `@aws-sdk/client-ssm`.
 */
export function sdkParameterStore(
  config: Pick<AwsStoreConfig, 'region' | 'ssm_endpoint' | 'max_attempts'>,
  options: SdkSecretsManagerOptions = {},
): ParameterStoreApi {
  let loaded: Promise<ThinSsmClient> | undefined;
  let destroyed = false;
  const load = () =>
    (loaded ??= Promise.all([import('./sdk.js'), import('./ssm.js')]).then(
      ([sdk, { ThinSsmClient }]) =>
        new ThinSsmClient(new sdk.SecretsManagerClient(clientConfig(config, undefined, options)), config.ssm_endpoint),
    ));
  const send = async <T>(call: (client: ThinSsmClient) => Promise<T>) => {
    if (destroyed) throw new Error('the SSM client is closed');
    return call(await load());
  };
  return {
    getParameter: (input) => send((client) => client.getParameter(input)),
    putParameter: (input) => send((client) => client.putParameter(input)),
    deleteParameter: (input) => send((client) => client.deleteParameter(input)),
    getParametersByPath: (input) => send((client) => client.getParametersByPath(input)),
    destroy: () => {
      destroyed = true;
      void loaded?.then((client) => client.destroy());
    },
  };
}

/** The settings of the Secrets Manager client, which the SSM client borrows too. */
function clientConfig(
  config: Pick<AwsStoreConfig, 'region' | 'max_attempts'>,
  endpoint: string | undefined,
  options: SdkSecretsManagerOptions,
) {
  return {
    ...(config.region === undefined ? {} : { region: config.region }),
    ...(endpoint === undefined ? {} : { endpoint }),
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
  };
}
