/**
 * `kind: http` profiles against the provider sandbox, the strict simulator of the vendors'
 * token endpoints (a real HTTP peer on loopback). The profiles are the blocks of
 * docs/http-provider.md, only their hosts, identifiers and secret files pointed at the
 * sandbox's demo clients, loaded through the config loader as a user's file would be.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ProviderError } from '../../src/errors.js';
import type { TokenProvider } from '../../src/providers/contract.js';
import { createHttpProvider } from '../../src/providers/http/index.js';
import type { DemoSecrets, Sandbox, SandboxClient } from '../../src/sandbox/index.js';
import { createDemoClients, startSandbox } from '../../src/sandbox/index.js';
import { extractCodeBlocks, ROOT } from '../docs/markdown.js';

const DOC = 'docs/http-provider.md';

let clients: SandboxClient[];
let secrets: DemoSecrets;
let sandbox: Sandbox;
/** The sandbox's and the providers' clock, whole seconds, so both read the same instant. */
let clock: number;
const scratch = mkdtempSync(join(tmpdir(), 'tr-http-sandbox-'));

beforeAll(async () => {
  ({ clients, secrets } = await createDemoClients());
});

beforeEach(async () => {
  clock = Date.UTC(2026, 2, 21, 3, 11, 40);
  sandbox = await startSandbox({ clients, now: () => clock });
});

