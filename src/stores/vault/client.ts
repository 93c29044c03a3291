/**
 * A thin typed Vault HTTP client: only the calls the store and its auth methods make,
 * each answer checked by a zod schema. It knows Vault's wire format, not records or
 * the store contract; the store maps its errors onto the contract's.
 *
 * @see https://openbao.org/api-docs/secret/kv/kv-v2/ (identical to Vault's KV v2 API)
 */
import * as z from '../../common/zod.js';
import { fetchTransport, type TransportResponse, type VaultTransport } from './transport.js';

/** Vault answered with a status the caller did not expect. Holds Vault's `errors`, never a token. */
export class VaultHttpError extends Error {
  readonly status: number;
  readonly errors: readonly string[];

  /** True when the path has no secrets engine mounted (`no handler for route`). */
  get noSuchMount(): boolean {
    return this.status === 404 && this.errors.some((message) => message.includes(NO_ROUTE));
  }

  constructor(status: number, what: string, errors: readonly string[]) {
    super(`Vault answered HTTP ${status} to ${what}`);
    this.name = 'VaultHttpError';
    this.status = status;
    this.errors = errors;
  }
}

/**
 * Vault could not be reached, or did not answer within the timeout. The message names the
 * call, the cause (a system or TLS error code such as `ECONNREFUSED`, `ENOTFOUND` or
 * `UNABLE_TO_VERIFY_LEAF_SIGNATURE`) and Vault's address, so a log line alone says what
 * to fix; it never holds a header or a body.
 * @example
 * could not reach Vault for lookup of the own token (ECONNREFUSED); Vault at http://127.0.0.1:8200
 */
export class VaultTransportError extends Error {
  readonly timedOut: boolean;
  /** The address the request went to, without a trailing slash. */
  readonly address: string;
  /** The system or TLS error code, when the failure carried one. */
  readonly systemCode: string | undefined;

  constructor(what: string, timedOut: boolean, cause: unknown, address: string) {
    const code = timedOut ? undefined : transportErrorCode(cause);
    const reason = timedOut
      ? `no answer from Vault to ${what} within the timeout`
      : `could not reach Vault for ${what} (${code ?? innermostMessage(cause)})`;
    super(`${reason}; Vault at ${address}${code === undefined ? '' : transportHint(code)}`, { cause });
    this.name = 'VaultTransportError';
    this.timedOut = timedOut;
    this.address = address;
    this.systemCode = code;
  }
}

/** OpenSSL's codes for a certificate chain Node does not trust. */
const UNTRUSTED_CERTIFICATE = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/** What to check for a code whose name alone does not say it. */
function transportHint(code: string): string {
  if (UNTRUSTED_CERTIFICATE.has(code))
    return ": its certificate does not chain to a trusted CA; set store.ca_file to the CA's PEM file";
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return ': its certificate is not valid now';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return ': its certificate does not name the host of store.address; use a name the certificate holds';
  if (code === 'ECONNREFUSED') return ': nothing listens at that address';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return ': the host name does not resolve';
  return '';
}

/**
 * The system or TLS error code of a transport failure. `fetch` hides it one or two causes
 * deep (`TypeError: fetch failed` → `Error: connect ECONNREFUSED`), an `AggregateError`
 * when every address of a host refused; TLS codes (`DEPTH_ZERO_SELF_SIGNED_CERT`) do not
 * start with `E`, unlike the system ones.
 */
export function transportErrorCode(error: unknown): string | undefined {
  const queue: unknown[] = [error];
  for (let seen = 0; seen < 8 && queue.length > 0; seen++) {
    const current = queue.shift();
    if (typeof current !== 'object' || current === null) continue;
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(code)) return code;
    if (current instanceof AggregateError) queue.push(...current.errors);
    queue.push((current as { cause?: unknown }).cause);
  }
  return undefined;
}

/** The deepest cause's message, for a failure without a code (`fetch failed` says nothing). */
function innermostMessage(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4; depth++) {
    const cause = (current as { cause?: unknown } | null)?.cause;
    if (!(cause instanceof Error)) break;
    current = cause;
  }
  return current instanceof Error ? current.message : String(current);
}

/**
 * Vault's answer to a path no secrets engine is mounted at: a 404 like that of a missing
 * secret, told apart by its message.
 */
