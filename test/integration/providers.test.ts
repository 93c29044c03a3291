import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProviderError } from '../../src/errors.js';
import { createKeliwebProvider } from '../../src/providers/keliweb/index.js';
import { createKlikooProvider, klikooTimestamp } from '../../src/providers/klikoo/index.js';
import { post } from '../../src/providers/shared/http.js';
import { createOAuth2Provider, type OAuth2Settings } from '../../src/providers/shared/oauth2-client.js';
import { type Sandbox, type SandboxClient, startSandbox } from '../../src/sandbox/index.js';

const rsa = () =>
  generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
const keys = rsa();
const secret = (n = 40) => randomBytes(n).toString('base64url').slice(0, n);

const oauthClient = {
  target: 'oauth2',
  clientId: `svc-${randomUUID()}`,
  clientSecret: secret(),
  username: 'ops@example.test',
  password: secret(20),
  issueRefreshToken: true,
} satisfies SandboxClient;
const keliwebClient = {
  target: 'keliweb-api-v2',
  clientId: randomUUID(),
  clientSecret: secret(),
  username: 'kw@example.test',
  password: secret(20),
} satisfies SandboxClient;
const klikooClient = {
  target: 'klikoo',
  clientId: randomUUID(),
  clientSecret: secret(32),
  publicKeyPem: keys.publicKey,
} satisfies SandboxClient;

let sandbox: Sandbox;
beforeAll(async () => {
  sandbox = await startSandbox({
    clients: [oauthClient, keliwebClient, klikooClient],
    lifetimes: { oauth2: { accessSeconds: 1200 } },
  });
});
afterAll(async () => {
  await sandbox?.close();
});

function oauth(overrides: Partial<OAuth2Settings> = {}) {
  return createOAuth2Provider({
    tokenUrl: sandbox.tokenUrl('oauth2'),
    grant: 'client_credentials',
    clientId: oauthClient.clientId,
    clientSecret: oauthClient.clientSecret,
    body: 'form',
    clientAuth: 'body',
    defaultLifetimeSeconds: 3600,
    timeoutMs: 2000,
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<ProviderError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ProviderError);
    return error as ProviderError;
  }
  throw new Error('expected the call to fail');
}

const lastRequest = () => sandbox.requests[sandbox.requests.length - 1]!;

describe('oauth2 provider against the sandbox', () => {
  it.each([
    ['form', 'body', 'application/x-www-form-urlencoded'],
    ['json', 'body', 'application/json'],
    ['multipart', 'body', 'multipart/form-data'],
    ['form', 'basic', 'application/x-www-form-urlencoded'],
    ['json', 'basic', 'application/json'],
  ] as const)('obtains with a %s body and client auth in the %s', async (body, clientAuth, contentType) => {
    const set = await oauth({ body, clientAuth }).obtain();
    expect(set).toMatchObject({ tokenType: 'Bearer', expiresIn: 1200 });
    expect(sandbox.isValid(set.accessToken)).toBe(true);
    expect(lastRequest()).toMatchObject({ grantType: 'client_credentials', clientAuth, status: 200 });
    expect(lastRequest().contentType?.split(';')[0]).toBe(contentType);
  });

  it('sends scope, audience and extra headers', async () => {
    await oauth({ scope: 'invoices:read', audience: 'https://api.example.test' }).obtain();
    expect(lastRequest()).toMatchObject({ scope: 'invoices:read', audience: 'https://api.example.test' });
  });

  it('uses the password grant and rotates single-use refresh tokens', async () => {
    const provider = oauth({ grant: 'password', username: oauthClient.username, password: oauthClient.password });
    const first = await provider.obtain();
    expect(first.refreshToken).toBeDefined();
    const second = await provider.refresh!(first.refreshToken!);
    expect(second.refreshToken).not.toBe(first.refreshToken);
    expect(sandbox.isValid(first.accessToken)).toBe(false);
    expect(sandbox.isValid(second.accessToken)).toBe(true);
    const reused = await failure(provider.refresh!(first.refreshToken!));
    expect(reused).toMatchObject({ failureClass: 'reauthenticate', reason: 'invalid_grant', status: 400 });
  });

  it('classifies a wrong client secret as permanent invalid_client, in the body and with Basic', async () => {
    for (const clientAuth of ['body', 'basic'] as const) {
      const error = await failure(oauth({ clientSecret: 'wrong-secret', clientAuth }).obtain());
      expect(error).toMatchObject({ failureClass: 'permanent', status: 401, reason: 'invalid_client' });
      expect(error.message).not.toContain('wrong-secret');
    }
  });

  it('classifies wrong user credentials on the password grant as permanent', async () => {
    const error = await failure(
      oauth({ grant: 'password', username: oauthClient.username, password: 'nope' }).obtain(),
    );
    expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_grant' });
  });

  it('refuses an http:// token URL off loopback before sending anything', async () => {
    const count = sandbox.requests.length;
    const error = await failure(oauth({ tokenUrl: 'http://auth.example.test/oauth/token' }).obtain());
    expect(error).toMatchObject({ failureClass: 'permanent' });
    expect(sandbox.requests.length).toBe(count);
  });
});

