/**
 * The Kubernetes store: each record is a Secret (type `Opaque`) in one namespace, written
 * with compare-and-set on its `metadata.resourceVersion`, so a pod mounts the public
 * record of its provider as a volume and runners in many pods share one lease.
 *
 * - Layout: see `layout.ts` (record `tokens/<p>` is Secret `<prefix>tokens-<p>`, keys
 *   `record.json` plus the public record's fields, one key each). The state record is a Secret of its own,
 *   `<prefix>state-<p>`, which a consumer's Role never names.
 * - Compare-and-set: a create (`POST`) when no version is expected, where `409
 *   AlreadyExists` is a conflict; else a replace (`PUT`) carrying the expected
 *   `resourceVersion`, where `409 Conflict` (and `404`, the Secret is gone) is one. The
 *   record's version is the Secret's `resourceVersion`.
 * - Labels: `app.kubernetes.io/managed-by: token-rotator`; annotations
 *   `token-rotator/record-path` and one `token-rotator/<label>` per write label
 *   (`provider`, `expires_at`). A write replaces the whole Secret, annotations included.
 * - Remove (`token-rotator revoke`): a delete of the Secret on the precondition of the
 *   `resourceVersion` just read, after checking it holds the record, as a read does.
 * - No write budget: etcd keeps one revision of a Secret, so writes cost nothing that
 *   accumulates. Record usage is ignored.
 * - Restart on rotation (optional, `restart_on_rotation`): a replace of `tokens/<p>` with a
 *   higher `generation` than the record it replaces rollout-restarts the Deployments
 *   annotated for `<p>` (see `restart.ts`). The store knows the replaced generation from the
 *   record it last read or wrote at the expected version (the engine reads before it
 *   writes); a create, a replace of the same generation, or of a record whose generation it
 *   does not know restarts nothing.
 *
 * @see https://kubernetes.io/docs/concepts/configuration/secret/
 */
import { ConflictError, ErrorCodes, RotatorError, StoreError } from '../../errors.js';
import { type Logger, silentLogger } from '../../observability/logger.js';
import {
  assertRecordPath,
  type RecordRemover,
  type SecretStore,
  type StoreCapabilities,
  type StoredRecord,
  type WriteOptions,
} from '../contract.js';
import type { StoreOptions } from '../definition.js';
import {
  KubernetesClient,
  KubernetesHttpError,
  KubernetesResponseError,
  KubernetesTransportError,
  type SecretObject,
  type StoredSecret,
} from './client.js';
import { type KubernetesConnection, resolveConnection } from './connection.js';
import { RECORD_KEY, secretDataBytes, secretDataOf, secretNameOf } from './layout.js';
import { DEFAULT_RESTART_MIN_INTERVAL_SECONDS, isNewGeneration, RolloutRestarter } from './restart.js';
import type { KubernetesStoreConfig } from './schema.js';

export type { KubernetesConnection } from './connection.js';
export { inClusterConnection, kubeconfigConnection, resolveConnection } from './connection.js';
export { RECORD_KEY, recordSecretBytes, secretNameOf } from './layout.js';
export type { RestartReport } from './restart.js';
export {
  DEFAULT_RESTART_MIN_INTERVAL_SECONDS,
  RESTART_FAILED,
  RESTART_ON_ROTATION_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
} from './restart.js';
export type { KubernetesStoreConfig } from './schema.js';
export { kubernetesStoreSchema } from './schema.js';

/**
 * The largest record the store writes, in bytes of its Secret's data as Kubernetes counts
 * them (every value, summed: `record.json` and the keys beside it): the API server's own
 * limit on a Secret, 1 MiB.
 * @see https://kubernetes.io/docs/concepts/configuration/secret/#restriction-data-size
 */
export const MAX_SECRET_BYTES = 1024 * 1024;

/** The label every Secret of the store carries. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** The annotation that names the record a Secret holds. */
export const RECORD_PATH_ANNOTATION = 'token-rotator/record-path';
/** Write labels become annotations `token-rotator/<label>`. */
export const LABEL_ANNOTATION_PREFIX = 'token-rotator/';

/** The name part of an annotation key. */
const ANNOTATION_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

/** HTTP statuses that repeating the same request cannot change. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 405, 413, 415, 422]);

/** The RBAC verbs an operation needs, for the message of a 403 (`write`: create or update). */
const FORBIDDEN_VERBS: Readonly<Record<string, string>> = { read: 'get', remove: 'delete' };

/** Reads and deletes one remove tries when the Secret keeps changing in between. */
export const REMOVE_ATTEMPTS = 3;

