/**
 * The `oauth2` provider kind: a generic RFC 6749 token endpoint.
 */
import { ProviderError } from '../../errors.js';
import type { TokenProvider } from '../contract.js';
import { defineProviderKind } from '../definition.js';
import { createOAuth2Provider } from '../shared/oauth2-client.js';
import { oauth2Schema } from './schema.js';

/** Lifetime assumed for a generic OAuth 2.0 token whose server sends no `expires_in`. */
export const OAUTH2_FALLBACK_SECONDS = 3600;

/**
 * The `reason` of the permanent failure of a `grant: refresh_token` provider left without
 * a refresh token it can use (never imported, refused, or possibly spent by a runner that
 * died): only a new import brings it back.
 */
export const IMPORT_REQUIRED_REASON = 'refresh_token_required';

/**
 * What such a provider's failure says: the command that brings it back, with the
 * provider's name (a placeholder when it was built without one).
 */
export function importRequiredMessage(name: string | undefined): string {
  return `no usable refresh token and grant refresh_token cannot re-authenticate: import a new one with \`token-rotator import ${name ?? '<provider>'}\``;
}

/**
 * A provider that only refreshes: its `obtain`, which the engine calls when there is no
 * refresh token or the one it had was refused, fails permanently asking for an import.
 */
function refreshOnly(provider: TokenProvider, name: string | undefined): TokenProvider {
  const message = importRequiredMessage(name);
  return {
    kind: provider.kind,
    reauthenticates: false,
    obtain: () => Promise.reject(new ProviderError('permanent', message, { reason: IMPORT_REQUIRED_REASON })),
    ...(provider.refresh === undefined ? {} : { refresh: provider.refresh.bind(provider) }),
    ...(provider.revoke === undefined
      ? {}
      : { revoke: provider.revoke.bind(provider), revokeSuperseded: provider.revokeSuperseded === true }),
  };
}

/** The `oauth2` kind, as the registry lists it. */
export const oauth2Kind = defineProviderKind({
  kind: 'oauth2',
  schema: oauth2Schema,
  expectedLifetime: (config) => config.default_lifetime_seconds ?? OAUTH2_FALLBACK_SECONDS,
  create: (config, { timeoutMs, name }) => {
    const provider = createOAuth2Provider({
      tokenUrl: config.token_url,
      // A refresh-only provider never sends a grant of its own; its `obtain` is replaced below.
      grant: config.grant === 'refresh_token' ? 'client_credentials' : config.grant,
      clientId: config.client_id,
      clientSecret: config.client_secret,
      privateKey: config.private_key,
      keyId: config.key_id,
      assertionAudience: config.assertion_audience,
      tlsCertificate: config.tls_certificate,
      tlsKey: config.tls_key,
      tlsCa: config.tls_ca,
      username: config.username,
      password: config.password,
      body: config.body,
      clientAuth: config.client_auth,
      scope: config.scope,
      audience: config.audience,
      headers: config.headers,
      defaultLifetimeSeconds: config.default_lifetime_seconds ?? OAUTH2_FALLBACK_SECONDS,
      refreshLifetimeSeconds: config.refresh_lifetime_seconds,
      revocationUrl: config.revocation_url,
      revokeSuperseded: config.revoke_superseded,
      timeoutMs,
    });
    return config.grant === 'refresh_token' ? refreshOnly(provider, name) : provider;
  },
});
