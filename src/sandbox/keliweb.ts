/**
 * Keliweb API v2 and Keliweb Fatture: Laravel Passport (thephpleague/oauth2-server)
 * password grant and single-use refresh, form-urlencoded or multipart bodies.
 *
 * @see docs/protocols.md#keliweb-endpoint-and-request the password and refresh grants, form or multipart
 * @see docs/protocols.md#keliweb-refresh-tokens single use, and what a refresh revokes
 * @see https://oauth2.thephpleague.com/ the server Passport wraps (errors, refresh revocation)
 */
import { acceptEncoding, parseParams } from './body.js';
import type { Environment, Exchange, MalformedVariant, Outcome, Protocol, Reply } from './protocol.js';
import { jsonReply, NO_STORE, oauthErrorCode, safeEqual } from './protocol.js';
import type { RefreshRefusal } from './tokens.js';
import type { SandboxTarget } from './types.js';

const MALFORMED_REQUEST =
  'The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.';
const BAD_CLIENT = 'Client authentication failed';
const BAD_USER = 'The user credentials were incorrect.';
const BAD_REFRESH = 'The refresh token is invalid.';
const UNSUPPORTED_GRANT = 'The authorization grant type is not supported by the authorization server.';

const REFUSAL_HINTS: Record<RefreshRefusal, string> = {
  unknown: 'Cannot decrypt the refresh token',
  other_client: 'Token is not linked to client',
  reuse: 'Token has been revoked',
  revoked: 'Token has been revoked',
  expired: 'Token has expired',
  scope: 'Check the `scope` parameter',
};

/** A league/Passport error body: `error`, `error_description`, optional `hint`, and `message`. */
function leagueError(status: number, error: string, description: string, hint?: string): Reply {
  return jsonReply(status, {
    error,
    error_description: description,
    ...(hint === undefined ? {} : { hint }),
    message: description,
  });
}

function missing(name: string): Outcome {
  return {
    reply: leagueError(400, 'invalid_request', MALFORMED_REQUEST, `Check the \`${name}\` parameter`),
    notes: {},
  };
}

/**
 * The Keliweb token endpoint, `POST {base}/oauth/token`. Each password grant starts a
 * new token family and leaves earlier tokens valid; each refresh spends its refresh
 * token and revokes the access token issued with it at once.
 */
export const keliweb: Protocol = {
  async handle(exchange: Exchange, env: Environment): Promise<Outcome> {
    const { target } = exchange;
    if (exchange.method !== 'POST') {
      const reply = leagueError(405, 'invalid_request', 'The token endpoint only accepts POST');
      return { reply: { ...reply, headers: { ...reply.headers, allow: 'POST' } }, notes: {} };
    }
    const accepted = acceptEncoding(exchange.media, ['form', 'multipart']);
    if (!accepted.ok)
      return { reply: leagueError(400, 'invalid_request', MALFORMED_REQUEST, accepted.reason), notes: {} };
    const parsed = await parseParams(exchange.body, accepted.encoding, exchange.headers['content-type'] ?? '');
    if (!parsed.ok) return { reply: leagueError(400, 'invalid_request', MALFORMED_REQUEST, parsed.reason), notes: {} };
    const params = parsed.params;
    const get = (name: string): string | undefined => {
      const value = params.get(name);
      return value === undefined || value === '' ? undefined : value;
    };

    const grantType = get('grant_type');
    if (grantType === undefined) return missing('grant_type');
    if (grantType !== 'password' && grantType !== 'refresh_token') {
      return {
        reply: leagueError(
          400,
          'unsupported_grant_type',
          UNSUPPORTED_GRANT,
          'Check that all required parameters have been provided',
        ),
        notes: {},
      };
    }
    const clientId = get('client_id');
    if (clientId === undefined) return missing('client_id');
    const clientSecret = get('client_secret');
    if (clientSecret === undefined) return missing('client_secret');
    const client = env.client(target, clientId);
    if (client === undefined || !safeEqual(clientSecret, client.clientSecret)) {
      return { reply: leagueError(401, 'invalid_client', BAD_CLIENT), notes: {} };
    }
    const lifetime = env.lifetime(target);

    if (grantType === 'password') {
      const username = get('username');
      if (username === undefined) return missing('username');
      const password = get('password');
      if (password === undefined) return missing('password');
      const known = client.username !== undefined && client.password !== undefined;
      if (!known || !safeEqual(username, client.username ?? '') || !safeEqual(password, client.password ?? '')) {
        return { reply: leagueError(400, 'invalid_grant', BAD_USER), notes: {} };
      }
      const tokens = env.ledger.issue({ target, clientId, style: 'keliweb', ...lifetime });
      env.count(target, 'obtained');
      env.count(target, 'issued');
      return { reply: success(tokens.accessToken, tokens.refreshToken ?? '', lifetime.accessSeconds), notes: {} };
    }

    const refreshToken = get('refresh_token');
    if (refreshToken === undefined) return missing('refresh_token');
    const check = env.ledger.spendRefreshToken(target, clientId, refreshToken);
    if (!check.ok) {
      if (check.reason === 'reuse') env.count(target, 'reuseDetected');
      return { reply: leagueError(400, 'invalid_grant', BAD_REFRESH, REFUSAL_HINTS[check.reason]), notes: {} };
    }
    const tokens = env.ledger.issue({ target, clientId, style: 'keliweb', ...lifetime, familyId: check.familyId });
    env.count(target, 'refreshed');
    env.count(target, 'issued');
    return { reply: success(tokens.accessToken, tokens.refreshToken ?? '', lifetime.accessSeconds), notes: {} };
  },

  error(status: number, message: string): Reply {
    return leagueError(status, oauthErrorCode(status), message);
  },

  malformed(variant: MalformedVariant, target: SandboxTarget, env: Environment): Reply {
    const expiresIn = env.lifetime(target).accessSeconds;
    if (variant === 'not_json')
      return {
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: '<html><body>Token service</body></html>',
      };
    if (variant === 'missing_access_token')
      return jsonReply(200, { token_type: 'Bearer', expires_in: expiresIn }, NO_STORE);
    return jsonReply(
      200,
      { token_type: 'Bearer', expires_in: String(expiresIn), access_token: 12345, refresh_token: null },
      NO_STORE,
    );
  },

  errorIn200(): Reply {
    return leagueError(200, 'invalid_request', MALFORMED_REQUEST, 'Check the `grant_type` parameter');
  },
};

function success(accessToken: string, refreshToken: string, expiresIn: number): Reply {
  return jsonReply(
    200,
    { token_type: 'Bearer', expires_in: expiresIn, access_token: accessToken, refresh_token: refreshToken },
    NO_STORE,
  );
}
