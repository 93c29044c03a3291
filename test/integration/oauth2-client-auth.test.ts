/**
 * Client authentication beyond a shared secret (issue 14), against a real third-party
 * authorization server: `oidc-provider`, over HTTPS with a test CA made at test time. The
 * provider is built from a config section validated by the `oauth2` schema, exactly as the
 * rotator builds it, and the tokens it gets are checked by the server's own introspection.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
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
  type RefusingServer,
  type SigningKey,
  signingKey,
  startOidcProvider,
  startRefusingServer,
} from '../helpers/oidc-provider.js';
import { listenOnLoopback } from '../helpers/ports.js';

const KEYS = { rsa: signingKey('rsa'), ec: signingKey('ec'), ed25519: signingKey('ed25519') } as const;
const SECOND_KEY = signingKey('rsa');
const STRANGER_KEY = signingKey('rsa');

/** A client registered for the client credentials grant only, authenticating with `method`. */
function registered(clientId: string, method: string, metadata: Record<string, unknown>) {
  return {
    client_id: clientId,
    token_endpoint_auth_method: method,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    ...metadata,
  };
}

function jwksOf(...keys: { key: SigningKey; kid: string }[]) {
  return { keys: keys.map(({ key, kid }) => ({ ...key.publicJwk, kid, use: 'sig' })) };
}

let server: OidcServer;
let refusingServer: RefusingServer;
let trusted: ClientCertificate;

beforeAll(async () => {
  const clients = [
    registered('jwt-rsa', 'private_key_jwt', { jwks: jwksOf({ key: KEYS.rsa, kid: 'rsa-1' }) }),
    registered('jwt-ec', 'private_key_jwt', { jwks: jwksOf({ key: KEYS.ec, kid: 'ec-1' }) }),
    registered('jwt-ed25519', 'private_key_jwt', { jwks: jwksOf({ key: KEYS.ed25519, kid: 'ed-1' }) }),
    registered('jwt-two-keys', 'private_key_jwt', {
      jwks: jwksOf({ key: KEYS.rsa, kid: 'current' }, { key: SECOND_KEY, kid: 'next' }),
    }),
    registered('mtls-client', 'tls_client_auth', { tls_client_auth_subject_dn: 'CN=mtls-client' }),
  ];
  server = await startOidcProvider({ clients });
  refusingServer = await startRefusingServer(server);
  trusted = await clientCertificate(server, 'mtls-client');
});

afterAll(async () => {
  await server?.close();
  await refusingServer?.close();
});

/** Builds the provider a resolved `oauth2` section describes, as the rotator does. */
function providerFor(section: Record<string, unknown>, tokenUrl = server.tokenUrl): TokenProvider {
  const config = oauth2Schema(fieldKit('resolved')).parse({
    kind: 'oauth2',
    token_url: tokenUrl,
    tls_ca: server.ca,
    ...section,
  });
  return oauth2Kind.create(config, { timeoutMs: 10_000 });
}

/** The error `promise` rejected with, which must be a ProviderError. */
async function refusal(promise: Promise<unknown>): Promise<ProviderError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ProviderError);
  return error as ProviderError;
}

/** Every base64 line of a PEM, which must appear in no message. */
function pemLines(pem: string): string[] {
  return pem.split('\n').filter((line) => line.length >= 16 && !line.startsWith('-----'));
}

