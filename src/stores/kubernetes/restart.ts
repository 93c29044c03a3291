/**
 * Restart on rotation, a feature of the Kubernetes store (off by default,
 * `store.restart_on_rotation: true`): when the store replaces a provider's public record
 * `tokens/<p>` with one of a higher `generation`, every Deployment of the store's namespace
 * annotated `token-rotator/restart-on-rotation: <p>` (a comma-separated list of providers
 * is allowed) gets a rollout restart, for workloads that read their token only at start.
 *
 * - The patch is the one `kubectl rollout restart` sends: a strategic merge patch that sets
 *   `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` to the time
 *   in RFC 3339 (whole seconds, as Go's `time.RFC3339`); the pod template changes, so the
 *   Deployment controller rolls its pods. A paused Deployment is skipped, as kubectl
 *   refuses it.
 * - Rate limit, per Deployment: no restart when its `restartedAt` (ours or anyone's
 *   `kubectl rollout restart`) is less than `restart_min_interval_seconds` old (default
 *   {@link DEFAULT_RESTART_MIN_INTERVAL_SECONDS}). The limit is read from the Deployment
 *   itself, so it holds across processes (a CronJob's runs, a daemon's replicas); a skipped
 *   restart is logged and happens at the provider's next rotation. Within one process,
 *   restarts run one after another, so two providers rotated in the same pass restart a
 *   Deployment they share once.
 * - Never fails the write nor the pass: a failure (no Role to list or patch Deployments,
 *   an outage) is logged with `err: {class: 'restart', code: KUBERNETES_RESTART_FAILED,
 *   message}`; the record is written all the same.
 *
 * Why the store: it is the one place that sees the old and the new public record at the
 * compare-and-set, and the only one that speaks to the Kubernetes API. The engine writes
 * the public record once per new generation (the winner of the compare-and-set), so a new
 * token restarts once however many runners race; a dry run writes nothing, so restarts
 * nothing; a republish of the same generation (a deleted or damaged Secret) restarts nothing.
 *
 * @see https://github.com/kubernetes/kubernetes/blob/v1.30.14/staging/src/k8s.io/kubectl/pkg/cmd/rollout/rollout_restart.go
 * @see https://github.com/kubernetes/kubernetes/blob/v1.30.14/staging/src/k8s.io/kubectl/pkg/polymorphichelpers/objectrestarter.go
 */
import type { Logger } from '../../observability/logger.js';
import { type DeploymentSummary, KubernetesHttpError } from './client.js';
import { DEFAULT_RESTART_MIN_INTERVAL_SECONDS, RESTART_ON_ROTATION_ANNOTATION } from './schema.js';

export { DEFAULT_RESTART_MIN_INTERVAL_SECONDS, RESTART_ON_ROTATION_ANNOTATION };

/** The pod-template annotation `kubectl rollout restart` sets. */
export const RESTARTED_AT_ANNOTATION = 'kubectl.kubernetes.io/restartedAt';

/** The field manager of the store's patches, as `managedFields` shows it. */
export const RESTART_FIELD_MANAGER = 'token-rotator';

/** The code of a failed restart, in the error shape of log lines (`err: {class: 'restart', code, message}`). */
export const RESTART_FAILED = 'KUBERNETES_RESTART_FAILED';

/** The providers an annotation value names: comma-separated, blanks around names ignored. */
export function providersOf(annotation: string | undefined): string[] {
  if (annotation === undefined) return [];
  return annotation
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

/** `at` as Go's `time.RFC3339` writes it in UTC: whole seconds, `Z` (`2026-11-21T10:00:00Z`). */
export function rfc3339(at: number): string {
  return new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The body `kubectl rollout restart` sends as a strategic merge patch, for a restart at `at`.
 * @example restartPatch(Date.parse('2026-11-21T10:00:00Z'))
 * // { spec: { template: { metadata: { annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-21T10:00:00Z' } } } } }
 */
export function restartPatch(at: number): {
  spec: { template: { metadata: { annotations: Record<string, string> } } };
} {
  return { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: rfc3339(at) } } } } };
}

/** What to do with one annotated Deployment. */
export type RestartDecision =
  | { readonly action: 'restart' }
  | { readonly action: 'skip'; readonly reason: 'paused' }
  | {
      readonly action: 'skip';
      readonly reason: 'interval';
      /** Its current `restartedAt`. */
      readonly restartedAt: string;
      /** When the limit allows the next restart. */
      readonly nextAllowedAt: string;
    };

/**
 * Whether `deployment` may be restarted at `now`: not when paused, nor when its
 * `restartedAt` is less than `minIntervalMs` away from `now`, before or after (another
 * runner's clock may be a little ahead). A `restartedAt` that is no time, or further in the
 * future than the interval, does not block: it cannot be trusted to mean a recent restart.
 */
export function decideRestart(deployment: DeploymentSummary, now: number, minIntervalMs: number): RestartDecision {
  if (deployment.paused) return { action: 'skip', reason: 'paused' };
  const restartedAt = deployment.templateAnnotations[RESTARTED_AT_ANNOTATION];
  const last = restartedAt === undefined ? Number.NaN : Date.parse(restartedAt);
  if (restartedAt !== undefined && Number.isFinite(last) && Math.abs(now - last) < minIntervalMs) {
    return { action: 'skip', reason: 'interval', restartedAt, nextAllowedAt: rfc3339(last + minIntervalMs) };
  }
  return { action: 'restart' };
}

