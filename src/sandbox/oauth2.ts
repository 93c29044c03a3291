/**
 * A standard OAuth 2.0 token endpoint: client credentials, resource owner password and
 * single-use refresh; JSON, form-urlencoded or multipart bodies; client authentication
 * in the body or as HTTP Basic, never both.
 *
 * @see docs/protocols.md#oauth-20 (one API's "Authorization" page: JSON client credentials)
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-2.3.1 client_secret_basic
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-4.3 password grant
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-4.4 client credentials grant
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-5.2 error responses
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-6 refresh
 */
import { acceptEncoding, parseParams } from './body.js';
import type { Environment, Exchange, GrantNotes, MalformedVariant, Outcome, Protocol, Reply } from './protocol.js';
import { jsonReply, NO_STORE, oauthErrorCode, safeEqual } from './protocol.js';
import type { SandboxTarget } from './types.js';

/** RFC 6749 §3.3: space-separated tokens of printable ASCII without `"` and `\`. */
const SCOPE = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
const BASIC_CHALLENGE = { 'www-authenticate': 'Basic realm="sandbox"' } as const;

function oauthError(
  status: number,
  error: string,
  description: string,
  headers: Readonly<Record<string, string>> = {},
): Reply {
  return jsonReply(status, { error, error_description: description }, headers);
}

function fail(
  notes: GrantNotes,
  status: number,
  error: string,
  description: string,
  headers: Readonly<Record<string, string>> = {},
): Outcome {
  return { reply: oauthError(status, error, description, headers), notes };
}