describe('oauth2 client authentication against oidc-provider', () => {
  describe('private_key_jwt (RFC 7523)', () => {
    it.each([
      ['an RSA key (RS256)', 'jwt-rsa', KEYS.rsa],
      ['an EC P-256 key (ES256)', 'jwt-ec', KEYS.ec],
      ['an Ed25519 key', 'jwt-ed25519', KEYS.ed25519],
    ])(
      'obtains a client-credentials token signed with %s, which the server introspects as active',
      async (_, clientId, key) => {
        const provider = providerFor({
          client_id: clientId,
          client_auth: 'private_key_jwt',
          private_key: key.privateKeyPem,
        });

        const token = await provider.obtain();

        expect(token.tokenType).toBe('Bearer');
        expect(token.expiresIn).toBe(600);
        await expect(server.introspect(token.accessToken)).resolves.toMatchObject({
          active: true,
          client_id: clientId,
        });
      },
    );

    it('signs a fresh assertion for each call, which the server accepts every time (no replayed jti)', async () => {
      const provider = providerFor({
        client_id: 'jwt-rsa',
        client_auth: 'private_key_jwt',
        private_key: KEYS.rsa.privateKeyPem,
      });

      const first = await provider.obtain();
      const second = await provider.obtain();

      expect(second.accessToken).not.toBe(first.accessToken);
      await expect(server.introspect(second.accessToken)).resolves.toMatchObject({ active: true });
    });

    it('names the key by key_id and takes assertion_audience as the aud, both of which the server checks', async () => {
      const section = {
        client_id: 'jwt-two-keys',
        client_auth: 'private_key_jwt',
        private_key: SECOND_KEY.privateKeyPem,
        assertion_audience: server.issuer,
      };

      const token = await providerFor({ ...section, key_id: 'next' }).obtain();
      const wrongKid = await refusal(providerFor({ ...section, key_id: 'current' }).obtain());
      const wrongAudience = await refusal(
        providerFor({ ...section, key_id: 'next', assertion_audience: 'https://elsewhere.example' }).obtain(),
      );

      await expect(server.introspect(token.accessToken)).resolves.toMatchObject({ active: true });
      expect(wrongKid).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client', status: 401 });
      expect(wrongAudience).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client', status: 401 });
    });

    it('fails permanently with invalid_client when signed with a key the server does not hold, quoting no key', async () => {
      const provider = providerFor({
        client_id: 'jwt-rsa',
        client_auth: 'private_key_jwt',
        private_key: STRANGER_KEY.privateKeyPem,
      });
      const refusedBefore = server.answered.refused;

      const error = await refusal(provider.obtain());

      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client', status: 401 });
      expect(error.message).toBe('token endpoint refused the client_credentials grant: invalid_client (HTTP 401)');
      for (const line of pemLines(STRANGER_KEY.privateKeyPem)) expect(JSON.stringify(error)).not.toContain(line);
      expect(server.answered.refused).toBe(refusedBefore + 1);
    });
  });

  describe('tls_client_auth (RFC 8705)', () => {
    it('obtains a client-credentials token over mutual TLS, which the server introspects as active', async () => {
      const provider = providerFor({
        client_id: 'mtls-client',
        client_auth: 'tls_client_auth',
        tls_certificate: trusted.certificate,
        tls_key: trusted.key,
      });

      const token = await provider.obtain();

      expect(token.tokenType).toBe('Bearer');
      await expect(server.introspect(token.accessToken)).resolves.toMatchObject({
        active: true,
        client_id: 'mtls-client',
      });
    });

    it('fails permanently with invalid_client for a certificate from a CA the server does not trust', async () => {
      const stranger = await clientCertificate(server, 'mtls-client', { trusted: false });
      const provider = providerFor({
        client_id: 'mtls-client',
        client_auth: 'tls_client_auth',
        tls_certificate: stranger.certificate,
        tls_key: stranger.key,
      });

      const error = await refusal(provider.obtain());

      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client', status: 401 });
      for (const line of pemLines(stranger.key)) expect(JSON.stringify(error)).not.toContain(line);
    });

    it('fails permanently with invalid_client for a trusted certificate of a subject not registered for the client', async () => {
      const other = await clientCertificate(server, 'someone-else');
      const provider = providerFor({
        client_id: 'mtls-client',
        client_auth: 'tls_client_auth',
        tls_certificate: other.certificate,
        tls_key: other.key,
      });

      const error = await refusal(provider.obtain());

      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client', status: 401 });
    });

    it('fails permanently when the server refuses the certificate in the TLS handshake', async () => {
      const stranger = await clientCertificate(server, 'mtls-client', { trusted: false });
      const provider = providerFor(
        {
          client_id: 'mtls-client',
          client_auth: 'tls_client_auth',
          tls_certificate: stranger.certificate,
          tls_key: stranger.key,
        },
        refusingServer.tokenUrl,
      );

      const error = await refusal(provider.obtain());

      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client' });
      expect(error.message).toMatch(/^token endpoint refused the client certificate in the TLS handshake \(ERR_SSL_/);
    });

    it('presents nothing without tls_client_auth: the same client is then refused', async () => {
      // The CA alone makes the connection trusted; the client certificate is what authenticates.
      const provider = providerFor({ client_id: 'mtls-client', client_auth: 'body', client_secret: 'not-the-way-in' });

      const error = await refusal(provider.obtain());

      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'invalid_client' });
    });
  });

  describe('the mutual-TLS transport', () => {
    it('gives up on a token endpoint that never answers within the timeout, as a retryable failure', async () => {
      const silent = createServer({
        cert: await readFile(join(server.directory, 'server.crt'), 'utf8'),
        key: await readFile(join(server.directory, 'server.key'), 'utf8'),
      });
      silent.on('request', () => {}); // accepts, never answers
      const port = await listenOnLoopback(silent);
      try {
        const config = oauth2Schema(fieldKit('resolved')).parse({
          kind: 'oauth2',
          token_url: `https://127.0.0.1:${port}/token`,
          tls_ca: server.ca,
          client_id: 'mtls-client',
          client_auth: 'tls_client_auth',
          tls_certificate: trusted.certificate,
          tls_key: trusted.key,
        });
        const provider = oauth2Kind.create(config, { timeoutMs: 500 });

        const error = await refusal(provider.obtain());

        expect(error).toMatchObject({ failureClass: 'retryable', ambiguous: true });
        expect(error.message).toBe('token endpoint did not answer within 500 ms');
      } finally {
        silent.closeAllConnections();
        await new Promise<void>((resolveClose) => silent.close(() => resolveClose()));
      }
    });
  });

  describe('building the provider', () => {
    it('refuses a tls_key that is not the key of tls_certificate, naming the fields and quoting neither', () => {
      const wrongKey = KEYS.ec.privateKeyPem;

      const build = () =>
        providerFor({
          client_id: 'mtls-client',
          client_auth: 'tls_client_auth',
          tls_certificate: trusted.certificate,
          tls_key: wrongKey,
        });

      expect(build).toThrow('tls_key is not the key of tls_certificate');
      try {
        build();
      } catch (error) {
        for (const line of pemLines(wrongKey)) expect(String(error)).not.toContain(line);
      }
    });
  });
});
