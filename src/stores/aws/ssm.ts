/**
 * A thin SSM Parameter Store client for the four calls the store makes (`GetParameter`,
 * `PutParameter`, `DeleteParameter`, `GetParametersByPath`), in place of
 * `@aws-sdk/client-ssm`: that client is 237 KiB of the Lambda bundle for four JSON
 * requests.
 *
 * It speaks the AWS JSON 1.1 protocol (`POST /`, `X-Amz-Target: AmazonSSM.<Op>`), signed
 * with Signature V4, and borrows everything else from a Secrets Manager client built with
 * the store's settings, so both services are reached alike: the SDK's credential chain,
 * its region chain, its HTTP handler with the store's timeouts, and its standard retry
 * strategy with `max_attempts` (throttling, transient network errors and 500/502/503/504
 * retried, with the SDK's backoff and retry quota). Errors are thrown as the SDK throws
 * them: an `Error` whose `name` is the service's exception (`ParameterNotFound`,
 * `ParameterAlreadyExists`, `AccessDeniedException`…) with `$metadata.httpStatusCode`,
 * and network errors as Node raises them (`code: 'ECONNREFUSED'`), so
 * {@link failure} classifies them as before.
 *
 * The endpoint is `ssm_endpoint` when set, else the one configured for SSM as the SDK
 * finds it (`AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL`, the shared config file's
 * `services` section or `endpoint_url`, unless `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`),
 * else the region's public endpoint (FIPS and dual-stack as the SDK's settings say).
 *
 * @see https://docs.aws.amazon.com/systems-manager/latest/APIReference/Welcome.html
 * @see https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html
 * @see https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html
 */
// Static imports: this module is itself imported on demand (client.ts), and named
// imports let a bundler keep only what is used, where `import()` keeps a whole namespace.
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { loadConfig } from '@smithy/core/config';
import { SignatureV4 } from '@smithy/signature-v4';

/** A parameter as `GetParameter` returns it (the fields the store reads). */
export interface SsmParameter {
  readonly Name?: string | undefined;
  readonly Value?: string | undefined;
  readonly Version?: number | undefined;
  readonly LastModifiedDate?: Date | undefined;
}

/** The `GetParameter` request. */
export interface GetParameterInput {
  readonly Name: string;
  readonly WithDecryption?: boolean;
}

/** The `PutParameter` request (the fields the store sends). */
export interface PutParameterInput {
  readonly Name: string;
  readonly Value: string;
  readonly Type?: 'String' | 'SecureString' | 'StringList';
  readonly Tier?: 'Standard' | 'Advanced' | 'Intelligent-Tiering';
  readonly KeyId?: string;
  readonly Overwrite?: boolean;
  Tags?: { Key: string; Value: string }[];
}

/** The `DeleteParameter` request. */
export interface DeleteParameterInput {
  readonly Name: string;
}

/** The `GetParametersByPath` request. */
export interface GetParametersByPathInput {
  readonly Path: string;
  readonly Recursive?: boolean;
  readonly WithDecryption?: boolean;
  readonly NextToken?: string;
  readonly MaxResults?: number;
}

/** What the SDK puts on a service exception, and this client too. */
interface ServiceErrorFields {
  $fault: 'client' | 'server';
  $metadata: {
    httpStatusCode?: number;
    requestId?: string;
    attempts?: number;
    totalRetryDelay?: number;
  };
}

