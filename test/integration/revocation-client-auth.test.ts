/**
 * `TokenProvider.revoke` of the `oauth2` kind (RFC 7009, issue 14) against a real
 * authorization server, `oidc-provider` with its revocation endpoint on: the client
 * authenticates at the revocation endpoint as at the token endpoint, by each method
 * (`basic`, `body`, `private_key_jwt`, `tls_client_auth`), and the server's introspection
 * shows the revoked token inactive. An unknown token is no error (RFC 7009 §2.2); a
 * refused client is a permanent ProviderError that never quotes the token.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/common/fields.js';
import { ProviderError } from '../../src/errors.js';
import type { TokenProvider } from '../../src/providers/contract.js';
import { oauth2Kind } from '../../src/providers/oauth2/kind.js';
import { oauth2Schema } from '../../src/providers/oauth2/schema.js';
import {
  type ClientCertificate,
  clientCertificate,
  type OidcServer,
  signingKey,
  startOidcProvider,
} from '../helpers/oidc-provider.js';
import { listenOnLoopback } from '../helpers/ports.js';

const KEY = signingKey('ec');
const SECRET = randomBytes(24).toString('hex');

function registered(clientId: string, method: string, metadata: Record<string, unknown> = {}) {
  return {
    client_id: clientId,
    token_endpoint_auth_method: method,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...metadata,
  };
}

let server: OidcServer;
let trusted: ClientCertificate;

beforeAll(async () => {
  server = await startOidcProvider({
    revocation: true,
    clients: [
      registered('basic-client', 'client_secret_basic', { client_secret: SECRET }),
      registered('body-client', 'client_secret_post', { client_secret: SECRET }),
      registered('jwt-client', 'private_key_jwt', { jwks: { keys: [{ ...KEY.publicJwk, kid: 'k1', use: 'sig' }] } }),
      registered('mtls-client', 'tls_client_auth', { tls_client_auth_subject_dn: 'CN=mtls-client' }),
    ],
  });
  trusted = await clientCertificate(server, 'mtls-client');
});

afterAll(async () => {
  await server?.close();
});

/** Builds the provider a resolved `oauth2` section describes, as the rotator does. */
function providerFor(section: Record<string, unknown>): TokenProvider {
  const config = oauth2Schema(fieldKit('resolved')).parse({
    kind: 'oauth2',
    token_url: server.tokenUrl,
    revocation_url: server.revocationUrl,
    tls_ca: server.ca,
    ...section,
  });
  return oauth2Kind.create(config, { timeoutMs: 10_000 });
}

const sections = {
  basic: { client_id: 'basic-client', client_auth: 'basic', client_secret: SECRET },
  body: { client_id: 'body-client', client_auth: 'body', client_secret: SECRET },
  private_key_jwt: {
    client_id: 'jwt-client',
    client_auth: 'private_key_jwt',
    private_key: KEY.privateKeyPem,
    key_id: 'k1',
  },
  tls_client_auth: { client_id: 'mtls-client', client_auth: 'tls_client_auth' },
} as const;

function sectionOf(method: keyof typeof sections): Record<string, unknown> {
  return method === 'tls_client_auth'
    ? { ...sections[method], tls_certificate: trusted.certificate, tls_key: trusted.key }
    : sections[method];
}

describe('oauth2 provider revoke', () => {
  it.each(Object.keys(sections) as (keyof typeof sections)[])(
    'revokes an access token authenticating by %s, and the server introspects it as inactive',
    async (method) => {
      const provider = providerFor(sectionOf(method));
      const { accessToken } = await provider.obtain();
      await expect(server.introspect(accessToken)).resolves.toMatchObject({ active: true });

      await provider.revoke!(accessToken, 'access_token');

      await expect(server.introspect(accessToken)).resolves.toMatchObject({ active: false });
    },
  );

  it('revokes only the token it is given', async () => {
    const provider = providerFor(sectionOf('basic'));
    const [first, second] = [await provider.obtain(), await provider.obtain()];

    await provider.revoke!(first.accessToken, 'access_token');

    await expect(server.introspect(first.accessToken)).resolves.toMatchObject({ active: false });
    await expect(server.introspect(second.accessToken)).resolves.toMatchObject({ active: true });
  });

  it('accepts an unknown or already revoked token, as RFC 7009 §2.2 answers 200 for it', async () => {
    const provider = providerFor(sectionOf('body'));
    const { accessToken } = await provider.obtain();
    await provider.revoke!(accessToken, 'access_token');

    await expect(provider.revoke!(accessToken, 'access_token')).resolves.toBeUndefined();
    await expect(
      provider.revoke!(`never-issued-${randomBytes(8).toString('hex')}`, 'refresh_token'),
    ).resolves.toBeUndefined();
  });

  it('fails permanently with invalid_client when the server refuses the client, never quoting the token', async () => {
    const good = providerFor(sectionOf('basic'));
    const { accessToken } = await good.obtain();
    const wrong = providerFor({ ...sections.basic, client_secret: randomBytes(24).toString('hex') });

    const error = await wrong.revoke!(accessToken, 'access_token').catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client' });
    expect((error as ProviderError).message).toMatch(/revocation endpoint/);
    expect((error as ProviderError).message).not.toContain(accessToken);
    expect(JSON.stringify(error)).not.toContain(accessToken);
    await expect(server.introspect(accessToken)).resolves.toMatchObject({ active: true });
  });

  it('gives up within the request timeout when the revocation endpoint never answers, as retryable', async () => {
    const silent: Server = createServer(() => {}); // reads the request, never answers
    const port = await listenOnLoopback(silent);
    try {
      const config = oauth2Schema(fieldKit('resolved')).parse({
        kind: 'oauth2',
        token_url: server.tokenUrl,
        revocation_url: `http://127.0.0.1:${port}/revoke`,
        tls_ca: server.ca,
        ...sections.basic,
      });
      const provider = oauth2Kind.create(config, { timeoutMs: 300 });
      const started = performance.now();

      const error = await provider.revoke!('some-token-value', 'access_token').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ failureClass: 'retryable' });
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      silent.closeAllConnections();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  it('has no revoke without revocation_url, and revokeSuperseded only as configured', () => {
    const config = oauth2Schema(fieldKit('resolved')).parse({
      kind: 'oauth2',
      token_url: server.tokenUrl,
      tls_ca: server.ca,
      ...sections.basic,
    });
    expect(oauth2Kind.create(config, { timeoutMs: 1000 }).revoke).toBeUndefined();
    expect(providerFor(sectionOf('basic')).revokeSuperseded).toBe(false);
    expect(providerFor({ ...sectionOf('basic'), revoke_superseded: true }).revokeSuperseded).toBe(true);
  });
});
