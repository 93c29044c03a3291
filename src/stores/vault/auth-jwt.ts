/** JWT auth: a signed JWT (a CI job's or a workload identity's) exchanged for a token. */
import type { VaultAuth } from './auth.js';

/**
 * Logs in at `auth/<mount>/login` with `role` and `jwt`. The JWT is the value its
 * reference resolved to when the config was loaded.
 * @see https://openbao.org/api-docs/auth/jwt/#jwt-login
 */
export function jwtAuth(config: { readonly mount: string; readonly role: string; readonly jwt: string }): VaultAuth {
  return (client) => client.login(config.mount, { role: config.role, jwt: config.jwt });
}