/** The exception names the SDK's standard retry strategy treats as throttling. */
const THROTTLING = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
]);
const TRANSIENT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);
const TRANSIENT_STATUS = new Set([500, 502, 503, 504]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

type ErrorType = 'THROTTLING' | 'TRANSIENT' | 'SERVER_ERROR' | 'CLIENT_ERROR';

/** How the SDK's retry middleware classifies a failed attempt (`@smithy/core/retry`). */
export function retryErrorType(error: unknown, depth = 0): ErrorType {
  const e = error as
    | { name?: unknown; code?: unknown; cause?: unknown; $metadata?: { httpStatusCode?: number } }
    | null
    | undefined;
  const status = e?.$metadata?.httpStatusCode;
  const name = typeof e?.name === 'string' ? e.name : '';
  if (depth === 0 && (status === 429 || THROTTLING.has(name))) return 'THROTTLING';
  if (
    name !== 'AbortError' &&
    (TRANSIENT_NAMES.has(name) ||
      (typeof e?.code === 'string' && TRANSIENT_CODES.has(e.code)) ||
      (status !== undefined && TRANSIENT_STATUS.has(status)) ||
      (e?.cause !== undefined && depth <= 10 && retryErrorType(e.cause, depth + 1) === 'TRANSIENT'))
  )
    return 'TRANSIENT';
  if (status !== undefined && status >= 500 && status <= 599) return 'SERVER_ERROR';
  return 'CLIENT_ERROR';
}

/** The exception name in an AWS JSON error (`x-amzn-errortype`, `code` or `__type`), without namespace or URL. */
export function exceptionName(header: string | undefined, body: Record<string, unknown>): string | undefined {
  const raw = header ?? body['code'] ?? body['__type'];
  if (typeof raw !== 'string' || raw === '') return undefined;
  const noUrl = raw.split(':')[0] ?? raw;
  return noUrl.slice(noUrl.lastIndexOf('#') + 1);
}

/** The service exception an error answer describes, shaped as the SDK shapes it. */
function serviceError(status: number, headers: Record<string, string | undefined>, text: string): Error {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      body = parsed as Record<string, unknown>;
  } catch {
    // Not JSON (a proxy's page): the status alone says what happened.
  }
  const message = body['message'] ?? body['Message'];
  const error = new Error(typeof message === 'string' ? message : `HTTP ${status}`) as Error & ServiceErrorFields;
  error.name = exceptionName(headers['x-amzn-errortype'], body) ?? 'UnknownError';
  error.$fault = status >= 500 ? 'server' : 'client';
  const requestId = headers['x-amzn-requestid'];
  error.$metadata = { httpStatusCode: status, ...(requestId === undefined ? {} : { requestId }) };
  return error;
}

/** The host of SSM's public endpoint in `region`. */
export function ssmHost(region: string, options: { fips?: boolean; dualstack?: boolean } = {}): string {
  const china = region.startsWith('cn-');
  const service = options.fips ? 'ssm-fips' : 'ssm';
  if (options.dualstack) return `${service}.${region}.${china ? 'api.amazonwebservices.com.cn' : 'api.aws'}`;
  return `${service}.${region}.${china ? 'amazonaws.com.cn' : 'amazonaws.com'}`;
}

/**
 * Where the SDK looks for a configured SSM endpoint (`getEndpointUrlConfig('SSM')` of
 * `@smithy/core`): `AWS_ENDPOINT_URL_SSM`, then `AWS_ENDPOINT_URL`; in the shared config
 * file, the profile's `services` section's `ssm.endpoint_url`, then its `endpoint_url`.
 */
export const SSM_ENDPOINT_CONFIG = {
  environmentVariableSelector: (env: NodeJS.ProcessEnv): string | undefined =>
    env['AWS_ENDPOINT_URL_SSM'] || env['AWS_ENDPOINT_URL'] || undefined,
  configFileSelector: (
    profile: Record<string, string | undefined>,
    config?: Record<string, Record<string, string | undefined> | undefined>,
  ): string | undefined => {
    const services = profile['services'];
    if (services) {
      const section = config?.[`services.${services}`];
      if (section === undefined)
        throw new Error(
          `The services section "${services}" specified in the profile is not present in the shared configuration file.`,
        );
      const url = section['ssm.endpoint_url'];
      if (url) return url;
    }
    return profile['endpoint_url'] || undefined;
  },
  default: undefined,
};

const seconds = (value: unknown): Date | undefined =>
  typeof value === 'number' ? new Date(Math.round(value * 1000)) : undefined;

function parameterOf(raw: unknown): SsmParameter | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const p = raw as Record<string, unknown>;
  return {
    ...(typeof p['Name'] === 'string' ? { Name: p['Name'] } : {}),
    ...(typeof p['Value'] === 'string' ? { Value: p['Value'] } : {}),
    ...(typeof p['Version'] === 'number' ? { Version: p['Version'] } : {}),
    ...(seconds(p['LastModifiedDate']) === undefined ? {} : { LastModifiedDate: seconds(p['LastModifiedDate']) }),
  };
}

/** A client of the four SSM calls; see the module's comment. */
export class ThinSsmClient {
  readonly #sm: SecretsManagerClient;
  readonly #endpoint: string | undefined;
  #target: Promise<URL> | undefined;

  /**
   * @param sm A Secrets Manager client built with the store's region, credentials,
   *   timeouts and retry settings: its resolved config is what this client uses. It is
   *   never sent a request, and {@link destroy} destroys it.
   * @param endpoint The store's `ssm_endpoint`, when set.
   */
  constructor(sm: SecretsManagerClient, endpoint: string | undefined) {
    this.#sm = sm;
    this.#endpoint = endpoint;
  }

