/**
 * AWS IAM auth: the rotator proves its AWS identity without sending a credential. It
 * signs an `sts:GetCallerIdentity` request with its AWS credentials (SigV4) and hands
 * the signed request to Vault, which sends it to STS itself and maps the identity STS
 * answers with (the role or user ARN) onto a Vault role. The request is never sent to
 * AWS by the rotator; the secret key never leaves the process.
 *
 * @see https://developer.hashicorp.com/vault/api-docs/auth/aws#login
 * @see https://developer.hashicorp.com/vault/docs/auth/aws#iam-auth-method
 * @see https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { StoreError } from '../../errors.js';
import { explainCredentials } from '../shared/aws-credentials.js';
import type { VaultAuth } from './auth-method.js';

/** The signed body: the GetCallerIdentity action of the STS query API. */
export const GET_CALLER_IDENTITY_BODY = 'Action=GetCallerIdentity&Version=2011-06-15';
/** The content type AWS SDKs send for the STS query API, and so what Vault expects. */
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded; charset=utf-8';
/** The header Vault compares with the mount's `iam_server_id_header_value`. */
export const SERVER_ID_HEADER = 'X-Vault-AWS-IAM-Server-ID';

/** The signing region of the global STS endpoint, `sts.amazonaws.com`. */
const GLOBAL_STS_REGION = 'us-east-1';

/** AWS credentials, as the SDK's credential providers return them. */
export interface AwsCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** Gives the current credentials; refreshed by the provider when they expire. */
export type AwsCredentialsProvider = () => Promise<AwsCredentials>;

/** Settings of {@link awsAuth}, as in the config's `auth` section. */
export interface AwsAuthConfig {
  readonly mount: string;
  readonly role: string;
  /** Region of the STS endpoint; the global endpoint (signed for us-east-1) when absent. */
  readonly region?: string | undefined;
  readonly server_id_header?: string | undefined;
}

/** Dependencies of {@link awsAuth}, for tests. */
export interface AwsAuthOptions {
  /** The AWS SDK's default chain (environment, web identity, files, ECS, EC2) by default. */
  readonly credentials?: AwsCredentialsProvider;
  readonly now?: () => Date;
}

/**
 * Logs in at `auth/<mount>/login` with a signed `sts:GetCallerIdentity` request, in the
 * form Vault's own client (`api/auth/aws`, `awsutil.GenerateLoginData`) sends: method,
 * URL, body and headers, the last three base64-encoded, the headers as JSON of name to
 * list of values.
 * @example
 * ```ts
 * const auth = awsAuth({ mount: 'aws', role: 'token-rotator', server_id_header: 'vault.example.com' });
 * ```
 */
export function awsAuth(config: AwsAuthConfig, options: AwsAuthOptions = {}): VaultAuth {
  // The SDK's credential chain is loaded at the first login, so other stores never load it.
  let chain: Promise<NonNullable<AwsAuthOptions['credentials']>> | undefined;
  const credentials = () =>
    (chain ??=
      options.credentials !== undefined
        ? Promise.resolve(options.credentials)
        : import('@aws-sdk/credential-provider-node').then(({ defaultProvider }) => defaultProvider()));
  const now = options.now ?? (() => new Date());
  return async (client) => {
    const login = await signedLoginRequest(config, await resolveCredentials(await credentials(), config.mount), now());
    return client.login(config.mount, { role: config.role, ...login });
  };
}

/** The STS endpoint a region names and the region its requests are signed for. */
export function stsEndpoint(region: string | undefined): { readonly host: string; readonly signingRegion: string } {
  if (region === undefined) return { host: 'sts.amazonaws.com', signingRegion: GLOBAL_STS_REGION };
  const domain = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return { host: `sts.${region}.${domain}`, signingRegion: region };
}

/** The `iam_*` fields of the login body. */
export interface IamLoginFields {
  readonly iam_http_request_method: 'POST';
  readonly iam_request_url: string;
  readonly iam_request_body: string;
  readonly iam_request_headers: string;
}

/** Signs GetCallerIdentity with `credentials` at `date` and encodes it for Vault. */
export async function signedLoginRequest(
  config: AwsAuthConfig,
  credentials: AwsCredentials,
  date: Date,
): Promise<IamLoginFields> {
  const { host, signingRegion } = stsEndpoint(config.region);
  // Loaded at the first AWS login, so a service reading tokens from files or Vault loads no AWS module.
  const { SignatureV4 } = await import('@smithy/signature-v4');
  const signer = new SignatureV4({
    service: 'sts',
    region: signingRegion,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}),
    },
    sha256: NodeSha256,
    // STS does not need X-Amz-Content-Sha256; leaving it out keeps the headers to what Vault allows.
    applyChecksum: false,
  });
  const headers: Record<string, string> = { host, 'content-type': FORM_CONTENT_TYPE };
  if (config.server_id_header !== undefined) headers[SERVER_ID_HEADER.toLowerCase()] = config.server_id_header;
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: host,
      path: '/',
      query: {},
      headers,
      body: GET_CALLER_IDENTITY_BODY,
    },
    { signingDate: date },
  );
  return {
    iam_http_request_method: 'POST',
    iam_request_url: base64(`https://${host}/`),
    iam_request_body: base64(GET_CALLER_IDENTITY_BODY),
    iam_request_headers: base64(JSON.stringify(goHeaders(signed.headers))),
  };
}

/** Header names as Go's `http.Header` writes them, each with a list of values. */
function goHeaders(headers: Record<string, string>): Record<string, string[]> {
  const names: Record<string, string> = { [SERVER_ID_HEADER.toLowerCase()]: SERVER_ID_HEADER };
  const canonical = (name: string) =>
    names[name] ?? name.replace(/(^|-)([a-z])/g, (_, dash: string, letter: string) => dash + letter.toUpperCase());
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [canonical(name.toLowerCase()), [value]]));
}

async function resolveCredentials(provider: AwsCredentialsProvider, mount: string): Promise<AwsCredentials> {
  try {
    return await provider();
  } catch (error) {
    // Where the SDK's default chain looks, or the exception's name: never its message,
    // which may quote a profile, a file or what an endpoint answered.
    const reason = explainCredentials(error) ?? (error instanceof Error ? error.name : 'unknown error');
    throw new StoreError(`no AWS credentials for the Vault login at auth/${mount}: ${reason}`, { cause: error });
  }
}

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

/** SHA-256 and HMAC-SHA256 from `node:crypto`, in the shape the SigV4 signer takes. */
class NodeSha256 {
  readonly #hash: Hash | Hmac;

  constructor(secret?: SourceData) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }

  update(data: SourceData, encoding?: 'utf8' | 'ascii' | 'latin1'): void {
    this.#hash.update(bytes(data, encoding));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function bytes(data: SourceData, encoding: BufferEncoding = 'utf8'): Buffer {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}
