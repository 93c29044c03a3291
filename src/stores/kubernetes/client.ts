/**
 * A thin typed client of the Kubernetes API: the four Secret calls the store makes (get,
 * create, replace, and delete for `token-rotator revoke`), and the two Deployment calls of
 * the optional restart on rotation (list, patch; see restart.ts), over `node:https` so the
 * cluster CA and a client certificate apply without a dependency (Node's `fetch` takes
 * them only through an undici `Agent`, and undici is not a dependency of this package;
 * `@kubernetes/client-node` would bring dozens of packages and seconds of start-up for a
 * few calls, see docs/kubernetes.md).
 *
 * It knows Kubernetes' wire format, not records: the store maps its errors onto the store
 * contract. No error it throws holds a header, a token or a Secret's data: an error from
 * the API server is described by its status, `reason` and the kind and name it concerns,
 * never by the server's `message`.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/
 * @see https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions
 */
import { Agent } from 'node:https';
import * as z from '../../common/zod.js';
import { httpsExchange } from '../shared/https.js';
import type { KubernetesConnection } from './connection.js';

/**
 * Largest answer read: a Secret holds at most 1 MiB of data, which base64 and the object's
 * metadata make about 1.4 MiB; a bigger body is a misbehaving peer.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** A Secret as the store writes and reads it. */
export interface SecretObject {
  readonly apiVersion: 'v1';
  readonly kind: 'Secret';
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string | undefined;
    readonly resourceVersion?: string | undefined;
    readonly labels?: Readonly<Record<string, string>> | undefined;
    readonly annotations?: Readonly<Record<string, string>> | undefined;
  };
  readonly type?: string | undefined;
  /** Key → base64 of the value. */
  readonly data?: Readonly<Record<string, string>> | undefined;
}

const secretSchema = z.object({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  metadata: z.object({
    name: z.string(),
    namespace: z.optional(z.string()),
    resourceVersion: z.string().check(z.minLength(1)),
    labels: z.optional(z.record(z.string(), z.string())),
    annotations: z.optional(z.record(z.string(), z.string())),
  }),
  type: z.optional(z.string()),
  data: z.nullish(z.record(z.string(), z.string())),
});

/** A Secret as read back: it always has a resourceVersion. */
export type StoredSecret = z.infer<typeof secretSchema>;

/** The parts of a `Status` answer that name what failed; its `message` is never kept. */
const statusSchema = z.object({
  reason: z.optional(z.string()),
  details: z.optional(
    z.object({
      kind: z.optional(z.string()),
      name: z.optional(z.string()),
      causes: z.optional(z.array(z.object({ field: z.optional(z.string()), reason: z.optional(z.string()) }))),
    }),
  ),
});

/**
 * The API server answered with an error status. Holds its `reason` (`AlreadyExists`,
 * `Conflict`, `NotFound`, `Forbidden`, `Invalid`…), the kind and name of the object it
 * concerns and the fields at fault, never the server's message (which can quote a value).
 */
export class KubernetesHttpError extends Error {
  readonly status: number;
  readonly reason: string | undefined;
  /** The kind the error concerns (`secrets`, `namespaces`), from the Status' details. */
  readonly detailsKind: string | undefined;
  readonly detailsName: string | undefined;
  /** The fields an `Invalid` answer names (`data[key]`). */
  readonly fields: readonly string[];

  constructor(status: number, what: string, body: string) {
    let parsed: z.infer<typeof statusSchema> = {};
    try {
      parsed = statusSchema.parse(JSON.parse(body));
    } catch {
      // Not a Status (a proxy's page): the status code alone says what happened.
    }
    const reason = parsed.reason;
    const fields = (parsed.details?.causes ?? []).flatMap((cause) => (cause.field ? [cause.field] : []));
    super(
      `the Kubernetes API answered HTTP ${status}${reason ? ` ${reason}` : ''} to ${what}${
        fields.length > 0 ? ` (fields: ${fields.join(', ')})` : ''
      }`,
    );
    this.name = 'KubernetesHttpError';
    this.status = status;
    this.reason = reason;
    this.detailsKind = parsed.details?.kind;
    this.detailsName = parsed.details?.name;
    this.fields = fields;
  }
}

/**
 * The API server could not be reached, or did not answer within the timeout. The message
 * names the call, the system or TLS error code and the server.
 */
export class KubernetesTransportError extends Error {
  readonly timedOut: boolean;
  readonly systemCode: string | undefined;