/** Options of {@link KubernetesStore}. */
export interface KubernetesStoreOptions {
  readonly connection: KubernetesConnection;
  readonly namespace: string;
  /** Start of every Secret name (`token-rotator-`). */
  readonly prefix: string;
  /** Longest wait for one request. */
  readonly timeoutMs: number;
  /** Restart on rotation (see `restart.ts`); absent: off. */
  readonly restart?: {
    /** At most one restart of a Deployment per this many seconds. */
    readonly minIntervalSeconds: number;
    /** Where restarts, skips and failures are logged. */
    readonly logger: Logger;
    /** Default: `Date.now`. */
    readonly now?: () => number;
  };
}

/** The public records, whose new generation may restart Deployments: `tokens/<provider>`. */
const PUBLIC_RECORD = /^tokens\/([^/]+)$/;

/**
 * Keeps records as Secrets of one namespace. Builds no connection until the first call.
 *
 * @example
 * ```ts
 * const store = new KubernetesStore({
 *   connection: inClusterConnection(), namespace: 'token-rotator', prefix: 'token-rotator-', timeoutMs: 10_000,
 * });
 * const version = await store.write('tokens/klikoo', { access_token: '…' }, null); // a resourceVersion
 * ```
 */
export class KubernetesStore implements SecretStore, RecordRemover {
  readonly kind = 'kubernetes';
  readonly capabilities: StoreCapabilities = Object.freeze({ compareAndSet: true });
  readonly #client: KubernetesClient;
  readonly #namespace: string;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #source: string;
  readonly #closing = new AbortController();
  readonly #restarter: RolloutRestarter | undefined;
  /** Public record path → the version and generation last read or written (restart on rotation only). */
  readonly #published = new Map<string, { readonly version: string; readonly generation: number | undefined }>();

