/**
 * How the AWS store turns an SDK exception into a {@link StoreError}: the call, the
 * secret or parameter, the exception's name, the HTTP status and the system error code,
 * never the exception's message (it may quote the request).
 */
import { RotatorError, StoreError } from '../../errors.js';
import { systemErrorCode } from '../contract.js';
import { explainCredentials } from '../shared/aws-credentials.js';

/**
 * Exceptions that repeating the same call cannot fix: denied by IAM or by the KMS key,
 * unknown or expired credentials, a request the service refuses as malformed, a secret
 * marked for deletion (`InvalidRequestException`), a parameter value over its tier's
 * limit. Throttling, 5xx and network errors are not here: the SDK retries those itself,
 * and the engine may again later.
 */
const PERMANENT_EXCEPTIONS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'EncryptionFailure',
  'DecryptionFailure',
  'InvalidParameterException',
  'InvalidRequestException',
  'ValidationException',
  'MalformedPolicyDocumentException',
  'InvalidKeyId',
  'ParameterPatternMismatchException',
  'HierarchyLevelLimitExceededException',
  'HierarchyTypeMismatchException',
  'ParameterMaxVersionLimitExceeded',
  'UnsupportedParameterType',
]);

/** True when `error` is the service exception `name`. */
export function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

/**
 * A StoreError naming the service call and the resource, the exception's name, the HTTP
 * status and the system error code (`ECONNREFUSED`); for missing credentials, where the
 * SDK's chain looked. Not retryable for a 403 or a {@link PERMANENT_EXCEPTIONS} name.
 * @example failure('Secrets Manager', 'GetSecretValue', 'secret token-rotator/tokens/a', error)
 */
export function failure(service: string, operation: string, resource: string, error: unknown): RotatorError {
  if (error instanceof RotatorError) return error;
  const exception = error instanceof Error && error.name !== 'Error' ? error.name : undefined;
  const status = httpStatusOf(error);
  const code = systemErrorCode(error);
  const details = [
    explainCredentials(error) ?? exception,
    status === undefined ? undefined : `HTTP ${status}`,
    code,
  ].filter((part) => part !== undefined);
  const denied = status === 403 || (exception !== undefined && PERMANENT_EXCEPTIONS.has(exception));
  const reason = details.length === 0 ? '' : ` (${details.join(', ')}${status === 403 ? ': access denied' : ''})`;
  return new StoreError(`${service} ${operation} failed for ${resource}${reason}`, {
    cause: error,
    retryable: !denied,
  });
}

/** The HTTP status of an SDK error's response, when one came. */
function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}