  constructor(what: string, server: string, timedOut: boolean, cause: unknown) {
    const code = timedOut ? undefined : errorCode(cause);
    super(
      timedOut
        ? `no answer from the Kubernetes API to ${what} within the timeout; API server ${server}`
        : `could not reach the Kubernetes API for ${what} (${code ?? (cause as Error)?.message ?? 'error'}); API server ${server}`,
      { cause },
    );
    this.name = 'KubernetesTransportError';
    this.timedOut = timedOut;
    this.systemCode = code;
  }
}

/** The API server's answer was not the object its API documents. */
export class KubernetesResponseError extends Error {
  constructor(what: string, cause?: unknown) {
    super(`unexpected answer from the Kubernetes API to ${what}`, cause === undefined ? undefined : { cause });
    this.name = 'KubernetesResponseError';
  }
}

/** What the restart on rotation needs of a Deployment; the rest of the object is dropped. */
const deploymentSchema = z.object({
  metadata: z.object({
    name: z.string().check(z.minLength(1)),
    annotations: z.nullish(z.record(z.string(), z.string())),
  }),
  spec: z.nullish(
    z.object({
      paused: z.nullish(z.boolean()),
      template: z.nullish(
        z.object({ metadata: z.nullish(z.object({ annotations: z.nullish(z.record(z.string(), z.string())) })) }),
      ),
    }),
  ),
});

const deploymentListSchema = z.object({
  metadata: z.nullish(z.object({ continue: z.optional(z.string()) })),
  items: z.nullish(z.array(deploymentSchema)),
});

/** A Deployment as the restart on rotation sees it. */
export interface DeploymentSummary {
  readonly name: string;
  /** `metadata.annotations`: where `token-rotator/restart-on-rotation` is. */
  readonly annotations: Readonly<Record<string, string>>;
  /** `spec.template.metadata.annotations`: where `kubectl.kubernetes.io/restartedAt` is. */
  readonly templateAnnotations: Readonly<Record<string, string>>;
  /** `spec.paused`: kubectl refuses to restart a paused Deployment, and so does the store. */
  readonly paused: boolean;
}

/** Deployments per page of a list: a namespace with more is read in pages (`continue`). */
const DEPLOYMENT_PAGE_SIZE = 250;

/** Options of {@link KubernetesClient}. */
export interface KubernetesClientOptions {
  readonly connection: KubernetesConnection;
  /** Longest wait for one request. */
  readonly timeoutMs: number;
  /** Aborts every request in flight and later (the store's close). */
  readonly signal?: AbortSignal;
}

/** The Secret calls of the store, one request each, never retried here. */
export class KubernetesClient {
  readonly server: string;
  readonly #connection: KubernetesConnection;
  readonly #timeoutMs: number;
  readonly #signal: AbortSignal | undefined;
  readonly #agent: Agent;

