/**
 * The part of `@aws-sdk/client-secrets-manager` the project uses: the client and the
 * commands the store sends. `client.ts` imports this module on demand rather than the
 * package itself: a bundler cannot drop anything from a package imported as a whole
 * namespace by `import()`, so the Lambda bundle carried every command, paginator and
 * waiter of the service; through this module it keeps only these.
 */
export {
  BatchGetSecretValueCommand,
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
