/** Token auth: a token given by the operator (environment or a token file). */
import type { VaultAuth } from './auth.js';

/**
 * Uses `token` as is, looking it up once so that a wrong token fails at the first call
 * with a clear error and its lifetime is known.
 * @see https://openbao.org/api-docs/auth/token/#lookup-a-token-self
 */
export function tokenAuth(config: { readonly token: string }): VaultAuth {
  return async (client) => {
    const self = await client.lookupSelf(config.token);
    // Unknown or expired: give it anyway, the call it was wanted for reports the 403.
    return { token: config.token, ttlSeconds: self?.ttlSeconds ?? 0, renewable: self?.renewable ?? false };
  };
}
