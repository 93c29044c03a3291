/**
 * The `store: { kind: vault }` section of the config, built with the same field kit as
 * the rest of the schema so credentials are references in the file, never plain text.
 */
import { exactlyOne, type FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';

/** A Vault path of one or more `[A-Za-z0-9._-]` segments: a mount or the records' prefix. */
const VAULT_PATH = /^[A-Za-z0-9_][A-Za-z0-9._-]*(\/[A-Za-z0-9_][A-Za-z0-9._-]*)*$/;
const VAULT_PATH_HINT =
  'must be slash-separated segments of letters, digits, ".", "_" and "-", without leading or trailing slash';

/** Vault's limits on KV v2 `custom_metadata` (one key of 64 is ours: `managed-by`). */
const MAX_CUSTOM_METADATA_KEYS = 63;

/** Where Kubernetes mounts a pod's service account token. */
export const KUBERNETES_TOKEN_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** An AWS region name: `us-east-1`, `eu-central-2`, `us-gov-west-1`, `cn-north-1`. */
const AWS_REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;

/**
 * The schema of the Vault store section for one pass (raw or resolved).
 * @example
 * ```yaml
 * store:
 *   kind: vault
 *   address: https://vault.example.com:8200
 *   mount: secret            # a KV v2 engine
 *   prefix: token-rotator    # records at secret/data/token-rotator/<record path>
 *   auth:
 *     method: approle
 *     role_id: 6d4f…
 *     secret_id: ${file:/run/secrets/vault-secret-id}
 *   # or: { method: kubernetes, role: token-rotator }
 *   # or: { method: jwt, role: rotator, jwt_file: /var/run/secrets/tokens/vault }
 *   # or: { method: aws, role: token-rotator, server_id_header: vault.example.com }
 * ```
 */
export function vaultStoreSchema(kit: FieldKit) {
  const { raw, text, secret, url, seconds } = kit;
  const vaultPath = () => (raw ? text() : text().check(z.regex(VAULT_PATH, VAULT_PATH_HINT)));

  const tokenAuth = z
    .strictObject({
      method: z.literal('token'),
      token: z
        .optional(secret())
        .check(z.describe('A Vault token, e.g. ${env:VAULT_TOKEN} or ${file:/path/to/token}, read once at start')),
      token_file: z
        .optional(text())
        .check(z.describe('A file holding the token, read again at each login (a Vault Agent sink)')),
    })
    .check(z.superRefine(exactlyOne('token', 'token_file')));

  const appRoleAuth = z.strictObject({
    method: z.literal('approle'),
    mount: z._default(vaultPath(), 'approle').check(z.describe('Where the AppRole auth method is mounted')),
    role_id: text(),
    secret_id: secret(),
  });

  const jwtAuth = z
    .strictObject({
      method: z.literal('jwt'),
      mount: z._default(vaultPath(), 'jwt').check(z.describe('Where the JWT/OIDC auth method is mounted')),
      role: text(),
      jwt: z.optional(secret()).check(z.describe('The JWT, e.g. ${env:CI_JOB_JWT}, resolved once at start')),
      jwt_file: z
        .optional(text())
        .check(z.describe('A file holding the JWT, read again at each login (a projected token)')),
    })
    .check(z.superRefine(exactlyOne('jwt', 'jwt_file')));

  const kubernetesAuth = z.strictObject({
    method: z.literal('kubernetes'),
    mount: z._default(vaultPath(), 'kubernetes').check(z.describe('Where the Kubernetes auth method is mounted')),
    role: text(),
    jwt_file: z
      ._default(text(), KUBERNETES_TOKEN_FILE)
      .check(z.describe('The service account token, read again at each login')),
  });

  const awsAuth = z.strictObject({
    method: z.literal('aws'),
    mount: z._default(vaultPath(), 'aws').check(z.describe('Where the AWS auth method is mounted')),
    role: text(),
    region: z
      .optional(raw ? text() : text().check(z.regex(AWS_REGION, 'must be an AWS region such as eu-west-1')))
      .check(
        z.describe('Region of the STS endpoint the signed request names; the global endpoint (us-east-1) by default'),
      ),
    server_id_header: z
      .optional(text())
      .check(
        z.describe('Sent, signed, as X-Vault-AWS-IAM-Server-ID; must match iam_server_id_header_value on the mount'),
      ),
  });

  return z.strictObject({
    kind: z.literal('vault'),
    address: url().check(z.describe('The Vault server, e.g. https://vault.example.com:8200')),
    namespace: z.optional(text()).check(z.describe('Enterprise/OpenBao namespace, sent as X-Vault-Namespace')),
    mount: z._default(vaultPath(), 'secret').check(z.describe('Mount path of the KV version 2 secrets engine')),
    prefix: z._default(vaultPath(), 'token-rotator').check(z.describe('Path under the mount that holds every record')),
    ca_file: z.optional(text()).check(z.describe('PEM file of the CA that signed the Vault server certificate')),
    max_versions: z
      ._default(z.number().check(z.int(), z.minimum(1), z.maximum(1000)), 10)
      .check(z.describe('Versions Vault keeps of each record')),
    custom_metadata: z
      .optional(
        z
          .record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(512)))
          .check(
            z.refine(
              (entries) => Object.keys(entries).length <= MAX_CUSTOM_METADATA_KEYS,
              `at most ${MAX_CUSTOM_METADATA_KEYS} entries`,
            ),
          ),
      )
      .check(z.describe('Added to the KV metadata of every record, next to managed-by: token-rotator')),
    request_timeout_seconds: z._default(seconds(), 10).check(z.describe('Longest wait for one Vault request')),
    auth: z.discriminatedUnion('method', [tokenAuth, appRoleAuth, jwtAuth, kubernetesAuth, awsAuth]),
  });
}

/** The Vault store's settings, as resolved. */
export type VaultStoreConfig = z.output<ReturnType<typeof vaultStoreSchema>>;
/** One auth method's settings. */
export type VaultAuthConfig = VaultStoreConfig['auth'];