  constructor(options: KubernetesClientOptions) {
    this.#connection = options.connection;
    this.server = options.connection.server;
    this.#timeoutMs = options.timeoutMs;
    this.#signal = options.signal;
    const { ca, cert, key, serverName } = options.connection;
    this.#agent = new Agent({
      keepAlive: true,
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
      ...(serverName === undefined ? {} : { servername: serverName }),
    });
  }

  /** The Secret, or `undefined` when the API answers 404. */
  async getSecret(namespace: string, name: string): Promise<StoredSecret | undefined> {
    const what = `get of secret ${namespace}/${name}`;
    const response = await this.#send('GET', secretPath(namespace, name), what);
    if (response.status === 404) return undefined;
    return parseSecret(response, what);
  }

  /**
   * Creates the Secret.
   * @throws {KubernetesHttpError} 409 `AlreadyExists` when it exists, 404 when the namespace does not.
   */
  async createSecret(namespace: string, secret: SecretObject): Promise<StoredSecret> {
    const what = `create of secret ${namespace}/${secret.metadata.name}`;
    return parseSecret(await this.#send('POST', secretPath(namespace), what, secret), what);
  }

  /**
   * Replaces the Secret if its resourceVersion is still `secret.metadata.resourceVersion`.
   * @throws {KubernetesHttpError} 409 `Conflict` when it is not, 404 when there is no such Secret.
   */
  async replaceSecret(namespace: string, secret: SecretObject): Promise<StoredSecret> {
    const what = `update of secret ${namespace}/${secret.metadata.name}`;
    return parseSecret(await this.#send('PUT', secretPath(namespace, secret.metadata.name), what, secret), what);
  }

  /**
   * Deletes the Secret if its resourceVersion is still `resourceVersion` (a `DeleteOptions`
   * precondition: the delete's compare-and-set).
   * @returns `false` when there is no such Secret (404).
   * @throws {KubernetesHttpError} 409 `Conflict` when the Secret changed since it was read.
   * @see https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/delete-options/
   */
  async deleteSecret(namespace: string, name: string, resourceVersion: string): Promise<boolean> {
    const what = `delete of secret ${namespace}/${name}`;
    const options = { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion } };
    try {
      await this.#send('DELETE', secretPath(namespace, name), what, options);
    } catch (error) {
      if (error instanceof KubernetesHttpError && error.status === 404) return false;
      throw error;
    }
    return true;
  }

  /**
   * Every Deployment of the namespace (as many pages as it takes).
   * @throws {KubernetesHttpError} 403 when the credentials may not list Deployments.
   */
  async listDeployments(namespace: string): Promise<DeploymentSummary[]> {
    const what = `list of deployments in namespace ${namespace}`;
    const found: DeploymentSummary[] = [];
    let next: string | undefined;
    do {
      const query = `?limit=${DEPLOYMENT_PAGE_SIZE}${next === undefined ? '' : `&continue=${encodeURIComponent(next)}`}`;
      const response = await this.#send('GET', deploymentPath(namespace) + query, what);
      const page = parseWith(deploymentListSchema, response, what);
      for (const item of page.items ?? []) found.push(summaryOf(item));
      next = page.metadata?.continue || undefined;
    } while (next !== undefined);
    return found;
  }

  /**
   * Applies a strategic merge patch to the Deployment (the patch type `kubectl rollout
   * restart` sends), as field manager `fieldManager`.
   * @throws {KubernetesHttpError} 403 when the credentials may not patch it, 404 when it is gone.
   */
  async patchDeployment(
    namespace: string,
    name: string,
    patch: unknown,
    fieldManager: string,
  ): Promise<DeploymentSummary> {
    const what = `patch of deployment ${namespace}/${name}`;
    const path = `${deploymentPath(namespace, name)}?fieldManager=${encodeURIComponent(fieldManager)}`;
    const response = await this.#send('PATCH', path, what, patch, 'application/strategic-merge-patch+json');
    return summaryOf(parseWith(deploymentSchema, response, what));
  }

  /** Closes idle connections; requests in flight end with the store's signal. */
  close(): void {
    this.#agent.destroy();
  }

  async #send(
    method: string,
    path: string,
    what: string,
    body?: unknown,
    contentType = 'application/json',
  ): Promise<{ readonly status: number; readonly text: string }> {
    const token = this.#connection.token?.();
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = {
      accept: 'application/json',
      'user-agent': 'token-rotator',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(payload === undefined
        ? {}
        : { 'content-type': contentType, 'content-length': String(Buffer.byteLength(payload)) }),
    };
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = this.#signal === undefined ? timeout : AbortSignal.any([this.#signal, timeout]);
    try {
      const response = await httpsExchange(
        new URL(this.server + path),
        { method, headers, agent: this.#agent, signal },
        payload,
        MAX_RESPONSE_BYTES,
        'the answer',
      );
      if (response.status >= 400 && !(response.status === 404 && method === 'GET')) {
        throw new KubernetesHttpError(response.status, what, response.text);
      }
      return response;
    } catch (error) {
      if (error instanceof KubernetesHttpError) throw error;
      throw new KubernetesTransportError(what, this.server, timeout.aborted, error);
    }
  }
}

function secretPath(namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

function deploymentPath(namespace: string, name?: string): string {
  const base = `/apis/apps/v1/namespaces/${encodeURIComponent(namespace)}/deployments`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

function summaryOf(deployment: z.infer<typeof deploymentSchema>): DeploymentSummary {
  return {
    name: deployment.metadata.name,
    annotations: deployment.metadata.annotations ?? {},
    templateAnnotations: deployment.spec?.template?.metadata?.annotations ?? {},
    paused: deployment.spec?.paused === true,
  };
}

function parseWith<S extends z.ZodMiniType>(schema: S, response: { readonly text: string }, what: string): z.infer<S> {
  let body: unknown;
  try {
    body = JSON.parse(response.text);
  } catch (error) {
    throw new KubernetesResponseError(what, error);
  }
  const result = schema.safeParse(body);
  // zod's issues name paths and expectations; they are dropped all the same, with the body.
  if (!result.success) throw new KubernetesResponseError(what);
  return result.data;
}

function parseSecret(response: { readonly text: string }, what: string): StoredSecret {
  return parseWith(secretSchema, response, what);
}

/** The system or TLS error code somewhere in a failure's causes (`ECONNREFUSED`, `DEPTH_ZERO_SELF_SIGNED_CERT`). */
function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code) && code !== 'ABORT_ERR') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
