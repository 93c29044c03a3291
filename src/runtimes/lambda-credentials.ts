/**
 * The AWS credential chain of the Lambda bundle, in place of the SDK's default chain
 * (`@aws-sdk/credential-provider-node`): `scripts/lambda-esbuild.mjs` aliases that package
 * to this module, so the Secrets Manager client, the SSM calls and Vault's AWS login all
 * take their credentials from here inside a function, and from the full default chain
 * everywhere else.
 *
 * A function gets its execution role's credentials in one of two ways, and this chain
 * reads both, in the default chain's order:
 * 1. the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`),
 *    which the Lambda runtime sets in every ordinary execution environment;
 * 2. the container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` and its
 *    authorization token), which Lambda uses where an environment outlives one set of
 *    keys, such as SnapStart.
 *
 * What the default chain adds (shared config files and profiles, SSO, `credential_process`,
 * web identity, EC2 instance metadata) has no source inside a function; it is 131 KiB of
 * the bundle, and about 8 ms of every cold start's import, to look for it.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html
 */
import { fromEnv } from '@aws-sdk/credential-provider-env';
import { fromHttp } from '@aws-sdk/credential-provider-http';
import { chain, memoize } from '@smithy/core/config';

/** Credentials this close to their expiry are fetched again, as the default chain does. */
export const REFRESH_BEFORE_EXPIRY_MS = 5 * 60 * 1000;

/** What the SDK passes to its default provider (the client's config); each source reads the options it knows. */
export type CredentialsInit = Parameters<typeof fromEnv>[0] & Parameters<typeof fromHttp>[0];

/** A credential provider, as the SDK's are typed. */
type Provider = ReturnType<typeof fromEnv>;
type Credentials = Awaited<ReturnType<Provider>>;

const expiring = (credentials: Credentials) =>
  credentials.expiration !== undefined && credentials.expiration.getTime() - Date.now() < REFRESH_BEFORE_EXPIRY_MS;
const expires = (credentials: Credentials) => credentials.expiration !== undefined;

/**
 * The environment, then the container endpoint; credentials are kept until 5 minutes
 * before they expire. When neither source is set, it rejects with the SDK's
 * `CredentialsProviderError`, as the default chain does.
 * @example
 * const credentials = await defaultProvider()();
 */
export function defaultProvider(init: CredentialsInit = {}): Provider {
  // fromHttp throws at once when no endpoint is configured: built on demand, so that
  // error is the chain's last link and not a throw here.
  return memoize(
    chain(fromEnv(init), async () => fromHttp(init)()),
    expiring,
    expires,
  );
}
