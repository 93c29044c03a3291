/**
 * The standard OAuth 2.0 profile: client credentials (RFC 6749 §4.4) and password
 * (§4.3) grants, refresh (§6), client authentication in the body or HTTP Basic (§2.3.1),
 * by a signed JWT (`private_key_jwt`, RFC 7523 §2.2) or by the TLS client certificate
 * (`tls_client_auth`, RFC 8705 §2.1), error responses (§5.2), and token revocation
 * (RFC 7009) at `revocation_url` with the same client authentication. oauth4webapi builds the
 * requests, signs the assertions and validates the responses; a custom fetch re-encodes
 * its form body as JSON or multipart for the vendors that want that (the generic API of
 * docs/protocols.md takes JSON, Keliweb accepts multipart) and routes every call through
 * the shared transport (timeout, size cap, HTTPS rule, 5xx/429 classification), over a
 * client certificate or a private CA when the config gives one (shared/tls-agent.ts).
 * @see https://www.rfc-editor.org/rfc/rfc6749
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see docs/oauth2-client-auth.md
 * @see docs/revocation.md
 * @see docs/protocols.md#oauth-20
 */
import { createPrivateKey, type KeyObject, webcrypto } from 'node:crypto';
import type { Agent } from 'node:https';
import * as oauth from 'oauth4webapi';
import { isLoopbackHost } from '../../common/urls.js';
import { ProviderError } from '../../errors.js';
import type { CallOptions, TokenProvider, TokenSet, TokenTypeHint } from '../contract.js';
import { encodeBody, post } from './http.js';
import { tlsAgent } from './tls-agent.js';

/** Settings of an OAuth 2.0 token endpoint, resolved from config. */
export interface OAuth2Settings {
  readonly kind?: string;
  readonly tokenUrl: string;
  readonly grant: 'client_credentials' | 'password';
  readonly clientId: string;
  /** For `clientAuth` `body` and `basic`. */
  readonly clientSecret?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly body: 'form' | 'json' | 'multipart';
  readonly clientAuth: OAuth2ClientAuthMethod;
  /** For `private_key_jwt`: the PKCS#8 PEM key that signs the client assertion. */
  readonly privateKey?: string | undefined;
  /** For `private_key_jwt`: the assertion's `kid` header. */
  readonly keyId?: string | undefined;
  /** For `private_key_jwt`: the assertion's `aud`; default the token URL. */
  readonly assertionAudience?: string | undefined;
  /** For `tls_client_auth`: the client certificate (chain), PEM. */
  readonly tlsCertificate?: string | undefined;
  /** For `tls_client_auth`: the certificate's PEM private key. */
  readonly tlsKey?: string | undefined;
  /** Any method: PEM CA certificates the token endpoint's certificate must chain to. */
  readonly tlsCa?: string | undefined;
  readonly scope?: string | undefined;
  readonly audience?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Used when the server sends no `expires_in`. */
  readonly defaultLifetimeSeconds: number;
  /** Refresh token lifetime when the server does not say (Keliweb: 10 days). */
  readonly refreshLifetimeSeconds?: number | undefined;
  readonly timeoutMs: number;
  /**
   * The revocation endpoint (RFC 7009); when set, the provider gets
   * {@link TokenProvider.revoke}, authenticating as at the token endpoint.
   */
  readonly revocationUrl?: string | undefined;
  /** Whether the engine revokes the tokens a rotation superseded ({@link TokenProvider.revokeSuperseded}). */
  readonly revokeSuperseded?: boolean | undefined;
}

/**
 * How the client authenticates at the token endpoint: `body` (`client_secret_post`),
 * `basic` (`client_secret_basic`), `private_key_jwt` or `tls_client_auth`.
 */
export type OAuth2ClientAuthMethod = 'body' | 'basic' | 'private_key_jwt' | 'tls_client_auth';

/** OAuth error codes that mean "the server is overloaded, try later" (RFC 6749 §5.2, §4.1.2.1). */
const RETRYABLE_OAUTH_ERRORS = new Set(['temporarily_unavailable', 'server_error', 'slow_down']);

/**
 * Maps what oauth4webapi threw to a classified {@link ProviderError}. `invalid_grant`
 * on a refresh means the refresh token is dead (re-authenticate); on any other grant it
 * means the credentials are wrong (permanent).
 */