const NO_ROUTE = 'no handler for route';

/** Vault's answer was not the JSON shape its API documents. */
export class VaultResponseError extends Error {
  constructor(what: string, cause?: unknown) {
    super(`unexpected answer from Vault to ${what}`, cause === undefined ? undefined : { cause });
    this.name = 'VaultResponseError';
  }
}

/** A token as an auth method produced it. */
export interface VaultLogin {
  readonly token: string;
  /** Seconds the token lives from now; 0 for a token that never expires (root). */
  readonly ttlSeconds: number;
  readonly renewable: boolean;
  /** Names the token in logs and in Vault's token API without being a credential. */
  readonly accessor?: string;
  /**
   * True when logging in again can only give this same token back (a token given by the
   * operator): it can be renewed, never replaced.
   */
  readonly fixed?: boolean;
}

/** The latest version of a KV v2 secret. */
export interface KvSecret {
  /** `undefined` when the latest version was deleted or destroyed. */
  readonly data: Record<string, unknown> | undefined;
  readonly version: number;
}

/** Settings of a KV v2 secret, written to its metadata. */
export interface KvMetadataInput {
  readonly max_versions: number;
  readonly custom_metadata: Readonly<Record<string, string>>;
}

/** A KV v2 secret's metadata, as far as the store uses it. */
export interface KvMetadata {
  readonly currentVersion: number;
  /** True when the current version was deleted or destroyed (or there is none). */
  readonly currentDeleted: boolean;
  readonly maxVersions: number;
  readonly customMetadata: Readonly<Record<string, string>>;
}

const errorBodySchema = z.object({ errors: z.array(z.string()) });

const versionMetadataSchema = z.object({
  version: z.number().check(z.int(), z.nonnegative()),
  deletion_time: z.string(),
  destroyed: z.boolean(),
});

const kvReadSchema = z.object({
  data: z.object({ data: z.nullable(z.record(z.string(), z.unknown())), metadata: versionMetadataSchema }),
});

const kvWriteSchema = z.object({ data: z.object({ version: z.number().check(z.int(), z.positive()) }) });

const kvMetadataSchema = z.object({
  data: z.object({
    current_version: z.number().check(z.int(), z.nonnegative()),
    max_versions: z.number().check(z.int(), z.nonnegative()),
    custom_metadata: z.nullable(z.record(z.string(), z.string())),
    versions: z.record(z.string(), z.object({ deletion_time: z.string(), destroyed: z.boolean() })),
  }),
});

const listSchema = z.object({ data: z.object({ keys: z.array(z.string()) }) });

const loginSchema = z.object({
  auth: z.object({
    client_token: z.string().check(z.minLength(1)),
    lease_duration: z.number().check(z.int(), z.nonnegative()),
    renewable: z.boolean(),
    accessor: z.optional(z.string()),
  }),
});

const lookupSelfSchema = z.object({
  data: z.object({
    ttl: z.number().check(z.int(), z.nonnegative()),
    renewable: z.optional(z.boolean()),
    accessor: z.optional(z.string()),
  }),
});

/** Options of {@link VaultClient}. */
export interface VaultClientOptions {
  /** `https://vault.example.com:8200`; a trailing slash is ignored. */
  readonly address: string;
  readonly namespace?: string;
  readonly timeoutMs: number;
  readonly transport?: VaultTransport;
  /** Aborts every request in flight (the store's `close`). */
  readonly signal?: AbortSignal;
}

interface Call {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** After `/v1/`, already encoded. */
  readonly path: string;
  readonly token?: string;
  readonly body?: unknown;
  /** Statuses returned to the caller instead of thrown. */
  readonly accept?: readonly number[];
  /** Names the call in errors: an operation and a Vault path, never a value. */
  readonly what: string;
}

/** Encodes a slash-separated path segment by segment. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/**
 * The Vault HTTP API calls the store makes.
 * @example
 * ```ts
 * const client = new VaultClient({ address: 'https://vault:8200', timeoutMs: 10_000 });
 * const secret = await client.kvRead('secret', 'token-rotator/tokens/klikoo', token);
 * ```
 */
export class VaultClient {
  readonly address: string;
  readonly #namespace: string | undefined;
  readonly #timeoutMs: number;
  readonly #transport: VaultTransport;
  readonly #signal: AbortSignal | undefined;

