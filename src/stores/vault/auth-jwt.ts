/** JWT auth: a signed JWT (a CI job's or a workload identity's) exchanged for a token. */

import { valueOrFile } from './auth-file.js';
import type { VaultAuth } from './auth-method.js';

/**
 * Logs in at `auth/<mount>/login` with `role` and `jwt`. The JWT is either the value its
 * reference resolved to when the config was loaded (`jwt`), or the content of `jwt_file`
 * read at each login, so a projected token that the kubelet rotates is picked up.
 * @see https://openbao.org/api-docs/auth/jwt/#jwt-login
 */
export function jwtAuth(config: {
  readonly mount: string;
  readonly role: string;
  readonly jwt?: string | undefined;
  readonly jwt_file?: string | undefined;
}): VaultAuth {
  const read = valueOrFile(config.jwt, config.jwt_file, 'the JWT');
  return async (client) => client.login(config.mount, { role: config.role, jwt: await read() });
}