  constructor(options: KubernetesStoreOptions) {
    this.#client = new KubernetesClient({
      connection: options.connection,
      timeoutMs: options.timeoutMs,
      signal: this.#closing.signal,
    });
    this.#namespace = options.namespace;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
    this.#source = options.connection.source;
    this.#restarter =
      options.restart === undefined
        ? undefined
        : new RolloutRestarter({
            client: this.#client,
            namespace: options.namespace,
            minIntervalSeconds: options.restart.minIntervalSeconds,
            logger: options.restart.logger,
            source: options.connection.source,
            ...(options.restart.now === undefined ? {} : { now: options.restart.now }),
          });
  }

  /** The namespace of the Secrets. */
  get namespace(): string {
    return this.#namespace;
  }

  /** The Secret that holds the record at `path`. */
  secretName(path: string): string {
    assertRecordPath(path);
    return secretNameOf(this.#prefix, path);
  }

  /**
   * Reads the record, or `undefined` when its Secret does not exist (nor its namespace:
   * the API answers both alike to a reader that may not list namespaces). A Secret an
   * operator created without `record.json` reads as its keys, each as a string.
   * @throws {StoreError} when the API is unreachable, slow or refuses the read;
   *   `STORE_RECORD_INVALID` when the Secret holds another record or no JSON object.
   */
  async read(path: string): Promise<StoredRecord | undefined> {
    const name = this.secretName(path);
    this.#assertOpen();
    let secret: StoredSecret | undefined;
    try {
      secret = await this.#client.getSecret(this.#namespace, name);
    } catch (error) {
      throw this.#wrap(error, 'read', path);
    }
    if (secret === undefined) return undefined;
    const value = this.#valueOf(secret, path);
    this.#remember(path, secret.metadata.resourceVersion, value);
    return { value, version: secret.metadata.resourceVersion };
  }

  /**
   * Creates (`expectedVersion` null) or replaces the record's Secret, if its
   * resourceVersion is still `expectedVersion`, and returns the new resourceVersion.
   * With restart on rotation, a replace of a public record by a higher generation then
   * restarts the annotated Deployments (see `restart.ts`); that never fails the write.
   * @throws {ConflictError} when the Secret exists (create) or changed or is gone (replace).
   * @throws {StoreError} when the API is unreachable, slow or refuses the write; not
   *   retryable when the record is over {@link MAX_SECRET_BYTES}, the credentials are
   *   refused (401) or not allowed (403), or the namespace does not exist.
   */
  async write(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    options: WriteOptions = {},
  ): Promise<string> {
    const name = this.secretName(path);
    let json: unknown;
    try {
      json = JSON.stringify(value);
    } catch {
      json = undefined;
    }
    if (typeof json !== 'string' || !json.startsWith('{')) {
      throw new StoreError(`record ${path} is not a JSON object`, { retryable: false });
    }
    const data = secretDataOf(json, value);
    const size = secretDataBytes(data);
    if (size > MAX_SECRET_BYTES) {
      throw new StoreError(
        `record ${path} is ${size} bytes as a Secret's data, over the Kubernetes limit of ${MAX_SECRET_BYTES}`,
        { retryable: false },
      );
    }
    this.#assertOpen();
    const annotations: Record<string, string> = {};
    for (const [label, text] of Object.entries(options.labels ?? {})) {
      if (ANNOTATION_NAME.test(label)) annotations[LABEL_ANNOTATION_PREFIX + label] = text;
    }
    annotations[RECORD_PATH_ANNOTATION] = path;
    const encoded: Record<string, string> = {};
    for (const [key, text] of Object.entries(data)) encoded[key] = Buffer.from(text, 'utf8').toString('base64');
    const secret: SecretObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace: this.#namespace,
        labels: { [MANAGED_BY_LABEL]: 'token-rotator' },
        annotations,
        ...(expectedVersion === null ? {} : { resourceVersion: expectedVersion }),
      },
      type: 'Opaque',
      data: encoded,
    };
    const replaced = expectedVersion === null ? undefined : this.#published.get(path);
    const before = replaced?.version === expectedVersion ? replaced?.generation : undefined;
    let version: string;
    try {
      const written =
        expectedVersion === null
          ? await this.#client.createSecret(this.#namespace, secret)
          : await this.#client.replaceSecret(this.#namespace, secret);
      version = written.metadata.resourceVersion;
    } catch (error) {
      if (error instanceof KubernetesHttpError && isConflict(error, expectedVersion)) {
        throw new ConflictError(path, { cause: error });
      }
      throw this.#wrap(error, 'write', path);
    }
    this.#remember(path, version, value);
    const provider = PUBLIC_RECORD.exec(path)?.[1];
    const after = generationOf(value);
    if (
      this.#restarter !== undefined &&
      provider !== undefined &&
      after !== undefined &&
      isNewGeneration(before, after)
    ) {
      await this.#restarter.restartFor(provider, after);
    }
    return version;
  }

  /**
   * Deletes the record's Secret, with the compare-and-set of writes: it reads the Secret,
   * checks that it holds this record (as a read does), then deletes it on the condition
   * that its `resourceVersion` has not changed, so a Secret that another record's writer
   * took over meanwhile is never deleted; a Secret changed by a write of this record is
   * read again and deleted, up to {@link REMOVE_ATTEMPTS} times. etcd keeps no older
   * revision a consumer could read. For `token-rotator revoke` ({@link RecordRemover});
   * the engine never removes. Record usage is ignored, as by writes.
   * @returns `false` when there was no Secret (nor namespace).
   * @throws {ConflictError} when the Secret kept changing between the read and the delete.
   * @throws {StoreError} as {@link write} does; `STORE_RECORD_INVALID` when the Secret
   *   holds another record; not retryable when the credentials may not `delete` it (403).
   */
  async remove(path: string): Promise<boolean> {
    const name = this.secretName(path);
    this.#assertOpen();
    for (let attempt = 1; ; attempt++) {
      let secret: StoredSecret | undefined;
      try {
        secret = await this.#client.getSecret(this.#namespace, name);
      } catch (error) {
        throw this.#wrap(error, 'read', path);
      }
      if (secret === undefined) return false;
      this.#assertHolds(secret, path);
      try {
        const removed = await this.#client.deleteSecret(this.#namespace, name, secret.metadata.resourceVersion);
        this.#published.delete(path);
        return removed;
      } catch (error) {
        if (error instanceof KubernetesHttpError && error.status === 409) {
          if (attempt < REMOVE_ATTEMPTS) continue;
          throw new ConflictError(path, { cause: error });
        }
        throw this.#wrap(error, 'remove', path);
      }
    }
  }

  /** Keeps the generation of a public record at `version`, when restart on rotation is on. */
  #remember(path: string, version: string, value: Record<string, unknown>): void {
    if (this.#restarter === undefined || !PUBLIC_RECORD.test(path)) return;
    this.#published.set(path, { version, generation: generationOf(value) });
  }

  /** Aborts requests in flight and closes connections; every later call fails. */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#client.close();
  }

  #assertOpen(): void {
    if (this.#closing.signal.aborted) throw new StoreError('the Kubernetes store is closed');
  }

  /** Refuses a Secret whose annotation names another record path (two paths, one name). */
  #assertHolds(secret: StoredSecret, path: string): void {
    const named = secret.metadata.annotations?.[RECORD_PATH_ANNOTATION];
    if (named !== undefined && named !== path) {
      const where = `secret ${this.#namespace}/${secret.metadata.name}`;
      throw new StoreError(`${where} holds record ${named}, not ${path}: two record paths share a Secret name`, {
        code: ErrorCodes.STORE_RECORD_INVALID,
        retryable: false,
      });
    }
  }

  #valueOf(secret: StoredSecret, path: string): Record<string, unknown> {
    const where = `secret ${this.#namespace}/${secret.metadata.name}`;
    this.#assertHolds(secret, path);
    const data = secret.data ?? {};
    const record = data[RECORD_KEY];
    if (record === undefined) {
      // An operator's Secret (`kubectl create secret generic`): its keys are the fields.
      const value: Record<string, unknown> = {};
      for (const [key, text] of Object.entries(data)) value[key] = Buffer.from(text, 'base64').toString('utf8');
      return value;
    }
    let value: unknown;
    try {
      value = JSON.parse(Buffer.from(record, 'base64').toString('utf8'));
    } catch {
      value = undefined;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      // The content is not quoted: it may be a secret.
      throw new StoreError(`${where} (record ${path}): its ${RECORD_KEY} is not a JSON object`, {
        code: ErrorCodes.STORE_RECORD_INVALID,
        retryable: false,
      });
    }
    return value as Record<string, unknown>;
  }

  /**
   * Our own errors pass unchanged; the API's become a StoreError naming the call, the
   * Secret, the status and reason (never the server's message, nor a header). An answer
   * repeating cannot change (401, 403, a missing namespace, an invalid object) is not
   * retryable; a network error, a timeout, 429 and 5xx are.
   */
  #wrap(error: unknown, operation: string, path: string): RotatorError {
    if (error instanceof RotatorError) return error;
    const name = secretNameOf(this.#prefix, path);
    const where = `could not ${operation} record ${path} (secret ${this.#namespace}/${name})`;
    if (error instanceof KubernetesTransportError && error.timedOut) {
      return new StoreError(
        `${where}: no answer from the Kubernetes API within ${this.#timeoutMs / 1000} s; API server ${this.#client.server}`,
        { cause: error },
      );
    }
    if (error instanceof KubernetesHttpError) {
      const reason =
        error.status === 401
          ? ` (the API server refused the credentials of ${this.#source})`
          : error.status === 403
            ? ` (forbidden: the credentials of ${this.#source} may not ${FORBIDDEN_VERBS[operation] ?? 'create or update'} this Secret${operation === 'remove' ? '; apply the Role of deploy/kubernetes/rbac/revoke' : ''})`
            : error.status === 404 && error.detailsKind === 'namespaces'
              ? ` (namespace ${this.#namespace} does not exist)`
              : '';
      return new StoreError(`${where}: ${error.message}${reason}; API server ${this.#client.server}`, {
        cause: error,
        retryable: !PERMANENT_STATUSES.has(error.status),
      });
    }
    if (error instanceof KubernetesTransportError || error instanceof KubernetesResponseError) {
      return new StoreError(`${where}: ${error.message}`, { cause: error });
    }
    return new StoreError(`${where}: ${(error as Error)?.message ?? String(error)}`, { cause: error });
  }
}