afterEach(async () => {
  await sandbox.close();
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The yaml block of the docs under `heading`. */
function documented(heading: string): string {
  const block = extractCodeBlocks(DOC, readFileSync(join(ROOT, DOC), 'utf8')).find(
    (candidate) => candidate.heading === heading && candidate.lang === 'yaml',
  );
  if (block === undefined) throw new Error(`${DOC} has no yaml block under "${heading}"`);
  return block.text;
}

/** Writes a 0600 file and returns its `${file:…}` reference. */
function secretFile(name: string, value: string): string {
  const path = join(scratch, name);
  writeFileSync(path, value, { mode: 0o600 });
  return `\${file:${path}}`;
}

/** Replaces `from` by `to` in `text`, failing when the docs no longer say `from`. */
function replaced(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replaceAll(from, to);
}

/** Loads a config text and builds its only provider on the test clock. */
async function build(text: string, env: NodeJS.ProcessEnv, store: Record<string, string> = {}): Promise<TokenProvider> {
  const loaded = await parseConfig(text, 'http-provider.yaml', env);
  const config = await loaded.resolve(async (path, key) => store[`${path}#${key}`]);
  const [section] = Object.values(config.providers);
  if (section?.kind !== 'http') throw new Error('the profile did not load as kind http');
  return createHttpProvider(section, 5000, { now: () => new Date(clock) });
}

function klikooProfile(privateKeyPem: string): Promise<TokenProvider> {
  let text = documented('## Worked example: Klikoo');
  text = replaced(text, 'https://b2b-api.example.com/v1/open-api/access-token', sandbox.tokenUrl('klikoo'));
  text = replaced(text, '${file:/run/secrets/klikoo.pem}', secretFile('klikoo.pem', privateKeyPem));
  return build(
    text,
    { KLIKOO_CLIENT_ID: secrets.klikoo.clientId },
    { 'credentials/klikoo#client_secret': secrets.klikoo.clientSecret },
  );
}

function passwordProfile(): Promise<TokenProvider> {
  const client = secrets['keliweb-api-v2'];
  let text = documented('## An OAuth 2.0 password grant with refresh');
  text = replaced(text, 'https://api.example.com/oauth/token', sandbox.tokenUrl('keliweb-api-v2'));
  text = replaced(text, '7d0f6c9e-2b8a-4a51-9a43-0d1f8a6b2c11', client.clientId);
  text = replaced(text, 'ops@example.com', client.username);
  text = replaced(text, '${file:/run/secrets/invoices-password}', secretFile('password', client.password));
  return build(text, { INVOICES_CLIENT_SECRET: client.clientSecret });
}

async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

describe('the Klikoo profile of kind http, against the sandbox', () => {
  it('gets a 900-second Bearer token that the sandbox holds valid', async () => {
    const provider = await klikooProfile(secrets.klikoo.privateKeyPem);

    const token = await provider.obtain();

    expect(token).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 900 });
    expect(sandbox.isValid(token.accessToken)).toBe(true);
    expect(sandbox.stats('klikoo')).toMatchObject({ issued: 1, obtained: 1, rejected: 0 });
    expect(sandbox.requests.at(-1)).toMatchObject({
      target: 'klikoo',
      method: 'POST',
      contentType: 'application/json',
      grantType: 'client_credentials',
      status: 200,
    });
    expect(provider.refresh).toBeUndefined();
  });

  it("is refused permanently, with Klikoo's response code as the reason, when signed with another key", async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const provider = await klikooProfile(stranger);

    const error = await refusal(provider.obtain());

    expect(error).toMatchObject({
      failureClass: 'permanent',
      code: 'PROVIDER_PERMANENT',
      status: 401,
      reason: '401012000',
    });
    expect(error.message).toBe('token endpoint refused the token request: HTTP 401, 401012000');
    expect(sandbox.stats('klikoo')).toMatchObject({ issued: 0, rejected: 1 });
  });

  it('takes a 200 whose response_code is an error for a permanent failure, never a token', async () => {
    const provider = await klikooProfile(secrets.klikoo.privateKeyPem);
    sandbox.injectFault({ type: 'error_in_200', target: 'klikoo' });

    const error = await refusal(provider.obtain());

    expect(error).toMatchObject({ failureClass: 'permanent', status: 200, reason: '401012000' });
  });

  it.each([
    ['not_json', /not JSON/],
    ['missing_access_token', /no access token at \/data\/access_token/],
    ['wrong_types', /no access token at \/data\/access_token/],
  ] as const)('takes a 200 %s answer for a malformed response, never a token', async (variant, message) => {
    const provider = await klikooProfile(secrets.klikoo.privateKeyPem);
    sandbox.injectFault({ type: 'malformed', variant, target: 'klikoo' });

    const error = await refusal(provider.obtain());

    expect(error).toMatchObject({ failureClass: 'permanent', reason: 'malformed_response', status: 200 });
    expect(error.message).toMatch(message);
  });

  it('retries a 503 and a rate limit, as every kind does', async () => {
    const provider = await klikooProfile(secrets.klikoo.privateKeyPem);
    sandbox.injectFault({ type: 'status', status: 503, target: 'klikoo' });
    sandbox.injectFault({ type: 'rate_limit', retryAfterSeconds: 7, target: 'klikoo' });

    const unavailable = await refusal(provider.obtain());
    const limited = await refusal(provider.obtain());
    const token = await provider.obtain();

    expect(unavailable).toMatchObject({ failureClass: 'retryable', status: 503 });
    expect(limited).toMatchObject({ failureClass: 'retryable', status: 429, retryAfterMs: 7000 });
    expect(sandbox.isValid(token.accessToken)).toBe(true);
  });
});

