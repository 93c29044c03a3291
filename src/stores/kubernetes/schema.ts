/**
 * The `store: { kind: kubernetes }` section of the config. It holds no credential: the
 * store authenticates as the pod's service account (in-cluster) or as a kubeconfig user,
 * both read from files the platform keeps.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';

/**
 * The Deployment annotation naming the providers whose new token restarts it: `klikoo` or
 * `klikoo, billing` (see `restart.ts`). Here, with the config field it serves, so that
 * reading the config does not load the Kubernetes client.
 */
export const RESTART_ON_ROTATION_ANNOTATION = 'token-rotator/restart-on-rotation';

/** The default of `restart_min_interval_seconds`: at most one restart of a Deployment per 5 minutes. */
export const DEFAULT_RESTART_MIN_INTERVAL_SECONDS = 300;

/** A namespace name: a DNS-1123 label. */
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * A prefix that keeps a Secret name valid: empty, or the start of a DNS-1123 subdomain
 * whose next character is a letter or digit (so it may end in `-` or `.`), at most 200
 * characters so that every record path still fits the 253 of a name.
 */
export const MAX_PREFIX_LENGTH = 200;
const PREFIX = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*([a-z0-9][-a-z0-9]*)?$/;

/** True when `prefix` can start a Secret name (see {@link PREFIX}). */
export function isSecretNamePrefix(prefix: string): boolean {
  return prefix.length <= MAX_PREFIX_LENGTH && PREFIX.test(prefix);
}

/**
 * The schema of the Kubernetes store section for one pass (raw or resolved).
 * @example
 * ```yaml
 * store:
 *   kind: kubernetes
 *   namespace: token-rotator   # default: the pod's own namespace (in-cluster) or the context's
 *   prefix: token-rotator-     # Secret token-rotator-tokens-<provider>
 *   # kubeconfig: /etc/token-rotator/kubeconfig   # default: $KUBECONFIG, else in-cluster
 *   # context: rotator                            # default: the kubeconfig's current-context
 *   # restart_on_rotation: true        # rollout-restart annotated Deployments on a new token (default: false)
 *   # restart_min_interval_seconds: 300 # at most one restart of a Deployment per interval (the default)
 * ```
 */
export function kubernetesStoreSchema(kit: FieldKit) {
  const { raw, text, seconds } = kit;
  return z.strictObject({
    kind: z.literal('kubernetes'),
    namespace: z
      .optional(raw ? text() : text().check(z.regex(NAMESPACE, 'must be a namespace name (a DNS-1123 label)')))
      .check(
        z.describe("Namespace of the Secrets; default: the pod's own (in-cluster), else the context's, else default"),
      ),
    prefix: z
      ._default(
        raw
          ? z.string()
          : z
              .string()
              .check(
                z.refine(
                  isSecretNamePrefix,
                  `must be lower-case letters, digits, "-" and "." that can start a Secret name, at most ${MAX_PREFIX_LENGTH} characters`,
                ),
              ),
        'token-rotator-',
      )
      .check(z.describe('Start of every Secret name: record tokens/<p> is the Secret <prefix>tokens-<p>')),
    kubeconfig: z
      .optional(text())
      .check(z.describe('A kubeconfig file; default: $KUBECONFIG if set, else in-cluster, else ~/.kube/config')),
    context: z.optional(text()).check(z.describe("The kubeconfig context to use; default: the file's current-context")),
    request_timeout_seconds: z._default(seconds(), 10).check(z.describe('Longest wait for one API request')),
    // Optional without a default so that a section written by hand (tests, library users)
    // need not name them; the factory applies the defaults.
    restart_on_rotation: z
      .optional(z.boolean())
      .check(
        z.describe(
          `Rollout-restart the Deployments of the namespace annotated ${RESTART_ON_ROTATION_ANNOTATION}: <provider> (comma-separated list allowed) when that provider gets a new token; needs the Role of deploy/kubernetes/rbac/restart; default: false`,
        ),
      ),
    restart_min_interval_seconds: z
      .optional(seconds())
      .check(
        z.describe(
          `At most one restart on rotation of a Deployment per this many seconds (a skipped restart happens at the next rotation); default: ${DEFAULT_RESTART_MIN_INTERVAL_SECONDS}`,
        ),
      ),
  });
}

/** The Kubernetes store's settings, as resolved. */
export type KubernetesStoreConfig = z.output<ReturnType<typeof kubernetesStoreSchema>>;
