/**
 * Keliweb API v2 and Keliweb Fatture: an OAuth 2.0 password grant with single-use,
 * rotating refresh tokens that live 10 days. The servers behave
 * like thephpleague/oauth2-server: a refresh revokes the previous access token at once,
 * which is why an operator may set `renewal: reauthenticate` for an overlap window.
 * @see docs/protocols.md#keliweb (the vendor's pages, in the project's notes)
 */
import type { TokenProvider } from '../contract.js';
import { createOAuth2Provider } from '../shared/oauth2-client.js';
import type { KeliwebProviderConfig } from './schema.js';

/** Base URLs of the two Keliweb services. */
export const KELIWEB_PRESETS = {
  'api-v2': 'https://apiv2.keliweb.it',
  fatture: 'https://fatture.keliweb.it',
} as const;

/** Access token lifetime Keliweb documents, used when a response omits `expires_in`. */
export const KELIWEB_ACCESS_SECONDS = 3600;

/** Builds a Keliweb provider from its resolved config. */
export function createKeliwebProvider(config: KeliwebProviderConfig, timeoutMs: number): TokenProvider {
  const base = (config.base_url ?? KELIWEB_PRESETS[config.preset ?? 'api-v2']).replace(/\/+$/, '');
  return createOAuth2Provider({
    kind: 'keliweb',
    tokenUrl: `${base}/oauth/token`,
    grant: 'password',
    clientId: config.client_id,
    clientSecret: config.client_secret,
    username: config.username,
    password: config.password,
    body: config.body,
    clientAuth: 'body',
    // The vendor's PHP example sends it; Laravel uses it to answer JSON instead of redirecting.
    headers: { 'X-Requested-With': 'XMLHttpRequest' },
    defaultLifetimeSeconds: config.default_lifetime_seconds ?? KELIWEB_ACCESS_SECONDS,
    refreshLifetimeSeconds: config.refresh_lifetime_seconds,
    timeoutMs,
  });
}
