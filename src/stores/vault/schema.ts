/**
 * The `store: { kind: vault }` section of the config, built with the same field kit as
 * the rest of the schema so credentials are references in the file, never plain text.
 */
import { z } from 'zod';
import { exactlyOne, type FieldKit } from '../../common/fields.js';

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
  const vaultPath = () => (raw ? text() : text().regex(VAULT_PATH, VAULT_PATH_HINT));

  const tokenAuth = z
    .object({
      method: z.literal('token'),
      token: secret()
        .optional()
        .describe('A Vault token, e.g. ${env:VAULT_TOKEN} or ${file:/path/to/token}, read once at start'),
      token_file: text().optional().describe('A file holding the token, read again at each login (a Vault Agent sink)'),
    })
    .strict()
    .superRefine(exactlyOne('token', 'token_file'));

  const appRoleAuth = z
    .object({
      method: z.literal('approle'),
      mount: vaultPath().default('approle').describe('Where the AppRole auth method is mounted'),
      role_id: text(),
      secret_id: secret(),
    })
    .strict();

  const jwtAuth = z
    .object({
      method: z.literal('jwt'),
      mount: vaultPath().default('jwt').describe('Where the JWT/OIDC auth method is mounted'),
      role: text(),
      jwt: secret().optional().describe('The JWT, e.g. ${env:CI_JOB_JWT}, resolved once at start'),
      jwt_file: text().optional().describe('A file holding the JWT, read again at each login (a projected token)'),
    })
    .strict()
    .superRefine(exactlyOne('jwt', 'jwt_file'));

  const kubernetesAuth = z
    .object({
      method: z.literal('kubernetes'),
      mount: vaultPath().default('kubernetes').describe('Where the Kubernetes auth method is mounted'),
      role: text(),
      jwt_file: text().default(KUBERNETES_TOKEN_FILE).describe('The service account token, read again at each login'),
    })
    .strict();

  const awsAuth = z
    .object({
      method: z.literal('aws'),
      mount: vaultPath().default('aws').describe('Where the AWS auth method is mounted'),
      role: text(),
      region: (raw ? text() : text().regex(AWS_REGION, 'must be an AWS region such as eu-west-1'))
        .optional()
        .describe('Region of the STS endpoint the signed request names; the global endpoint (us-east-1) by default'),
      server_id_header: text()
        .optional()
        .describe('Sent, signed, as X-Vault-AWS-IAM-Server-ID; must match iam_server_id_header_value on the mount'),
    })
    .strict();

  return z
    .object({
      kind: z.literal('vault'),
      address: url().describe('The Vault server, e.g. https://vault.example.com:8200'),
      namespace: text().optional().describe('Enterprise/OpenBao namespace, sent as X-Vault-Namespace'),
      mount: vaultPath().default('secret').describe('Mount path of the KV version 2 secrets engine'),
      prefix: vaultPath().default('token-rotator').describe('Path under the mount that holds every record'),
      ca_file: text().optional().describe('PEM file of the CA that signed the Vault server certificate'),
      max_versions: z.number().int().min(1).max(1000).default(10).describe('Versions Vault keeps of each record'),
      custom_metadata: z
        .record(z.string().min(1).max(128), z.string().max(512))
        .refine(
          (entries) => Object.keys(entries).length <= MAX_CUSTOM_METADATA_KEYS,
          `at most ${MAX_CUSTOM_METADATA_KEYS} entries`,
        )
        .optional()
        .describe('Added to the KV metadata of every record, next to managed-by: token-rotator'),
      request_timeout_seconds: seconds().default(10).describe('Longest wait for one Vault request'),
      auth: z.discriminatedUnion('method', [tokenAuth, appRoleAuth, jwtAuth, kubernetesAuth, awsAuth]),
    })
    .strict();
}

/** The Vault store's settings, as resolved. */
export type VaultStoreConfig = z.output<ReturnType<typeof vaultStoreSchema>>;
/** One auth method's settings. */
export type VaultAuthConfig = VaultStoreConfig['auth'];
