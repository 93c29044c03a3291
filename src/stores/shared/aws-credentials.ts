/**
 * What to say when the AWS SDK finds no credentials. Its `CredentialsProviderError` names
 * no source; the runner's operator needs to know where the chain looked and what to give
 * it. The text is fixed: it never quotes the SDK's message, a profile or a key.
 *
 * @see https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/setting-credentials-node.html
 */

/** The name of the SDK's exception when its credential chain gave no credentials. */
export const CREDENTIALS_PROVIDER_ERROR = 'CredentialsProviderError';

/**
 * Where the SDK looks, and what to do about it. The Lambda bundle looks only in the first
 * two places (src/runtimes/lambda-credentials.ts), the CLI and daemon in all of them.
 */
export const NO_CREDENTIALS_HELP =
  'the AWS SDK found no credentials where it looks: the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), ' +
  'the container endpoint (AWS_CONTAINER_CREDENTIALS_FULL_URI or AWS_CONTAINER_CREDENTIALS_RELATIVE_URI), ' +
  'and outside a Lambda function the shared files (~/.aws/credentials and ~/.aws/config, AWS_PROFILE), ' +
  'web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN), EC2 instance metadata; ' +
  'give the runner one of them, such as an IAM role where it runs';

/**
 * `CredentialsProviderError: <where the chain looked>` for the SDK's missing-credentials
 * exception, else `undefined`.
 * @example
 * const reason = explainCredentials(error) ?? error.name;
 */
export function explainCredentials(error: unknown): string | undefined {
  return error instanceof Error && error.name === CREDENTIALS_PROVIDER_ERROR
    ? `${CREDENTIALS_PROVIDER_ERROR}: ${NO_CREDENTIALS_HELP}`
    : undefined;
}