/** `client_secret_basic` credentials: base64 of the form-urlencoded `id:secret`. */
function decodeBasic(value: string): { id: string; secret: string } | undefined {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2})$/i.exec(value);
  if (match === null || (match[1] ?? '').length % 4 !== 0) return undefined;
  const decoded = Buffer.from(match[1] ?? '', 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 1) return undefined;
  try {
    const formDecode = (part: string): string => decodeURIComponent(part.replace(/\+/g, ' '));
    return { id: formDecode(decoded.slice(0, colon)), secret: formDecode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * The generic OAuth 2.0 token endpoint, `POST {base}/oauth/token`. Refresh tokens are
 * issued only to clients registered with `issueRefreshToken`, for every grant; each is
 * single use, and a reused one revokes its whole family.
 */
export const oauth2: Protocol = {
  async handle(exchange: Exchange, env: Environment): Promise<Outcome> {
    const { target } = exchange;
    const notes: GrantNotes = {};
    if (exchange.method !== 'POST')
      return fail(notes, 405, 'invalid_request', 'The token endpoint only accepts POST', { allow: 'POST' });
    const accepted = acceptEncoding(exchange.media, ['json', 'form', 'multipart']);
    if (!accepted.ok) return fail(notes, 400, 'invalid_request', accepted.reason);
    const parsed = await parseParams(exchange.body, accepted.encoding, exchange.headers['content-type'] ?? '');
    if (!parsed.ok) return fail(notes, 400, 'invalid_request', parsed.reason);
    const params = parsed.params;
    const get = (name: string): string | undefined => {
      const value = params.get(name);
      return value === undefined || value === '' ? undefined : value;
    };

    // Client authentication (RFC 6749 §2.3): exactly one method.
    const authorization = exchange.headers.authorization;
    let clientId: string | undefined;
    let clientSecret: string | undefined;
    let challenge: Readonly<Record<string, string>> = {};
    if (authorization !== undefined) {
      notes.clientAuth = 'basic';
      challenge = BASIC_CHALLENGE;
      const basic = decodeBasic(authorization);
      if (basic === undefined)
        return fail(
          notes,
          401,
          'invalid_client',
          'The Authorization header is not valid client_secret_basic',
          challenge,
        );
      if (params.has('client_secret')) {
        return fail(
          notes,
          400,
          'invalid_request',
          'Use one client authentication method: HTTP Basic or client_secret in the body, not both',
        );
      }
      const bodyId = params.get('client_id');
      if (bodyId !== undefined && bodyId !== basic.id) {
        return fail(
          notes,
          400,
          'invalid_request',
          'client_id in the body differs from the one in the Authorization header',
        );
      }
      clientId = basic.id;
      clientSecret = basic.secret;
    } else {
      clientId = get('client_id');
      clientSecret = get('client_secret');
      if (clientId !== undefined || clientSecret !== undefined) notes.clientAuth = 'body';
    }
    if (clientId === undefined || clientSecret === undefined)
      return fail(notes, 401, 'invalid_client', 'Client authentication is missing');
    const client = env.client(target, clientId);
    if (client === undefined || !safeEqual(clientSecret, client.clientSecret))
      return fail(notes, 401, 'invalid_client', 'Client authentication failed', challenge);

    const scope = params.get('scope');
    const audience = params.get('audience');
    if (scope !== undefined) notes.scope = scope;
    if (audience !== undefined) notes.audience = audience;
    if (scope !== undefined && !SCOPE.test(scope)) return fail(notes, 400, 'invalid_scope', 'The scope is malformed');
    const grantType = get('grant_type');
    if (grantType === undefined) return fail(notes, 400, 'invalid_request', 'Missing parameter grant_type');

    const lifetime = env.lifetime(target);
    const refreshSeconds = client.issueRefreshToken === true ? { refreshSeconds: lifetime.refreshSeconds } : {};
    const requested = { ...(scope === undefined ? {} : { scope }), ...(audience === undefined ? {} : { audience }) };

    if (grantType === 'client_credentials' || grantType === 'password') {
      if (grantType === 'password') {
        if (client.username === undefined || client.password === undefined) {
          return fail(notes, 400, 'unauthorized_client', 'The client may not use the password grant');
        }
        const username = get('username');
        if (username === undefined) return fail(notes, 400, 'invalid_request', 'Missing parameter username');
        const password = get('password');
        if (password === undefined) return fail(notes, 400, 'invalid_request', 'Missing parameter password');
        if (!safeEqual(username, client.username) || !safeEqual(password, client.password)) {
          return fail(notes, 400, 'invalid_grant', 'The resource owner credentials are invalid');
        }
      }
      const tokens = env.ledger.issue({
        target,
        clientId,
        style: 'oauth2',
        accessSeconds: lifetime.accessSeconds,
        ...refreshSeconds,
        ...requested,
      });
      env.count(target, 'obtained');
      env.count(target, 'issued');
      return { reply: success(tokens.accessToken, tokens.refreshToken, lifetime.accessSeconds), notes };
    }

    if (grantType === 'refresh_token') {
      if (client.issueRefreshToken !== true)
        return fail(notes, 400, 'unauthorized_client', 'The client may not use the refresh_token grant');
      const refreshToken = get('refresh_token');
      if (refreshToken === undefined) return fail(notes, 400, 'invalid_request', 'Missing parameter refresh_token');
      const check = env.ledger.spendRefreshToken(target, clientId, refreshToken, scope);
      if (!check.ok) {
        if (check.reason === 'reuse') env.count(target, 'reuseDetected');
        if (check.reason === 'scope')
          return fail(notes, 400, 'invalid_scope', 'The scope exceeds the scope originally granted');
        return fail(notes, 400, 'invalid_grant', 'The refresh token is invalid, expired, revoked or was already used');
      }
      const keptScope = scope ?? check.scope;
      const keptAudience = audience ?? check.audience;
      const kept = {
        ...(keptScope === undefined ? {} : { scope: keptScope }),
        ...(keptAudience === undefined ? {} : { audience: keptAudience }),
      };
      const tokens = env.ledger.issue({
        target,
        clientId,
        style: 'oauth2',
        ...lifetime,
        familyId: check.familyId,
        ...kept,
      });
      env.count(target, 'refreshed');
      env.count(target, 'issued');
      return { reply: success(tokens.accessToken, tokens.refreshToken, lifetime.accessSeconds), notes };
    }

    return fail(notes, 400, 'unsupported_grant_type', `The grant type ${grantType.slice(0, 64)} is not supported`);
  },

  error(status: number, message: string): Reply {
    return oauthError(status, oauthErrorCode(status), message);
  },

  malformed(variant: MalformedVariant, target: SandboxTarget, env: Environment): Reply {
    const expiresIn = env.lifetime(target).accessSeconds;
    if (variant === 'not_json')
      return {
        status: 200,
        headers: { 'content-type': 'application/json', ...NO_STORE },
        body: '<html><body>OK</body></html>',
      };
    if (variant === 'missing_access_token')
      return jsonReply(200, { token_type: 'Bearer', expires_in: expiresIn }, NO_STORE);
    return jsonReply(200, { access_token: 12345, token_type: 'Bearer', expires_in: String(expiresIn) }, NO_STORE);
  },

  errorIn200(): Reply {
    return oauthError(200, 'invalid_request', 'The request could not be served');
  },
};

function success(accessToken: string, refreshToken: string | undefined, expiresIn: number): Reply {
  return jsonReply(
    200,
    {
      access_token: accessToken,
      token_type: 'Bearer',
      expires_in: expiresIn,
      ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
    },
    NO_STORE,
  );
}
