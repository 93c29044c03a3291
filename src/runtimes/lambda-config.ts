/**
 * Where the Lambda finds its config. A function has no command line, so the config
 * comes from its environment, its bundle or Secrets Manager, in this order:
 *
 * 1. `TOKEN_ROTATOR_CONFIG`: the config text itself (YAML or JSON). Unlike the CLI,
 *    where this variable names a file: a Lambda's environment is where small text lives.
 * 2. `TOKEN_ROTATOR_CONFIG_FILE`: a path to a config file.
 * 3. `TOKEN_ROTATOR_CONFIG_SECRET`: the id (name or ARN) of a Secrets Manager secret whose
 *    string is the config, so it can change without a redeploy.
 * 4. Otherwise `config.yaml` beside the bundle (the deployment package).
 *
 * Empty variables count as unset, so a deployment template can leave one blank. Whatever
 * the source, credentials in the config stay references (`${env:…}`, `${store:…}`).
 */
import { join } from 'node:path';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { type LoadedConfig, loadConfig, parseConfig } from '../config/load.js';
import { ConfigError } from '../errors.js';
import { explainCredentials } from '../stores/shared/aws-credentials.js';

/** The environment variables the Lambda reads its config from, in order of precedence. */
export const CONFIG_ENV = {
  text: 'TOKEN_ROTATOR_CONFIG',
  file: 'TOKEN_ROTATOR_CONFIG_FILE',
  secret: 'TOKEN_ROTATOR_CONFIG_SECRET',
} as const;

/** The file read when no variable names a source, in the bundle's directory. */
export const DEFAULT_LAMBDA_CONFIG_FILE = 'config.yaml';

/** Where a config came from, for the cold-start log line. */
export type ConfigSource =
  | { readonly kind: 'env'; readonly name: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'secret'; readonly id: string };

/** Reads a Secrets Manager secret's string. */
export type SecretReader = (id: string) => Promise<string>;

/** Options of {@link loadLambdaConfig}. */
export interface LambdaConfigOptions {
  readonly env: NodeJS.ProcessEnv;
  /** The bundle's directory, where the default `config.yaml` sits. */
  readonly bundleDir: string;
  /** Default: {@link readSecretString}, through the SDK's standard chains. */
  readonly readSecret?: SecretReader;
}

const set = (env: NodeJS.ProcessEnv, name: string): string | undefined => {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
};

/** Chooses the config source from the environment, without reading anything. */
export function configSource(env: NodeJS.ProcessEnv, bundleDir: string): ConfigSource {
  if (set(env, CONFIG_ENV.text) !== undefined) return { kind: 'env', name: CONFIG_ENV.text };
  const file = set(env, CONFIG_ENV.file);
  if (file !== undefined) return { kind: 'file', path: file };
  const secret = set(env, CONFIG_ENV.secret);
  if (secret !== undefined) return { kind: 'secret', id: secret.trim() };
  return { kind: 'file', path: join(bundleDir, DEFAULT_LAMBDA_CONFIG_FILE) };
}

/**
 * Reads a secret's `SecretString` with the SDK's standard credential, region and endpoint
 * chains (`AWS_REGION`; `AWS_ENDPOINT_URL_SECRETS_MANAGER` for a local endpoint).
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 */
export async function readSecretString(id: string): Promise<string> {
  const client = new SecretsManagerClient({});
  try {
    const output = await client.send(new GetSecretValueCommand({ SecretId: id }));
    if (output.SecretString === undefined)
      throw new ConfigError([{ path: '', message: `config secret ${id} holds no text (SecretString)` }]);
    return output.SecretString;
  } finally {
    client.destroy();
  }
}

const looksLikePath = (text: string) => /^[^\n:{]+\.(?:ya?ml|json)\s*$/.test(text.trim());

/**
 * Loads the config from the first source that is set, checked as the CLI checks a file:
 * a malformed config throws a {@link ConfigError} naming each field, before any store
 * exists.
 * @example
 * const { loaded, source } = await loadLambdaConfig({ env: process.env, bundleDir: '/var/task' });
 */
export async function loadLambdaConfig(
  options: LambdaConfigOptions,
): Promise<{ loaded: LoadedConfig; source: ConfigSource }> {
  const { env } = options;
  const source = configSource(env, options.bundleDir);
  switch (source.kind) {
    case 'env': {
      const text = env[source.name] ?? '';
      if (looksLikePath(text)) {
        throw new ConfigError([
          {
            path: '',
            message: `${source.name} holds the config text itself in Lambda, not a path; set ${CONFIG_ENV.file} to read a file`,
          },
        ]);
      }
      return { loaded: await parseConfig(text, source.name, env), source };
    }
    case 'file':
      return { loaded: await loadConfig(source.path, env), source };
    case 'secret': {
      let text: string;
      try {
        text = await (options.readSecret ?? readSecretString)(source.id);
      } catch (error) {
        if (error instanceof ConfigError) throw error;
        // The exception's name only: SDK messages may quote request details.
        const name =
          explainCredentials(error) ?? (error instanceof Error && error.name !== 'Error' ? error.name : 'error');
        throw new ConfigError([{ path: '', message: `cannot read config secret ${source.id} (${name})` }], {
          cause: error,
        });
      }
      return { loaded: await parseConfig(text, `secret ${source.id}`, env), source };
    }
  }
}

/**
 * Refuses a store whose records would not outlive the function: `file` writes to the
 * function's disk, which is discarded with its execution environment (and `/tmp` is the
 * only writable place), so tokens, refresh tokens and leases would be lost and each cold
 * start would rotate again, spending vendor logins and refresh tokens.
 * @throws {ConfigError} naming `store.kind` for the file store.
 * @see https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html
 */
export function assertLambdaStore(loaded: Pick<LoadedConfig, 'store'>): void {
  if (loaded.store.kind !== 'file') return;
  throw new ConfigError([
    {
      path: 'store.kind',
      message:
        '"file" cannot be used in AWS Lambda: the function\'s disk does not outlive its execution environment, so tokens and leases would be lost; use "aws" (Secrets Manager) or "vault"',
    },
  ]);
}
