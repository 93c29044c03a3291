/**
 * The standard OAuth 2.0 profile: client credentials (RFC 6749 §4.4) and password
 * (§4.3) grants, refresh (§6), client authentication in the body or HTTP Basic (§2.3.1),
 * error responses (§5.2). oauth4webapi builds the requests and validates the responses;
 * a custom fetch re-encodes its form body as JSON or multipart for the vendors that want
 * that (the generic API of docs/protocols.md takes JSON, Keliweb accepts multipart) and
 * routes every call through the shared transport (timeout, size cap, HTTPS rule, 5xx/429
 * classification).
 * @see https://www.rfc-editor.org/rfc/rfc6749
 * @see docs/protocols.md#oauth-20
 */
import * as oauth from 'oauth4webapi';
import { isLoopbackHost } from '../../common/urls.js';
import { ProviderError } from '../../errors.js';
import type { CallOptions, TokenProvider, TokenSet } from '../contract.js';
import { encodeBody, post } from './http.js';

/** Settings of an OAuth 2.0 token endpoint, resolved from config. */
export interface OAuth2Settings {
  readonly kind?: string;
  readonly tokenUrl: string;
  readonly grant: 'client_credentials' | 'password';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly body: 'form' | 'json' | 'multipart';
  readonly clientAuth: 'body' | 'basic';
  readonly scope?: string | undefined;
  readonly audience?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Used when the server sends no `expires_in`. */
  readonly defaultLifetimeSeconds: number;
  /** Refresh token lifetime when the server does not say (Keliweb: 10 days). */
  readonly refreshLifetimeSeconds?: number | undefined;
  readonly timeoutMs: number;
}

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

/** A fetch for oauth4webapi that re-encodes the body and uses the shared transport. */
function transportFetch(settings: OAuth2Settings, signal: AbortSignal | undefined) {
  return async (url: string, init: oauth.CustomFetchOptions<'POST', URLSearchParams>): Promise<Response> => {
    const fields = Object.fromEntries(init.body.entries());
    const encoded = encodeBody(settings.body, fields);
    const headers: Record<string, string> = { ...init.headers };
    delete headers['content-type'];
    if (encoded.contentType !== undefined) headers['content-type'] = encoded.contentType;
    const raw = await post(
      url,
      { headers, body: encoded.body },
      { timeoutMs: settings.timeoutMs, ...(signal ? { signal } : {}) },
    );
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

/** Builds an OAuth 2.0 provider. */
export function createOAuth2Provider(settings: OAuth2Settings): TokenProvider {
  const tokenUrl = new URL(settings.tokenUrl);
  const as: oauth.AuthorizationServer = { issuer: tokenUrl.origin, token_endpoint: tokenUrl.href };
  const client: oauth.Client = { client_id: settings.clientId };
  const clientAuth =
    settings.clientAuth === 'basic'
      ? oauth.ClientSecretBasic(settings.clientSecret)
      : oauth.ClientSecretPost(settings.clientSecret);

  function requestOptions(call: CallOptions | undefined) {
    return {
      [oauth.customFetch]: transportFetch(settings, call?.signal),
      [oauth.allowInsecureRequests]: isLoopbackHost(tokenUrl.hostname),
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

  return {
    kind: settings.kind ?? 'oauth2',
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