export function classifyOAuthError(error: unknown, grant: string): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    const reason = error.error;
    const failureClass = RETRYABLE_OAUTH_ERRORS.has(reason)
      ? 'retryable'
      : reason === 'invalid_grant' && grant === 'refresh_token'
        ? 'reauthenticate'
        : 'permanent';
    return new ProviderError(
      failureClass,
      `token endpoint refused the ${grant} grant: ${reason} (HTTP ${error.status})`,
      {
        status: error.status,
        reason,
      },
    );
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return new ProviderError(
      'permanent',
      `token endpoint refused the client (HTTP ${error.status}, authentication challenge)`,
      {
        status: error.status,
        reason: 'invalid_client',
      },
    );
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    const status = (error.cause as { status?: unknown } | undefined)?.status;
    return new ProviderError('permanent', `malformed token response: ${error.message}`, {
      ...(typeof status === 'number' ? { status } : {}),
      reason: 'malformed_response',
    });
  }
  return new ProviderError(
    'permanent',
    `token request failed: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/**
 * Maps what a revocation call threw to a classified {@link ProviderError}, as
 * {@link classifyOAuthError} does for token calls, with messages that name the revocation
 * endpoint (never the token): `unsupported_token_type` and `invalid_client` are permanent,
 * `temporarily_unavailable` and a 5xx or 429 retryable.
 * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.2.1
 */
export function classifyRevocationError(error: unknown): ProviderError {
  if (error instanceof ProviderError) return error;
  if (error instanceof oauth.ResponseBodyError) {
    const reason = error.error;
    return new ProviderError(
      RETRYABLE_OAUTH_ERRORS.has(reason) ? 'retryable' : 'permanent',
      `revocation endpoint refused the request: ${reason} (HTTP ${error.status})`,
      { status: error.status, reason },
    );
  }
  if (error instanceof oauth.WWWAuthenticateChallengeError) {
    return new ProviderError(
      'permanent',
      `revocation endpoint refused the client (HTTP ${error.status}, authentication challenge)`,
      { status: error.status, reason: 'invalid_client' },
    );
  }
  if (error instanceof oauth.OperationProcessingError || error instanceof oauth.UnsupportedOperationError) {
    const status = (error.cause as { status?: unknown } | undefined)?.status;
    return new ProviderError('permanent', `unexpected revocation response: ${error.message}`, {
      ...(typeof status === 'number' ? { status } : {}),
      reason: 'malformed_response',
    });
  }
  return new ProviderError(
    'permanent',
    `revocation request failed: ${error instanceof Error ? error.message : String(error)}`,
  );
}

/**
 * A 200 answer is patched in two places before oauth4webapi judges it: an `error`
 * member means failure whatever the status (some servers answer 200 with an error), and
 * a missing `token_type` becomes `Bearer`, which some servers leave out and RFC 6750
 * implies (docs/protocols.md#what-that-page-describes).
 */
function inspectSuccess(status: number, body: Uint8Array): Uint8Array {
  if (status !== 200) return body;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return body; // oauth4webapi reports the parse error
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return body;
  const record = json as Record<string, unknown>;
  if (typeof record['error'] === 'string') {
    throw new ProviderError('permanent', `token endpoint answered HTTP 200 carrying an error: ${record['error']}`, {
      status,
      reason: record['error'],
    });
  }
  if (record['token_type'] === undefined && typeof record['access_token'] === 'string') {
    return Buffer.from(JSON.stringify({ ...record, token_type: 'Bearer' }));
  }
  return body;
}

/**
 * TLS alerts by which a server refuses the client certificate during the handshake (a
 * server that checks it before any HTTP, unlike oidc-provider, which answers
 * `invalid_client`): the same certificate will be refused again, so it is permanent.
 */
const CERTIFICATE_REFUSED =
  /^ERR_SSL_\w*ALERT_(BAD_CERTIFICATE|CERTIFICATE_\w+|UNKNOWN_CA|ACCESS_DENIED|UNSUPPORTED_CERTIFICATE)$/;

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code.startsWith('ERR_SSL_')) return code;
    current = current.cause;
  }
  return undefined;
}

/** A transport failure that is the TLS handshake refusing our certificate, reclassified as permanent. */
function certificateRefusal(error: unknown): ProviderError | undefined {
  if (!(error instanceof ProviderError) || error.failureClass !== 'retryable') return undefined;
  const code = errorCode(error.cause);
  if (code === undefined || !CERTIFICATE_REFUSED.test(code)) return undefined;
  return new ProviderError(
    'permanent',
    `token endpoint refused the client certificate in the TLS handshake (${code})`,
    {
      reason: 'invalid_client',
      cause: error,
    },
  );
}

/** A fetch for oauth4webapi that re-encodes the body and uses the shared transport. */
function transportFetch(settings: OAuth2Settings, agent: Agent | undefined, signal: AbortSignal | undefined) {
  return async (url: string, init: oauth.CustomFetchOptions<'POST', URLSearchParams>): Promise<Response> => {
    const fields = Object.fromEntries(init.body.entries());
    const encoded = encodeBody(settings.body, fields);
    const headers: Record<string, string> = { ...init.headers };
    delete headers['content-type'];
    if (encoded.contentType !== undefined) headers['content-type'] = encoded.contentType;
    let raw: Awaited<ReturnType<typeof post>>;
    try {
      raw = await post(
        url,
        { headers, body: encoded.body },
        { timeoutMs: settings.timeoutMs, ...(signal ? { signal } : {}), ...(agent ? { httpsAgent: agent } : {}) },
      );
    } catch (error) {
      throw (settings.clientAuth === 'tls_client_auth' ? certificateRefusal(error) : undefined) ?? error;
    }
    return new Response(Buffer.from(inspectSuccess(raw.status, raw.body)), {
      status: raw.status,
      headers: raw.headers,
    });
  };
}

function toTokenSet(response: oauth.TokenEndpointResponse, settings: OAuth2Settings): TokenSet {
  const expiresIn =
    response.expires_in !== undefined && response.expires_in > 0
      ? response.expires_in
      : settings.defaultLifetimeSeconds;
  const tokenType = response.token_type.toLowerCase() === 'bearer' ? 'Bearer' : response.token_type;
  const refreshExpiresIn = (response as { refresh_expires_in?: unknown }).refresh_expires_in;
  return {
    accessToken: response.access_token,
    tokenType,
    expiresIn: Math.floor(expiresIn),
    ...(response.refresh_token === undefined ? {} : { refreshToken: response.refresh_token }),
    ...(typeof refreshExpiresIn === 'number' && refreshExpiresIn > 0
      ? { refreshExpiresIn: Math.floor(refreshExpiresIn) }
      : settings.refreshLifetimeSeconds !== undefined && response.refresh_token !== undefined
        ? { refreshExpiresIn: settings.refreshLifetimeSeconds }
        : {}),
  };
}

/**
 * The Web Crypto parameters that sign with `key`. oauth4webapi names the assertion's `alg`
 * after the CryptoKey, so the key's type chooses it: RSA → RS256, EC → ES256/384/512 by
 * curve, Ed25519 → Ed25519 (RFC 9864; the former `EdDSA`).
 * @throws {TypeError} for a key that cannot sign a JWS.
 */
function signingParameters(
  key: KeyObject,
): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams | webcrypto.Algorithm {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      const named =
        curve === 'prime256v1'
          ? 'P-256'
          : curve === 'secp384r1'
            ? 'P-384'
            : curve === 'secp521r1'
              ? 'P-521'
              : undefined;
      if (named === undefined)
        throw new TypeError(`private_key: EC curve ${curve ?? 'unknown'} is not one of P-256, P-384, P-521`);
      return { name: 'ECDSA', namedCurve: named };
    }
    case 'ed25519':
      return { name: 'Ed25519' };
    default:
      throw new TypeError(
        `private_key: a ${key.asymmetricKeyType ?? 'secret'} key cannot sign a client assertion (RSA, EC or Ed25519)`,
      );
  }
}

/**
 * `private_key_jwt` with oauth4webapi's own {@link oauth.PrivateKeyJwt}: the PEM is parsed
 * now (a bad key fails the build, naming the field, never quoting it), imported as a
 * non-extractable CryptoKey at the first call. The assertion's `aud` is `audience`.
 * @see https://www.rfc-editor.org/rfc/rfc7523#section-3
 */
function privateKeyJwt(pem: string, keyId: string | undefined, audience: string): oauth.ClientAuth {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch {
    throw new TypeError('private_key is not a readable PEM private key');
  }
  const parameters = signingParameters(key);
  let strategy: Promise<oauth.ClientAuth> | undefined;
  return async (as, client, body, headers) => {
    strategy ??= webcrypto.subtle
      .importKey('pkcs8', key.export({ format: 'der', type: 'pkcs8' }), parameters, false, ['sign'])
      .then((cryptoKey) =>
        oauth.PrivateKeyJwt(
          { key: cryptoKey, ...(keyId === undefined ? {} : { kid: keyId }) },
          {
            [oauth.modifyAssertion]: (_header, payload) => {
              payload.aud = audience;
            },
          },
        ),
      );
    return (await strategy)(as, client, body, headers);
  };
}

function required(value: string | undefined, field: string, method: string): string {
  if (value === undefined) throw new TypeError(`${field} is required for client_auth ${method}`);
  return value;
}

/** The client-authentication strategy of `settings`, one of oauth4webapi's. */
function clientAuthentication(settings: OAuth2Settings, tokenUrl: URL): oauth.ClientAuth {
  switch (settings.clientAuth) {
    case 'body':
      return oauth.ClientSecretPost(required(settings.clientSecret, 'client_secret', 'body'));
    case 'basic':
      return oauth.ClientSecretBasic(required(settings.clientSecret, 'client_secret', 'basic'));
    case 'private_key_jwt':
      return privateKeyJwt(
        required(settings.privateKey, 'private_key', 'private_key_jwt'),
        settings.keyId,
        settings.assertionAudience ?? tokenUrl.href,
      );
    case 'tls_client_auth':
      if (tokenUrl.protocol !== 'https:') throw new TypeError('tls_client_auth needs an https:// token_url');
      required(settings.tlsCertificate, 'tls_certificate', 'tls_client_auth');
      required(settings.tlsKey, 'tls_key', 'tls_client_auth');
      return oauth.TlsClientAuth();
  }
}

/** The agent that presents the client certificate or trusts `tlsCa`; none: Node's global one. */
function clientTransport(settings: OAuth2Settings): Agent | undefined {
  const mutual = settings.clientAuth === 'tls_client_auth';
  if (!mutual && settings.tlsCa === undefined) return undefined;
  return tlsAgent({
    ...(mutual ? { certificate: settings.tlsCertificate, key: settings.tlsKey } : {}),
    ca: settings.tlsCa,
  });
}

/**
 * Builds an OAuth 2.0 provider.
 * @throws {TypeError} when a key or certificate does not load (the message names the field only).
 */
export function createOAuth2Provider(settings: OAuth2Settings): TokenProvider {
  const tokenUrl = new URL(settings.tokenUrl);
  const revocationUrl = settings.revocationUrl === undefined ? undefined : new URL(settings.revocationUrl);
  const as: oauth.AuthorizationServer = {
    issuer: tokenUrl.origin,
    token_endpoint: tokenUrl.href,
    ...(revocationUrl === undefined ? {} : { revocation_endpoint: revocationUrl.href }),
  };
  const client: oauth.Client = { client_id: settings.clientId };
  const clientAuth = clientAuthentication(settings, tokenUrl);
  const agent = clientTransport(settings);

  function requestOptions(call: CallOptions | undefined, endpoint: URL = tokenUrl) {
    return {
      [oauth.customFetch]: transportFetch(settings, agent, call?.signal),
      [oauth.allowInsecureRequests]: isLoopbackHost(endpoint.hostname),
      ...(settings.headers === undefined ? {} : { headers: { ...settings.headers } }),
    };
  }

  function grantParameters(): Record<string, string> {
    const parameters: Record<string, string> = {};
    if (settings.scope !== undefined) parameters['scope'] = settings.scope;
    if (settings.audience !== undefined) parameters['audience'] = settings.audience;
    if (settings.grant === 'password') {
      parameters['username'] = settings.username ?? '';
      parameters['password'] = settings.password ?? '';
    }
    return parameters;
  }

  /**
   * RFC 7009 §2.1: the token and its type hint, authenticated as at the token endpoint,
   * sent with the token endpoint's body encoding; 200 means revoked or never valid.
   */
  async function revoke(token: string, hint: TokenTypeHint, call?: CallOptions): Promise<void> {
    if (revocationUrl === undefined) throw new ProviderError('permanent', 'no revocation_url is configured');
    try {
      const response = await oauth.revocationRequest(as, client, clientAuth, token, {
        ...requestOptions(call, revocationUrl),
        additionalParameters: { token_type_hint: hint },
      });
      await oauth.processRevocationResponse(response);
    } catch (error) {
      throw classifyRevocationError(error);
    }
  }

  return {
    kind: settings.kind ?? 'oauth2',
    ...(revocationUrl === undefined ? {} : { revoke, revokeSuperseded: settings.revokeSuperseded === true }),
    async obtain(call) {
      try {
        const response =
          settings.grant === 'client_credentials'
            ? await oauth.clientCredentialsGrantRequest(as, client, clientAuth, grantParameters(), requestOptions(call))
            : await oauth.genericTokenEndpointRequest(
                as,
                client,
                clientAuth,
                'password',
                grantParameters(),
                requestOptions(call),
              );
        const result =
          settings.grant === 'client_credentials'
            ? await oauth.processClientCredentialsResponse(as, client, response)
            : await oauth.processGenericTokenEndpointResponse(as, client, response);
        return toTokenSet(result, settings);
      } catch (error) {
        throw classifyOAuthError(error, settings.grant);
      }
    },
    async refresh(refreshToken, call) {
      try {
        const response = await oauth.refreshTokenGrantRequest(
          as,
          client,
          clientAuth,
          refreshToken,
          requestOptions(call),
        );
        return toTokenSet(await oauth.processRefreshTokenResponse(as, client, response), settings);
      } catch (error) {
        throw classifyOAuthError(error, 'refresh_token');
      }
    },
  };
}
