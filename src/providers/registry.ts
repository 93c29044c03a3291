/**
 * The provider registry: one factory per `kind` of the config's provider union. The
 * mapped type makes the compiler prove every kind has a factory.
 */
import type { ProviderConfig, ProviderConfigOf, ProviderKind } from '../config/schema.js';
import type { TokenProvider } from './contract.js';
import { createKeliwebProvider, KELIWEB_ACCESS_SECONDS } from './keliweb.js';
import { createKlikooProvider, KLIKOO_ACCESS_SECONDS } from './klikoo.js';
import { createOAuth2Provider } from './oauth2.js';

/** Lifetime assumed for a generic OAuth 2.0 token whose server sends no `expires_in`. */
export const OAUTH2_FALLBACK_SECONDS = 3600;

/** How to build one kind of provider. */
export interface ProviderFactory<K extends ProviderKind> {
  create(config: ProviderConfigOf<K>, options: { timeoutMs: number }): TokenProvider;
  /** The lifetime to plan for before the first token reveals the real one. */
  expectedLifetime(config: ProviderConfigOf<K>): number;
  /** Whether the profile can ever hold a refresh token. */
  readonly refreshable: boolean;
}

const factories: { readonly [K in ProviderKind]: ProviderFactory<K> } = {
  oauth2: {
    refreshable: true,
    expectedLifetime: (config) => config.default_lifetime_seconds ?? OAUTH2_FALLBACK_SECONDS,
    create: (config, { timeoutMs }) =>
      createOAuth2Provider({
        tokenUrl: config.token_url,
        grant: config.grant,
        clientId: config.client_id,
        clientSecret: config.client_secret,
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
  },
  keliweb: {
    refreshable: true,
    expectedLifetime: (config) => config.default_lifetime_seconds ?? KELIWEB_ACCESS_SECONDS,
    create: (config, { timeoutMs }) => createKeliwebProvider(config, timeoutMs),
  },
  klikoo: {
    refreshable: false,
    expectedLifetime: (config) => config.default_lifetime_seconds ?? KLIKOO_ACCESS_SECONDS,
    create: (config, { timeoutMs }) => createKlikooProvider(config, timeoutMs),
  },
};

/** The factory for a provider config's kind. */
export function providerFactory<K extends ProviderKind>(kind: K): ProviderFactory<K> {
  return factories[kind];
}

/** Builds the provider a config describes. */
export function createProvider(config: ProviderConfig, options: { timeoutMs: number }): TokenProvider {
  return (providerFactory(config.kind) as ProviderFactory<ProviderKind>).create(config as never, options);
}

/** The lifetime to plan for before the first token. */
export function expectedLifetime(config: ProviderConfig): number {
  return (providerFactory(config.kind) as ProviderFactory<ProviderKind>).expectedLifetime(config as never);
}
