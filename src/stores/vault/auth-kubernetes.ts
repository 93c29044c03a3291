/** Kubernetes auth: the pod's service account token, checked by Vault with a TokenReview. */

import { readCredentialFile } from './auth-file.js';
import type { VaultAuth } from './auth-method.js';

/**
 * Logs in at `auth/<mount>/login` with `role` and the service account token read from
 * `jwt_file` at each login: projected tokens are short-lived and the kubelet rewrites the
 * file, so a token read once at start would be refused an hour later. Vault parses the
 * token's claims (service account name, namespace, uid) against the role, then asks the
 * Kubernetes API (`TokenReview`) whether the token is still valid.
 * @see https://openbao.org/api-docs/auth/kubernetes/#login
 * @see https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/
 */
export function kubernetesAuth(config: {
  readonly mount: string;
  readonly role: string;
  readonly jwt_file: string;
}): VaultAuth {
  return async (client) => {
    const jwt = await readCredentialFile(config.jwt_file, 'the Kubernetes service account token');
    return client.login(config.mount, { role: config.role, jwt });
  };
}
