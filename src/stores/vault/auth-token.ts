/** Token auth: a token given by the operator (environment, or a file read at each login). */

import { valueOrFile } from './auth-file.js';
import type { VaultAuth } from './auth-method.js';

/**
 * Uses the token as is, looking it up at each login so that a wrong token fails at the
 * first call with a clear error and its lifetime is known. A `token` (resolved once at
 * start) is `fixed`: the store can renew it but never replace it. A `token_file` is read
 * again at each login, so whoever writes it (a Vault Agent sink, an operator) can replace
 * the token before it expires.
 * @see https://openbao.org/api-docs/auth/token/#lookup-a-token-self
 */
export function tokenAuth(config: {
  readonly token?: string | undefined;
  readonly token_file?: string | undefined;
}): VaultAuth {
  const read = valueOrFile(config.token, config.token_file, 'the Vault token');
  return async (client) => {
    const token = await read();
    const self = await client.lookupSelf(token);
    // Unknown or expired: give it anyway, the call it was wanted for reports the 403.
    return {
      token,
      ttlSeconds: self?.ttlSeconds ?? 0,
      renewable: self?.renewable ?? false,
      fixed: config.token !== undefined,
      ...(self?.accessor === undefined ? {} : { accessor: self.accessor }),
    };
  };
}