describe('keliweb provider against the sandbox', () => {
  const provider = (body: 'form' | 'multipart', password = keliwebClient.password) =>
    createKeliwebProvider(
      {
        kind: 'keliweb',
        base_url: sandbox.baseUrl('keliweb-api-v2'),
        body,
        client_id: keliwebClient.clientId,
        client_secret: keliwebClient.clientSecret,
        username: keliwebClient.username,
        password,
        renewal: 'refresh',
        refresh_lifetime_seconds: 864_000,
      },
      2000,
    );

  it.each(['form', 'multipart'] as const)(
    'obtains and refreshes with a %s body, recording the 10-day refresh lifetime',
    async (body) => {
      const first = await provider(body).obtain();
      expect(first).toMatchObject({ tokenType: 'Bearer', expiresIn: 3600, refreshExpiresIn: 864_000 });
      expect(first.refreshToken).toMatch(/^def50200/);
      const second = await provider(body).refresh!(first.refreshToken!);
      expect(sandbox.isValid(second.accessToken)).toBe(true);
      expect(sandbox.isValid(first.accessToken)).toBe(false);
    },
  );

  it('answers a wrong password as permanent, without echoing it', async () => {
    const error = await failure(provider('form', 'not-the-password').obtain());
    expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_grant', status: 400 });
    expect(error.message).not.toContain('not-the-password');
  });
});

describe('klikoo provider against the sandbox', () => {
  const config = (privateKey = keys.privateKey) => ({
    kind: 'klikoo' as const,
    base_url: sandbox.baseUrl('klikoo'),
    client_id: klikooClient.clientId,
    client_secret: klikooClient.clientSecret,
    private_key: privateKey,
    renewal: 'refresh' as const,
  });

  it('obtains a 900 s token with a signature the sandbox verifies with the public key', async () => {
    const set = await createKlikooProvider(config(), 2000).obtain();
    expect(set).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    expect(sandbox.isValid(set.accessToken)).toBe(true);
  });

  it('is refused, permanently, when signing with another key', async () => {
    const error = await failure(createKlikooProvider(config(rsa().privateKey), 2000).obtain());
    expect(error).toMatchObject({ failureClass: 'permanent', status: 401 });
    expect(error.reason).toMatch(/^401/);
  });

  it('formats the timestamp as Jakarta local time', () => {
    expect(klikooTimestamp(new Date('2022-03-21T03:11:40Z'))).toBe('2022-03-21T10:11:40+07:00');
    expect(klikooTimestamp(new Date('2022-12-31T20:00:00.999Z'))).toBe('2023-01-01T03:00:00+07:00');
  });
});