/** A record's `generation`, when it is a whole number. */
function generationOf(value: Record<string, unknown>): number | undefined {
  const generation = value['generation'];
  return typeof generation === 'number' && Number.isSafeInteger(generation) ? generation : undefined;
}

/** A 409 (AlreadyExists on create, Conflict on replace), or a 404 of the Secret itself on replace. */
function isConflict(error: KubernetesHttpError, expectedVersion: string | null): boolean {
  if (error.status === 409) return true;
  return expectedVersion !== null && error.status === 404 && error.detailsKind !== 'namespaces';
}

/** Builds the Kubernetes store from its configuration; reads the kubeconfig or in-cluster files, reaches no server. */
export function createKubernetesStore(config: KubernetesStoreConfig, options: StoreOptions = {}): KubernetesStore {
  const connection = resolveConnection(config);
  return new KubernetesStore({
    connection,
    namespace: config.namespace ?? connection.namespace ?? 'default',
    prefix: config.prefix,
    timeoutMs: config.request_timeout_seconds * 1000,
    ...(config.restart_on_rotation === true
      ? {
          restart: {
            minIntervalSeconds: config.restart_min_interval_seconds ?? DEFAULT_RESTART_MIN_INTERVAL_SECONDS,
            logger: options.logger ?? silentLogger(),
          },
        }
      : {}),
  });
}