  constructor(options: VaultClientOptions) {
    this.address = options.address.replace(/\/+$/, '');
    this.#namespace = options.namespace;
    this.#timeoutMs = options.timeoutMs;
    this.#transport = options.transport ?? fetchTransport;
    this.#signal = options.signal;
  }

  /** Reads the latest version of a secret, or `undefined` when it has none. */
  async kvRead(mount: string, path: string, token: string): Promise<KvSecret | undefined> {
    const what = `read of ${mount}/data/${path}`;
    const answer = await this.#call({
      method: 'GET',
      path: `${encodePath(mount)}/data/${encodePath(path)}`,
      token,
      accept: [404],
      what,
    });
    // A 404 with a body is a deleted or destroyed latest version; without, no secret at all.
    if (answer.status === 404) return undefined;
    const { data } = parse(kvReadSchema, answer.body, what);
    const deleted = data.data === null || data.metadata.deletion_time !== '' || data.metadata.destroyed;
    return { data: deleted ? undefined : (data.data ?? undefined), version: data.metadata.version };
  }

  /**
   * Writes a new version if the current one is `cas` (0: none yet) and returns its number.
   * @throws {VaultHttpError} 400 with a check-and-set message on a mismatch.
   */
  async kvWrite(
    mount: string,
    path: string,
    data: Record<string, unknown>,
    cas: number,
    token: string,
  ): Promise<number> {
    const what = `write of ${mount}/data/${path}`;
    const answer = await this.#call({
      method: 'POST',
      path: `${encodePath(mount)}/data/${encodePath(path)}`,
      token,
      body: { options: { cas }, data },
      what,
    });
    return parse(kvWriteSchema, answer.body, what).data.version;
  }

  /** Reads a secret's metadata, or `undefined` when the secret does not exist. */
  async kvReadMetadata(mount: string, path: string, token: string): Promise<KvMetadata | undefined> {
    const what = `read of ${mount}/metadata/${path}`;
    const answer = await this.#call({
      method: 'GET',
      path: `${encodePath(mount)}/metadata/${encodePath(path)}`,
      token,
      accept: [404],
      what,
    });
    if (answer.status === 404) return undefined;
    const { data } = parse(kvMetadataSchema, answer.body, what);
    const current = data.versions[String(data.current_version)];
    return {
      currentVersion: data.current_version,
      currentDeleted: current === undefined || current.deletion_time !== '' || current.destroyed,
      maxVersions: data.max_versions,
      customMetadata: data.custom_metadata ?? {},
    };
  }

  /** Sets a secret's `max_versions` and `custom_metadata`, creating the metadata if needed. */
  async kvWriteMetadata(mount: string, path: string, metadata: KvMetadataInput, token: string): Promise<void> {
    const what = `write of ${mount}/metadata/${path}`;
    await this.#call({
      method: 'POST',
      path: `${encodePath(mount)}/metadata/${encodePath(path)}`,
      token,
      body: metadata,
      what,
    });
  }

  /**
   * Deletes a secret's metadata and every version of it, so nothing of it can be read or
   * undeleted. Vault answers 204 whether or not the secret existed.
   * @see https://openbao.org/api-docs/secret/kv/kv-v2/#delete-metadata-and-all-versions
   */
  async kvDeleteMetadata(mount: string, path: string, token: string): Promise<void> {
    await this.#call({
      method: 'DELETE',
      path: `${encodePath(mount)}/metadata/${encodePath(path)}`,
      token,
      what: `delete of ${mount}/metadata/${path}`,
    });
  }

  /**
   * Merges `custom_metadata` entries into a secret's metadata (JSON merge patch), keeping
   * the keys an operator added.
   * @see https://openbao.org/api-docs/secret/kv/kv-v2/#patch-metadata
   */
  async kvPatchCustomMetadata(
    mount: string,
    path: string,
    entries: Readonly<Record<string, string>>,
    token: string,
  ): Promise<void> {
    const what = `patch of ${mount}/metadata/${path}`;
    await this.#call({
      method: 'PATCH',
      path: `${encodePath(mount)}/metadata/${encodePath(path)}`,
      token,
      body: { custom_metadata: entries },
      what,
    });
  }

  /** The keys directly under a folder (folders end with `/`), or `undefined` when it is empty. */
  async kvList(mount: string, folder: string, token: string): Promise<string[] | undefined> {
    const what = `list of ${mount}/metadata/${folder}`;
    const answer = await this.#call({
      method: 'GET',
      path: `${encodePath(mount)}/metadata/${encodePath(folder)}/?list=true`,
      token,
      accept: [404],
      what,
    });
    if (answer.status === 404) return undefined;
    return parse(listSchema, answer.body, what).data.keys;
  }

  /** Logs in at `auth/<mount>/login` with the method's credentials. */
  async login(mount: string, credentials: Record<string, string>): Promise<VaultLogin> {
    const what = `login at auth/${mount}`;
    const answer = await this.#call({
      method: 'POST',
      path: `auth/${encodePath(mount)}/login`,
      body: credentials,
      what,
    });
    return loginOf(parse(loginSchema, answer.body, what).auth);
  }

  /**
   * Extends the calling token's lease by `incrementSeconds` and returns its new lifetime.
   * Vault may grant less than asked: never beyond the token's max TTL.
   * @see https://openbao.org/api-docs/auth/token/#renew-a-token-self
   */
  async renewSelf(token: string, incrementSeconds: number): Promise<VaultLogin> {
    const what = 'renewal of the own token';
    const answer = await this.#call({
      method: 'POST',
      path: 'auth/token/renew-self',
      token,
      body: { increment: incrementSeconds },
      what,
    });
    return loginOf(parse(loginSchema, answer.body, what).auth);
  }

  /** Looks up the calling token; `undefined` when Vault no longer accepts it (403). */
  async lookupSelf(token: string): Promise<Omit<VaultLogin, 'token'> | undefined> {
    const what = 'lookup of the own token';
    const answer = await this.#call({ method: 'GET', path: 'auth/token/lookup-self', token, accept: [403], what });
    if (answer.status === 403) return undefined;
    const { data } = parse(lookupSelfSchema, answer.body, what);
    return {
      ttlSeconds: data.ttl,
      renewable: data.renewable ?? false,
      ...(data.accessor ? { accessor: data.accessor } : {}),
    };
  }

  async #call(call: Call): Promise<{ status: number; body: unknown }> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (call.token !== undefined) headers['x-vault-token'] = call.token;
    if (this.#namespace !== undefined) headers['x-vault-namespace'] = this.#namespace;
    if (call.body !== undefined)
      headers['content-type'] = call.method === 'PATCH' ? 'application/merge-patch+json' : 'application/json';
    // Vault asks for this header so a browser cannot be made to send requests to it.
    headers['x-vault-request'] = 'true';
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = this.#signal === undefined ? timeout : AbortSignal.any([timeout, this.#signal]);
    let response: TransportResponse;
    try {
      response = await this.#transport({
        method: call.method,
        url: `${this.address}/v1/${call.path}`,
        headers,
        signal,
        ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
      });
    } catch (error) {
      throw new VaultTransportError(call.what, timeout.aborted, error, this.address);
    }
    let body: unknown;
    if (response.text !== '') {
      try {
        body = JSON.parse(response.text);
      } catch (error) {
        // Only an error status may come from a proxy in between; a success must be JSON.
        if (response.status < 300) throw new VaultResponseError(call.what, error);
      }
    }
    const parsed = errorBodySchema.safeParse(body);
    const errors = parsed.success ? parsed.data.errors : [];
    // A missing mount must not read as a missing secret: it is a configuration error.
    const noRoute = response.status === 404 && errors.some((message) => message.includes(NO_ROUTE));
    if ((response.status >= 200 && response.status < 300) || (call.accept?.includes(response.status) && !noRoute))
      return { status: response.status, body };
    throw new VaultHttpError(response.status, call.what, errors);
  }
}

function loginOf(auth: z.output<typeof loginSchema>['auth']): VaultLogin {
  return {
    token: auth.client_token,
    ttlSeconds: auth.lease_duration,
    renewable: auth.renewable,
    ...(auth.accessor ? { accessor: auth.accessor } : {}),
  };
}

function parse<T>(schema: z.ZodMiniType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  // The zod error is not kept: its issues may quote values of the answer, such as a token.
  if (!result.success) throw new VaultResponseError(what);
  return result.data;
}