describe("an OAuth 2.0 password-grant profile of kind http, against the sandbox's Keliweb endpoint", () => {
  it('obtains a token and a refresh token with a form body, the RFC 6749 answer mapped by default', async () => {
    const provider = await passwordProfile();

    const token = await provider.obtain();

    expect(token).toEqual({
      accessToken: expect.any(String),
      tokenType: 'Bearer',
      expiresIn: 3600,
      refreshToken: expect.stringMatching(/^def50200/),
      refreshExpiresIn: 864_000,
    });
    expect(sandbox.isValid(token.accessToken)).toBe(true);
    expect(sandbox.requests.at(-1)).toMatchObject({
      target: 'keliweb-api-v2',
      contentType: 'application/x-www-form-urlencoded',
      grantType: 'password',
      status: 200,
    });
  });

  it('refreshes with {{refresh_token}}, and the sandbox revokes the previous pair', async () => {
    const provider = await passwordProfile();
    const first = await provider.obtain();
    clock += 60_000;

    const second = await provider.refresh?.(first.refreshToken ?? '');

    expect(second?.refreshToken).toMatch(/^def50200/);
    expect(second?.refreshToken).not.toBe(first.refreshToken);
    expect(sandbox.isValid(second?.accessToken ?? '')).toBe(true);
    expect(sandbox.isValid(first.accessToken)).toBe(false);
    expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ obtained: 1, refreshed: 1 });
    expect(sandbox.requests.at(-1)).toMatchObject({ grantType: 'refresh_token', status: 200 });
  });

  it('asks to re-authenticate when a spent refresh token is refused with invalid_grant', async () => {
    const provider = await passwordProfile();
    const first = await provider.obtain();
    await provider.refresh?.(first.refreshToken ?? '');

    const error = await refusal(provider.refresh?.(first.refreshToken ?? '') ?? Promise.resolve());

    expect(error).toMatchObject({
      failureClass: 'reauthenticate',
      code: 'PROVIDER_REAUTHENTICATE',
      status: 400,
      reason: 'invalid_grant',
    });
    await expect(provider.obtain()).resolves.toMatchObject({ tokenType: 'Bearer' });
  });

  it('fails permanently with invalid_client when the client secret is wrong', async () => {
    const client = secrets['keliweb-api-v2'];
    let text = documented('## An OAuth 2.0 password grant with refresh');
    text = replaced(text, 'https://api.example.com/oauth/token', sandbox.tokenUrl('keliweb-api-v2'));
    text = replaced(text, '7d0f6c9e-2b8a-4a51-9a43-0d1f8a6b2c11', client.clientId);
    text = replaced(text, 'ops@example.com', client.username);
    text = replaced(text, '${file:/run/secrets/invoices-password}', secretFile('password', client.password));
    const provider = await build(text, { INVOICES_CLIENT_SECRET: `${client.clientSecret}x` });

    const error = await refusal(provider.obtain());

    expect(error).toMatchObject({ failureClass: 'permanent', status: 401, reason: 'invalid_client' });
  });

  it('sends a multipart body when the profile says multipart', async () => {
    const client = secrets['keliweb-fatture'];
    const text = [
      'providers:',
      '  fatture:',
      '    kind: http',
      `    url: ${sandbox.tokenUrl('keliweb-fatture')}`,
      '    secrets: { client_secret: "${env:SECRET}", password: "${env:PASSWORD}" }',
      '    body:',
      '      multipart:',
      '        grant_type: password',
      `        client_id: ${client.clientId}`,
      '        client_secret: "{{secret:client_secret}}"',
      `        username: ${client.username}`,
      '        password: "{{secret:password}}"',
      '',
    ].join('\n');
    const provider = await build(text, { SECRET: client.clientSecret, PASSWORD: client.password });

    const token = await provider.obtain();

    expect(sandbox.isValid(token.accessToken)).toBe(true);
    expect(token.refreshToken).toBeUndefined();
    expect(sandbox.requests.at(-1)).toMatchObject({ contentType: 'multipart/form-data', status: 200 });
  });
});

describe("a JSON client-credentials profile of kind http, against the sandbox's OAuth 2.0 endpoint", () => {
  it('gets a token with a JSON body and the default RFC 6749 mapping', async () => {
    const client = secrets.oauth2;
    const text = [
      'providers:',
      '  generic:',
      '    kind: http',
      `    url: ${sandbox.tokenUrl('oauth2')}`,
      '    secrets: { client_secret: "${env:SECRET}" }',
      '    body:',
      '      json:',
      `        client_id: ${client.clientId}`,
      '        client_secret: "{{secret:client_secret}}"',
      '        grant_type: client_credentials',
      '',
    ].join('\n');
    const provider = await build(text, { SECRET: client.clientSecret });

    const token = await provider.obtain();

    expect(token).toEqual({ accessToken: expect.any(String), tokenType: 'Bearer', expiresIn: 3600 });
    expect(sandbox.isValid(token.accessToken)).toBe(true);
    expect(sandbox.requests.at(-1)).toMatchObject({ target: 'oauth2', contentType: 'application/json', status: 200 });
  });
});
