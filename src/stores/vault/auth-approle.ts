/** AppRole auth: a role id and a secret id, for machines. */
import type { VaultAuth } from './auth-method.js';

/**
 * Logs in at `auth/<mount>/login` with `role_id` and `secret_id`.
 * @see https://openbao.org/api-docs/auth/approle/#login-with-approle
 */
export function appRoleAuth(config: {
  readonly mount: string;
  readonly role_id: string;
  readonly secret_id: string;
}): VaultAuth {
  return (client) => client.login(config.mount, { role_id: config.role_id, secret_id: config.secret_id });
}