/** True when replacing a public record of generation `before` by one of `after` is a new token. */
export function isNewGeneration(before: number | undefined, after: number | undefined): boolean {
  return before !== undefined && after !== undefined && after > before;
}

/** The calls of the Kubernetes API a {@link RolloutRestarter} makes. */
export interface RestartClient {
  listDeployments(namespace: string): Promise<DeploymentSummary[]>;
  patchDeployment(namespace: string, name: string, patch: unknown, fieldManager: string): Promise<DeploymentSummary>;
}

/** Options of {@link RolloutRestarter}. */
export interface RolloutRestarterOptions {
  readonly client: RestartClient;
  readonly namespace: string;
  readonly minIntervalSeconds: number;
  readonly logger: Logger;
  /** Default: `Date.now`. */
  readonly now?: () => number;
  /** Who the store is to the API, for the message of a refusal (`in-cluster`, `kubeconfig …`). */
  readonly source?: string;
}

/** What one {@link RolloutRestarter.restartFor} did. */
export interface RestartReport {
  /** Deployments patched. */
  readonly restarted: readonly string[];
  /** Deployments annotated for the provider and left alone, with why. */
  readonly skipped: readonly { readonly name: string; readonly reason: 'paused' | 'interval' }[];
  /** Deployments whose patch failed, or `['*']` when they could not be listed. */
  readonly failed: readonly string[];
}

/** Restarts the Deployments annotated for a provider; see the module doc. */
export class RolloutRestarter {
  readonly #client: RestartClient;
  readonly #namespace: string;
  readonly #minIntervalMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #source: string | undefined;
  /** The restart in progress: the next waits for it, so it sees the `restartedAt` it set. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: RolloutRestarterOptions) {
    this.#client = options.client;
    this.#namespace = options.namespace;
    this.#minIntervalMs = options.minIntervalSeconds * 1000;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#source = options.source;
  }

  /**
   * Restarts every Deployment of the namespace annotated for `provider`, within the rate
   * limit, after every restart this one started earlier. Never throws: failures are logged.
   */
  restartFor(provider: string, generation: number): Promise<RestartReport> {
    const run = this.#queue
      .then(() => this.#restart(provider, generation))
      .catch((error: unknown): RestartReport => {
        // #restart logs what it expects; anything else is logged here, never thrown at the write.
        this.#logger.error(
          { provider, generation, namespace: this.#namespace, err: this.#errorOf(error, 'list') },
          'restart on rotation failed: the token was written',
        );
        return { restarted: [], skipped: [], failed: ['*'] };
      });
    this.#queue = run;
    return run;
  }

  async #restart(provider: string, generation: number): Promise<RestartReport> {
    const log = this.#logger.child({ provider, generation, namespace: this.#namespace });
    const restarted: string[] = [];
    const skipped: { name: string; reason: 'paused' | 'interval' }[] = [];
    const failed: string[] = [];
    let deployments: DeploymentSummary[];
    try {
      deployments = await this.#client.listDeployments(this.#namespace);
    } catch (error) {
      log.error(
        { err: this.#errorOf(error, 'list') },
        'restart on rotation failed: the token was written, no Deployment restarted',
      );
      return { restarted, skipped, failed: ['*'] };
    }
    const annotated = deployments.filter((deployment) =>
      providersOf(deployment.annotations[RESTART_ON_ROTATION_ANNOTATION]).includes(provider),
    );
    for (const deployment of annotated) {
      const now = this.#now();
      const decision = decideRestart(deployment, now, this.#minIntervalMs);
      if (decision.action === 'skip') {
        skipped.push({ name: deployment.name, reason: decision.reason });
        if (decision.reason === 'paused') {
          log.warn({ deployment: deployment.name }, 'restart on rotation skipped: the Deployment is paused');
        } else {
          log.info(
            {
              deployment: deployment.name,
              restarted_at: decision.restartedAt,
              next_allowed_at: decision.nextAllowedAt,
              min_interval_seconds: this.#minIntervalMs / 1000,
            },
            'restart on rotation skipped: restarted within the minimum interval; the next rotation restarts it',
          );
        }
        continue;
      }
      try {
        const patched = await this.#client.patchDeployment(
          this.#namespace,
          deployment.name,
          restartPatch(now),
          RESTART_FIELD_MANAGER,
        );
        restarted.push(deployment.name);
        log.info(
          { deployment: deployment.name, restarted_at: patched.templateAnnotations[RESTARTED_AT_ANNOTATION] },
          'restarted Deployment (rollout restart)',
        );
      } catch (error) {
        failed.push(deployment.name);
        log.error(
          { deployment: deployment.name, err: this.#errorOf(error, 'patch') },
          'restart on rotation failed: the token was written, the Deployment was not restarted',
        );
      }
    }
    return { restarted, skipped, failed };
  }

  /** The log shape of a failure; the client's messages hold no header, token or server message. */
  #errorOf(error: unknown, verb: 'list' | 'patch'): { class: 'restart'; code: string; message: string } {
    let message = error instanceof Error ? error.message : String(error);
    if (error instanceof KubernetesHttpError && error.status === 403) {
      message += ` (forbidden: the credentials${this.#source === undefined ? '' : ` of ${this.#source}`} may not ${verb} deployments; apply the Role of deploy/kubernetes/rbac/restart)`;
    }
    return { class: 'restart', code: RESTART_FAILED, message };
  }
}