describe('the shared transport', () => {
  let server: Server;
  let base: string;
  const received: string[] = [];
  const headersSeen: IncomingHttpHeaders[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      received.push(req.url ?? '');
      if (req.url === '/huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'x'.repeat(70_000), token_type: 'Bearer' }));
      } else if (req.url === '/redirect') {
        res.writeHead(302, { location: '/elsewhere' });
        res.end();
      } else if (req.url === '/no-type') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'seed-004-style', expires_in: 600 }));
      } else if (req.url === '/gzip' || req.url === '/br') {
        const body = JSON.stringify({ access_token: 'compressed-anyway', token_type: 'Bearer', expires_in: 900 });
        const encoding = req.url === '/gzip' ? 'gzip' : 'br';
        headersSeen.push(req.headers);
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': encoding });
        res.end(encoding === 'gzip' ? gzipSync(body) : brotliCompressSync(body));
      } else if (req.url === '/gzip-bomb') {
        // 1 MiB of JSON that compresses to about 1 KiB: over the cap only once decoded.
        const body = JSON.stringify({ access_token: 'a'.repeat(1024 * 1024), token_type: 'Bearer' });
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(gzipSync(body));
      } else if (req.url === '/cut') {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': '400' });
        res.write('{"access_token":"half');
        setTimeout(() => res.destroy(), 20);
      } else if (req.url === '/no-expiry') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ access_token: 'no-expiry', token_type: 'bearer' }));
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses a response over the size cap as permanent', async () => {
    const error = await failure(oauth({ tokenUrl: `${base}/huge` }).obtain());
    expect(error).toMatchObject({ failureClass: 'permanent' });
    expect(error.message).toMatch(/larger than 65536 bytes/);
  });

  it('does not follow redirects', async () => {
    const error = await failure(oauth({ tokenUrl: `${base}/redirect` }).obtain());
    expect(error).toMatchObject({ failureClass: 'permanent', status: 302 });
    expect(received).not.toContain('/elsewhere');
  });

  it('accepts a response without token_type as Bearer (seed 004)', async () => {
    expect(await oauth({ tokenUrl: `${base}/no-type` }).obtain()).toMatchObject({
      accessToken: 'seed-004-style',
      tokenType: 'Bearer',
      expiresIn: 600,
    });
  });

  it('falls back to the configured lifetime when expires_in is missing', async () => {
    expect(await oauth({ tokenUrl: `${base}/no-expiry`, defaultLifetimeSeconds: 777 }).obtain()).toMatchObject({
      tokenType: 'Bearer',
      expiresIn: 777,
    });
  });

  it('decodes an answer the server compressed though not asked to (gzip, br), and names itself', async () => {
    for (const path of ['/gzip', '/br']) {
      expect(await oauth({ tokenUrl: `${base}${path}` }).obtain()).toMatchObject({
        accessToken: 'compressed-anyway',
        expiresIn: 900,
      });
    }
    // oauth4webapi names itself; a call that sets no user-agent gets the rotator's.
    expect(headersSeen.map((headers) => headers['user-agent'])).toEqual([
      expect.stringMatching(/^oauth4webapi\//),
      expect.stringMatching(/^oauth4webapi\//),
    ]);
    expect(headersSeen.map((headers) => headers['accept-encoding'])).toEqual([undefined, undefined]);

    const answer = await post(`${base}/gzip`, { method: 'GET', headers: {} }, { timeoutMs: 5000 });
    expect(JSON.parse(Buffer.from(answer.body).toString('utf8'))).toMatchObject({ access_token: 'compressed-anyway' });
    expect(answer.headers.get('content-encoding')).toBe('gzip');
    expect(headersSeen[2]).toMatchObject({ 'user-agent': 'token-rotator' });
    expect(headersSeen[2]).not.toHaveProperty('content-length');
  });

  it('refuses a compressed answer over the size cap once decoded, as permanent', async () => {
    const error = await failure(oauth({ tokenUrl: `${base}/gzip-bomb` }).obtain());
    expect(error).toMatchObject({ failureClass: 'permanent', status: 200 });
    expect(error.message).toMatch(/larger than 65536 bytes/);
  });

  it('classifies a connection cut in the middle of the answer as retryable and ambiguous', async () => {
    const error = await failure(oauth({ tokenUrl: `${base}/cut` }).obtain());
    expect(error).toMatchObject({ failureClass: 'retryable', ambiguous: true, status: 200 });
    expect(error.message).toBe('connection dropped while reading the token response');
  });

  it('classifies a refused connection as retryable and not ambiguous', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(oauth({ tokenUrl: `http://127.0.0.1:${port}/oauth/token` }).obtain());
    expect(error).toMatchObject({ failureClass: 'retryable', ambiguous: false });
    expect(error.message).toMatch(/ECONNREFUSED/);
  });
});