  /** `GetParameter`. */
  async getParameter(input: GetParameterInput): Promise<{ Parameter?: SsmParameter | undefined }> {
    const output = await this.#send('GetParameter', input);
    const parameter = parameterOf(output['Parameter']);
    return parameter === undefined ? {} : { Parameter: parameter };
  }

  /** `PutParameter`. */
  async putParameter(input: PutParameterInput): Promise<{ Version?: number | undefined }> {
    const output = await this.#send('PutParameter', input);
    return typeof output['Version'] === 'number' ? { Version: output['Version'] } : {};
  }

  /** `DeleteParameter`. */
  async deleteParameter(input: DeleteParameterInput): Promise<unknown> {
    return this.#send('DeleteParameter', input);
  }

  /** `GetParametersByPath`: one page. */
  async getParametersByPath(input: GetParametersByPathInput): Promise<{
    Parameters?: readonly SsmParameter[] | undefined;
    NextToken?: string | undefined;
  }> {
    const output = await this.#send('GetParametersByPath', input);
    const list = Array.isArray(output['Parameters']) ? output['Parameters'] : [];
    return {
      Parameters: list.map(parameterOf).filter((p): p is SsmParameter => p !== undefined),
      ...(typeof output['NextToken'] === 'string' ? { NextToken: output['NextToken'] } : {}),
    };
  }

  /** Closes the sockets of the borrowed HTTP handler. */
  destroy(): void {
    this.#sm.destroy();
  }

  #url(): Promise<URL> {
    this.#target ??= (async () => {
      const config = this.#sm.config;
      const ignore: unknown = config.ignoreConfiguredEndpointUrls;
      const ignored = typeof ignore === 'function' ? await (ignore as () => Promise<boolean>)() : ignore === true;
      const explicit =
        this.#endpoint ?? (ignored ? undefined : await loadConfig<string | undefined>(SSM_ENDPOINT_CONFIG)());
      if (explicit !== undefined) return new URL(explicit);
      const region = await config.region();
      const host = ssmHost(region, {
        fips: await config.useFipsEndpoint(),
        dualstack: await config.useDualstackEndpoint(),
      });
      return new URL(`https://${host}/`);
    })().catch((error: unknown) => {
      this.#target = undefined;
      throw error;
    });
    return this.#target;
  }

  /** One call, retried as the SDK's standard strategy decides. */
  async #send(operation: string, input: object): Promise<Record<string, unknown>> {
    const config = this.#sm.config;
    const url = await this.#url();
    const region = await config.region();
    const strategy = await config.retryStrategy();
    if (!('acquireInitialRetryToken' in strategy)) throw new Error('the SSM client needs a standard retry strategy');
    const signer = new SignatureV4({
      service: 'ssm',
      region,
      credentials: config.credentials,
      sha256: config.sha256,
    });
    const body = JSON.stringify(input);
    let token = await strategy.acquireInitialRetryToken('');
    let attempts = 0;
    let totalRetryDelay = 0;
    for (;;) {
      try {
        const request = {
          method: 'POST',
          protocol: url.protocol,
          hostname: url.hostname,
          ...(url.port === '' ? {} : { port: Number(url.port) }),
          path: url.pathname === '' ? '/' : url.pathname,
          query: {},
          headers: {
            host: url.host,
            'content-type': 'application/x-amz-json-1.1',
            'x-amz-target': `AmazonSSM.${operation}`,
            'content-length': String(Buffer.byteLength(body)),
          },
          body,
        };
        const signed = await signer.sign(request, {
          signingDate: new Date(Date.now() + (config.systemClockOffset ?? 0)),
        });
        const { response } = await config.requestHandler.handle(signed, {});
        const bytes = await config.streamCollector(response.body);
        const text = new TextDecoder().decode(bytes);
        const status: number = response.statusCode;
        if (status < 200 || status >= 300) throw serviceError(status, response.headers, text);
        strategy.recordSuccess(token);
        const parsed: unknown = text === '' ? {} : JSON.parse(text);
        return parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : {};
      } catch (error) {
        try {
          token = await strategy.refreshRetryTokenForRetry(token, { errorType: retryErrorType(error) });
        } catch {
          if (error !== null && typeof error === 'object') {
            const withMeta = error as Partial<ServiceErrorFields>;
            withMeta.$metadata = { ...withMeta.$metadata, attempts: attempts + 1, totalRetryDelay };
          }
          throw error;
        }
        attempts = token.getRetryCount();
        const delay = token.getRetryDelay();
        totalRetryDelay += delay;
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }
}
