/**
 * The `oauth2` provider kind: a generic RFC 6749 token endpoint.
 */
import { defineProviderKind } from '../definition.js';
import { createOAuth2Provider } from '../shared/oauth2-client.js';
import { oauth2Schema } from './schema.js';

/** Lifetime assumed for a generic OAuth 2.0 token whose server sends no `expires_in`. */
export const OAUTH2_FALLBACK_SECONDS = 3600;

/** The `oauth2` kind, as the registry lists it. */
export const oauth2Kind = defineProviderKind({
  kind: 'oauth2',
  schema: oauth2Schema,
  expectedLifetime: (config) => config.default_lifetime_seconds ?? OAUTH2_FALLBACK_SECONDS,
  create: (config, { timeoutMs }) =>
    createOAuth2Provider({
      tokenUrl: config.token_url,
      grant: config.grant,
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
      timeoutMs,
    }),
});
