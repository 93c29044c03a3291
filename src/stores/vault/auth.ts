/**
 * Vault auth methods as strategies: each is a function that logs in with the client and
 * returns a token with its lifetime. Adding a method (Kubernetes, AWS IAM) is one file
 * and one `case` below.
 */
import type { VaultClient, VaultLogin } from './client.js';
import type { VaultAuthConfig } from './config.js';
import { appRoleAuth } from './auth-approle.js';
import { jwtAuth } from './auth-jwt.js';
import { tokenAuth } from './auth-token.js';

/** Obtains a Vault token. Called lazily, and again when Vault stops accepting the token. */
export type VaultAuth = (client: VaultClient) => Promise<VaultLogin>;

/** Builds the strategy a config's `auth` section describes. */
export function authFor(config: VaultAuthConfig): VaultAuth {
  switch (config.method) {
    case 'token':
      return tokenAuth(config);
    case 'approle':
      return appRoleAuth(config);
    case 'jwt':
      return jwtAuth(config);
  }
}
