/**
 * Vault auth methods as strategies: each is a function that logs in with the client and
 * returns a token with its lifetime. Adding a method is one file and one `case` below.
 * Methods that read a file (`token_file`, `jwt_file`, Kubernetes) read it at each login,
 * so a rotated credential is picked up by the next one.
 */

import { appRoleAuth } from './auth-approle.js';
import { awsAuth } from './auth-aws.js';
import { jwtAuth } from './auth-jwt.js';
import { kubernetesAuth } from './auth-kubernetes.js';
import type { VaultAuth } from './auth-method.js';
import { tokenAuth } from './auth-token.js';
import type { VaultAuthConfig } from './schema.js';

export type { VaultAuth } from './auth-method.js';

/** Builds the strategy a config's `auth` section describes. */
export function authFor(config: VaultAuthConfig): VaultAuth {
  switch (config.method) {
    case 'token':
      return tokenAuth(config);
    case 'approle':
      return appRoleAuth(config);
    case 'jwt':
      return jwtAuth(config);
    case 'kubernetes':
      return kubernetesAuth(config);
    case 'aws':
      return awsAuth(config);
  }
}
