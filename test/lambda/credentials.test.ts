/**
 * The Lambda bundle's credential chain (src/runtimes/lambda-credentials.ts) on its own:
 * the environment first, then a container credentials endpoint on loopback, serving what
 * Lambda's does (JSON keys behind an authorization token).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defaultProvider, REFRESH_BEFORE_EXPIRY_MS } from '../../src/runtimes/lambda-credentials.js';
import { explainCredentials } from '../../src/stores/shared/aws-credentials.js';

const ENV_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_CREDENTIAL_EXPIRATION'];
const CONTAINER_KEYS = [
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
];

/** A container credentials endpoint whose answers expire `lifetimeMs` after each fetch (by `Date.now()`). */
async function containerEndpoint(lifetimeMs: number) {
  const token = randomUUID();
  const fetches: { authorization: string | undefined; accessKeyId: string }[] = [];
  const server: Server = createServer((request, response) => {
    const accessKeyId = `container-${fetches.length + 1}`;
    fetches.push({ authorization: request.headers.authorization, accessKeyId });
    response.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        AccessKeyId: accessKeyId,
        SecretAccessKey: randomUUID(),
        Token: randomUUID(),
        Expiration: new Date(Date.now() + lifetimeMs).toISOString(),
      }),
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  vi.stubEnv('AWS_CONTAINER_CREDENTIALS_FULL_URI', `http://127.0.0.1:${(server.address() as AddressInfo).port}/role`);
  vi.stubEnv('AWS_CONTAINER_AUTHORIZATION_TOKEN', token);
  return { token, fetches, close: () => server.close() };
}

beforeEach(() => {
  for (const key of [...ENV_KEYS, ...CONTAINER_KEYS]) vi.stubEnv(key, '');
});

afterEach(() => {
  vi.unstubAllEnvs();
});

describe("the Lambda bundle's credential chain", () => {
  it("takes the execution role's keys from the environment the runtime sets", async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'environment-key');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'environment-secret');
    vi.stubEnv('AWS_SESSION_TOKEN', 'environment-session');

    const credentials = await defaultProvider()();

    expect(credentials).toMatchObject({
      accessKeyId: 'environment-key',
      secretAccessKey: 'environment-secret',
      sessionToken: 'environment-session',
    });
  });

  it('prefers the environment to a container endpoint, as the default chain does', async () => {
    const endpoint = await containerEndpoint(3_600_000);
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'environment-key');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'environment-secret');
    try {
      expect((await defaultProvider()()).accessKeyId).toBe('environment-key');
      expect(endpoint.fetches).toEqual([]);
    } finally {
      endpoint.close();
    }
  });

  it('fetches from the container endpoint with its token, and keeps the keys until 5 minutes before they expire', async () => {
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-01-01T00:00:00Z') });
    const endpoint = await containerEndpoint(3_600_000);
    try {
      const provider = defaultProvider();

      expect((await provider()).accessKeyId).toBe('container-1');
      vi.setSystemTime(Date.now() + 3_600_000 - REFRESH_BEFORE_EXPIRY_MS - 60_000);
      expect((await provider()).accessKeyId).toBe('container-1');
      vi.setSystemTime(Date.now() + 120_000);
      expect((await provider()).accessKeyId).toBe('container-2');
      expect(endpoint.fetches).toEqual([
        { authorization: endpoint.token, accessKeyId: 'container-1' },
        { authorization: endpoint.token, accessKeyId: 'container-2' },
      ]);
    } finally {
      endpoint.close();
      vi.useRealTimers();
    }
  });

  it('with neither source, rejects with the error the store explains', async () => {
    const error = await defaultProvider()().catch((e: unknown) => e);

    expect(error).toMatchObject({ name: 'CredentialsProviderError' });
    expect(explainCredentials(error)).toMatch(
      /^CredentialsProviderError: the AWS SDK found no credentials where it looks/,
    );
  });
});
