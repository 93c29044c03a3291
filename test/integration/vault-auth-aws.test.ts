/**
 * AWS IAM auth against a Vault stand-in that captures the login (OpenBao ships no AWS
 * auth method). The captured request is checked against the form Vault's AWS auth
 * documents and its own client sends, and its SigV4 signature is recomputed here with
 * node:crypto alone, from the fake credentials the test put in the environment.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { fieldKit } from '../../src/config/schema.js';
import { createVaultStore, vaultStoreSchema } from '../../src/stores/vault/index.js';
import { type LoginCapture, startLoginCapture } from '../helpers/login-capture.js';

let vault: LoginCapture;
beforeAll(async () => {
  vault = await startLoginCapture();
});
afterAll(async () => {
  await vault?.close();
});

/** Fake credentials in the shapes AWS uses, random for each test, never real. */
interface FakeCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

function fakeCredentials(withSession: boolean): FakeCredentials {
  const accessKeyId = `ASIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  return withSession
    ? { accessKeyId, secretAccessKey, sessionToken: randomBytes(64).toString('base64') }
    : { accessKeyId, secretAccessKey };
}

/** Puts `credentials` where the AWS SDK's default chain looks first, and nothing else. */
function useEnvironmentCredentials(credentials: FakeCredentials): void {
  vi.stubEnv('AWS_ACCESS_KEY_ID', credentials.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', credentials.secretAccessKey);
  vi.stubEnv('AWS_SESSION_TOKEN', credentials.sessionToken);
  // A profile would make the chain skip the environment.
  vi.stubEnv('AWS_PROFILE', undefined);
  vi.stubEnv('AWS_CREDENTIAL_EXPIRATION', undefined);
}

beforeEach(() => vi.unstubAllEnvs());
afterEach(() => vi.unstubAllEnvs());

const resolvedVaultSchema = vaultStoreSchema(fieldKit('resolved'));

/** Logs in through a store built from a config section, and returns the login Vault received. */
async function captureLogin(auth: Record<string, unknown>) {
  const before = vault.logins.length;
  const store = createVaultStore(resolvedVaultSchema.parse({ kind: 'vault', address: vault.address, auth }));
  // The stand-in answers every KV read with 404: no record, after a successful login.
  expect(await store.read('tokens/any')).toBeUndefined();
  await store.close();
  const logins = vault.logins.slice(before);
  expect(logins).toHaveLength(1);
  return logins[0] as { path: string; body: Record<string, unknown> };
}

function decode(field: unknown): string {
  expect(typeof field).toBe('string');
  return Buffer.from(field as string, 'base64').toString('utf8');
}

const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** The parts of a SigV4 `Authorization` header. */
function parseAuthorization(value: string) {
  const match =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/sts\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(
      value,
    );
  expect(match, `not a SigV4 Authorization header: ${value}`).not.toBeNull();
  const [, accessKeyId, date, region, signedHeaders, signature] = match as unknown as string[];
  return { accessKeyId, date, region, signedHeaders: (signedHeaders as string).split(';'), signature };
}

/**
 * The SigV4 signature of a POST to `/` with no query string, computed from the AWS
 * documentation's steps with node:crypto, independently of the code under test.
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html
 */
function expectedSignature(input: {
  readonly headers: Record<string, string[]>;
  readonly signedHeaders: readonly string[];
  readonly body: string;
  readonly region: string;
  readonly secretAccessKey: string;
}): string {
  const byName = new Map(
    Object.entries(input.headers).map(([name, values]) => [name.toLowerCase(), values.join(',').trim()]),
  );
  const amzDate = byName.get('x-amz-date') as string;
  const canonicalHeaders = input.signedHeaders.map((name) => `${name}:${byName.get(name)}\n`).join('');
  const canonicalRequest = [
    'POST',
    '/',
    '',
    canonicalHeaders,
    input.signedHeaders.join(';'),
    sha256Hex(input.body),
  ].join('\n');
  const scope = `${amzDate.slice(0, 8)}/${input.region}/sts/aws4_request`;
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const dateKey = hmac(`AWS4${input.secretAccessKey}`, amzDate.slice(0, 8));
  const signingKey = hmac(hmac(hmac(dateKey, input.region), 'sts'), 'aws4_request');
  return createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
}

describe('Vault AWS IAM auth (login captured)', () => {
  it('sends a signed sts:GetCallerIdentity for the global endpoint, with the session token and the server id header signed', async () => {
    const credentials = fakeCredentials(true);
    useEnvironmentCredentials(credentials);
    const started = Date.now();

    const login = await captureLogin({ method: 'aws', role: 'token-rotator', server_id_header: 'vault.example.com' });

    expect(login.path).toBe('/v1/auth/aws/login');
    expect(Object.keys(login.body).sort()).toEqual([
      'iam_http_request_method',
      'iam_request_body',
      'iam_request_headers',
      'iam_request_url',
      'role',
    ]);
    expect(login.body.role).toBe('token-rotator');
    expect(login.body.iam_http_request_method).toBe('POST');
    expect(decode(login.body.iam_request_url)).toBe('https://sts.amazonaws.com/');
    const body = decode(login.body.iam_request_body);
    expect(body).toBe('Action=GetCallerIdentity&Version=2011-06-15');

    const headers = JSON.parse(decode(login.body.iam_request_headers)) as Record<string, string[]>;
    expect(Object.keys(headers).sort()).toEqual([
      'Authorization',
      'Content-Type',
      'Host',
      'X-Amz-Date',
      'X-Amz-Security-Token',
      'X-Vault-AWS-IAM-Server-ID',
    ]);
    expect(Object.values(headers).every((values) => Array.isArray(values) && values.length === 1)).toBe(true);
    expect(headers['Host']).toEqual(['sts.amazonaws.com']);
    expect(headers['Content-Type']).toEqual(['application/x-www-form-urlencoded; charset=utf-8']);
    expect(headers['X-Amz-Security-Token']).toEqual([credentials.sessionToken]);
    expect(headers['X-Vault-AWS-IAM-Server-ID']).toEqual(['vault.example.com']);
    const amzDate = (headers['X-Amz-Date'] as string[])[0] as string;
    expect(amzDate).toMatch(/^\d{8}T\d{6}Z$/);
    const signedAt = Date.parse(
      amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'),
    );
    expect(signedAt).toBeGreaterThanOrEqual(Math.floor(started / 1000) * 1000);
    expect(signedAt).toBeLessThanOrEqual(Date.now());

    const authorization = parseAuthorization((headers['Authorization'] as string[])[0] as string);
    expect(authorization.accessKeyId).toBe(credentials.accessKeyId);
    expect(authorization.date).toBe(amzDate.slice(0, 8));
    expect(authorization.region).toBe('us-east-1');
    // Vault requires the server id header among the signed ones; STS requires host and the date.
    expect(authorization.signedHeaders).toEqual([
      'content-type',
      'host',
      'x-amz-date',
      'x-amz-security-token',
      'x-vault-aws-iam-server-id',
    ]);
    expect(authorization.signature).toBe(
      expectedSignature({
        headers,
        signedHeaders: authorization.signedHeaders,
        body,
        region: 'us-east-1',
        secretAccessKey: credentials.secretAccessKey,
      }),
    );
    // The secret key itself never travels.
    expect(JSON.stringify(login.body)).not.toContain(credentials.secretAccessKey);
  });

  it('signs for a regional STS endpoint when a region is set, and sends no session token or server id when there are none', async () => {
    const credentials = fakeCredentials(false);
    useEnvironmentCredentials(credentials);

    const login = await captureLogin({ method: 'aws', mount: 'aws-eu', role: 'rotator', region: 'eu-west-1' });

    expect(login.path).toBe('/v1/auth/aws-eu/login');
    expect(decode(login.body.iam_request_url)).toBe('https://sts.eu-west-1.amazonaws.com/');
    const body = decode(login.body.iam_request_body);
    const headers = JSON.parse(decode(login.body.iam_request_headers)) as Record<string, string[]>;
    expect(Object.keys(headers).sort()).toEqual(['Authorization', 'Content-Type', 'Host', 'X-Amz-Date']);
    expect(headers['Host']).toEqual(['sts.eu-west-1.amazonaws.com']);
    const authorization = parseAuthorization((headers['Authorization'] as string[])[0] as string);
    expect(authorization.region).toBe('eu-west-1');
    expect(authorization.signedHeaders).toEqual(['content-type', 'host', 'x-amz-date']);
    expect(authorization.signature).toBe(
      expectedSignature({
        headers,
        signedHeaders: authorization.signedHeaders,
        body,
        region: 'eu-west-1',
        secretAccessKey: credentials.secretAccessKey,
      }),
    );
  });

  it('produces a signature the independent check rejects once anything signed is altered', async () => {
    const credentials = fakeCredentials(true);
    useEnvironmentCredentials(credentials);
    const login = await captureLogin({ method: 'aws', role: 'token-rotator', server_id_header: 'vault.example.com' });
    const body = decode(login.body.iam_request_body);
    const headers = JSON.parse(decode(login.body.iam_request_headers)) as Record<string, string[]>;
    const { signedHeaders, signature } = parseAuthorization((headers['Authorization'] as string[])[0] as string);
    const check = (
      changes: Partial<{ headers: Record<string, string[]>; body: string; region: string; secretAccessKey: string }>,
    ) =>
      expectedSignature({
        headers,
        signedHeaders,
        body,
        region: 'us-east-1',
        secretAccessKey: credentials.secretAccessKey,
        ...changes,
      }) === signature;

    expect(check({})).toBe(true);
    expect(check({ headers: { ...headers, 'X-Vault-AWS-IAM-Server-ID': ['vault.staging.example.com'] } })).toBe(false);
    expect(check({ body: 'Action=GetCallerIdentity&Version=2011-06-16' })).toBe(false);
    expect(check({ region: 'us-west-2' })).toBe(false);
    expect(check({ secretAccessKey: fakeCredentials(false).secretAccessKey })).toBe(false);
  });
});
