import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StoreError } from '../../src/errors.js';
import { NO_CREDENTIALS_HELP } from '../../src/stores/shared/aws-credentials.js';
import { awsAuth, stsEndpoint } from '../../src/stores/vault/auth-aws.js';
import { readCredentialFile } from '../../src/stores/vault/auth-file.js';
import { jwtAuth } from '../../src/stores/vault/auth-jwt.js';
import { kubernetesAuth } from '../../src/stores/vault/auth-kubernetes.js';
import { tokenAuth } from '../../src/stores/vault/auth-token.js';
import { VaultClient } from '../../src/stores/vault/client.js';
import type { TransportRequest, VaultTransport } from '../../src/stores/vault/transport.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-vault-auth-unit-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A client whose transport answers like Vault and records each request. */
function fakeClient() {
  const requests: TransportRequest[] = [];
  const transport: VaultTransport = async (request) => {
    requests.push(request);
    if (request.url.endsWith('/login')) {
      return {
        status: 200,
        text: JSON.stringify({
          auth: { client_token: `hvs.${randomBytes(8).toString('hex')}`, lease_duration: 60, renewable: true },
        }),
      };
    }
    if (request.url.endsWith('/auth/token/lookup-self')) {
      return { status: 200, text: JSON.stringify({ data: { ttl: 120, renewable: true, accessor: 'acc-1' } }) };
    }
    return { status: 404, text: '{"errors":[]}' };
  };
  return { client: new VaultClient({ address: 'https://vault.test:8200', timeoutMs: 1000, transport }), requests };
}

const bodyOf = (request: TransportRequest | undefined) => JSON.parse(request?.body ?? 'null') as Record<string, string>;

async function file(content: string): Promise<string> {
  const path = join(dir, randomBytes(4).toString('hex'));
  await writeFile(path, content);
  return path;
}

describe('readCredentialFile', () => {
  it('returns the content trimmed', async () => {
    expect(await readCredentialFile(await file('  abc.def.ghi\n'), 'the JWT')).toBe('abc.def.ghi');
  });

  it('names a missing file and the error code', async () => {
    const missing = join(dir, 'missing');
    const error = await readCredentialFile(missing, 'the JWT').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe(`cannot read the JWT for the Vault login from ${missing} (ENOENT)`);
  });

  it('refuses an empty file, naming it', async () => {
    const empty = await file(' \n');
    await expect(readCredentialFile(empty, 'the JWT')).rejects.toThrow(
      `${empty} is empty: it should hold the JWT for the Vault login`,
    );
  });
});

describe('file-based auth methods read the file at each login', () => {
  it('jwt with jwt_file sends what the file holds at that moment', async () => {
    const path = await file('first.jwt.value');
    const { client, requests } = fakeClient();
    const auth = jwtAuth({ mount: 'jwt', role: 'rotator', jwt_file: path });
    await auth(client);
    await writeFile(path, 'second.jwt.value\n');
    await auth(client);
    expect(requests.map((request) => request.url)).toEqual([
      'https://vault.test:8200/v1/auth/jwt/login',
      'https://vault.test:8200/v1/auth/jwt/login',
    ]);
    expect(requests.map((request) => bodyOf(request).jwt)).toEqual(['first.jwt.value', 'second.jwt.value']);
    expect(bodyOf(requests[0])).toEqual({ role: 'rotator', jwt: 'first.jwt.value' });
  });

  it('kubernetes sends role and the service account token at auth/<mount>/login', async () => {
    const path = await file('sa.token.value');
    const { client, requests } = fakeClient();
    const login = await kubernetesAuth({ mount: 'k8s/prod', role: 'token-rotator', jwt_file: path })(client);
    expect(login.ttlSeconds).toBe(60);
    expect(requests[0]?.url).toBe('https://vault.test:8200/v1/auth/k8s/prod/login');
    expect(bodyOf(requests[0])).toEqual({ role: 'token-rotator', jwt: 'sa.token.value' });
  });

  it('token with token_file uses what the file holds and may be replaced; a token from the config is fixed', async () => {
    const path = await file('hvs.one');
    const { client, requests } = fakeClient();
    const fromFile = tokenAuth({ token_file: path });
    expect(await fromFile(client)).toEqual({
      token: 'hvs.one',
      ttlSeconds: 120,
      renewable: true,
      accessor: 'acc-1',
      fixed: false,
    });
    await writeFile(path, 'hvs.two');
    expect((await fromFile(client)).token).toBe('hvs.two');
    expect(requests.map((request) => request.headers['x-vault-token'])).toEqual(['hvs.one', 'hvs.two']);
    expect(await tokenAuth({ token: 'hvs.static' })(client)).toMatchObject({ token: 'hvs.static', fixed: true });
  });
});

describe('aws auth', () => {
  it('uses the global STS endpoint by default, and the regional one (with the China domain) when a region is set', () => {
    expect(stsEndpoint(undefined)).toEqual({ host: 'sts.amazonaws.com', signingRegion: 'us-east-1' });
    expect(stsEndpoint('eu-central-1')).toEqual({
      host: 'sts.eu-central-1.amazonaws.com',
      signingRegion: 'eu-central-1',
    });
    expect(stsEndpoint('cn-north-1')).toEqual({ host: 'sts.cn-north-1.amazonaws.com.cn', signingRegion: 'cn-north-1' });
  });

  it('reports missing AWS credentials as a StoreError naming the mount and where the chain looks, without calling Vault', async () => {
    const { client, requests } = fakeClient();
    const auth = awsAuth(
      { mount: 'aws', role: 'r' },
      {
        credentials: async () => {
          throw Object.assign(new Error('Could not load credentials from profile secret-team in /home/x/.aws'), {
            name: 'CredentialsProviderError',
          });
        },
      },
    );
    const error = await auth(client).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect((error as StoreError).message).toBe(
      `no AWS credentials for the Vault login at auth/aws: CredentialsProviderError: ${NO_CREDENTIALS_HELP}`,
    );
    expect((error as StoreError).message).not.toContain('secret-team');
    expect(requests).toEqual([]);
  });

  it('names only the exception when the credential chain fails otherwise, never quoting its message', async () => {
    const { client } = fakeClient();
    const auth = awsAuth(
      { mount: 'aws', role: 'r' },
      {
        credentials: async () => {
          throw Object.assign(new Error('sts answered: <Error>token eyJhbGciOi…</Error>'), {
            name: 'InvalidIdentityToken',
          });
        },
      },
    );
    const error = await auth(client).catch((e: unknown) => e);
    expect((error as StoreError).message).toBe(
      'no AWS credentials for the Vault login at auth/aws: InvalidIdentityToken',
    );
  });

  it('signs with the date it is given, so the same inputs give the same request', async () => {
    const secretAccessKey = randomBytes(30).toString('base64');
    const credentials = async () => ({ accessKeyId: 'AKIDEXAMPLE', secretAccessKey });
    const now = () => new Date('2026-03-01T12:00:00Z');
    const { client, requests } = fakeClient();
    await awsAuth({ mount: 'aws', role: 'r' }, { credentials, now })(client);
    await awsAuth({ mount: 'aws', role: 'r' }, { credentials, now })(client);
    const [first, second] = requests.map((request) => bodyOf(request));
    const headers = JSON.parse(Buffer.from(first?.iam_request_headers ?? '', 'base64').toString('utf8')) as Record<
      string,
      string[]
    >;
    expect(headers['X-Amz-Date']).toEqual(['20260301T120000Z']);
    expect(headers['Authorization']?.[0]).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/20260301\/us-east-1\/sts\/aws4_request, /,
    );
    expect(second).toEqual(first);
  });
});
