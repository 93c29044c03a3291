/**
 * The Vault store: records are KV version 2 secrets, written with check-and-set, so
 * runners on many hosts share tokens and the engine's lease through one Vault (or
 * OpenBao) server.
 *
 * Record `tokens/klikoo` is the secret `<mount>/data/<prefix>/tokens/klikoo`; its data is
 * the record's JSON object and its KV version is the record's version. Each record keeps
 * at most `max_versions` versions, and its metadata says `managed-by: token-rotator`.
 *
 * @see https://openbao.org/api-docs/secret/kv/kv-v2/
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConflictError, RotatorError, StoreError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import {
  assertRecordPath,
  isRecordPath,
  type RecordLister,
  type RecordRemover,
  type SecretStore,
  type StoreCapabilities,
  type StoredRecord,
  systemErrorCode,
  type WriteOptions,
} from '../contract.js';
import { authFor, type VaultAuth } from './auth.js';
import { VaultClient, VaultHttpError, VaultTransportError } from './client.js';
import type { VaultStoreConfig } from './schema.js';
import { VaultSession } from './session.js';
import { caTransport, MAX_RESPONSE_BYTES, type VaultTransport } from './transport.js';

export type { VaultStoreConfig } from './schema.js';
export { vaultStoreSchema } from './schema.js';

/**
 * The largest record the Vault store writes, in bytes of its JSON as Vault sends it back
 * (Go escapes `<`, `>`, `&`, U+2028 and U+2029 as six-byte `\u` sequences). Vault's
 * storage backends bound one entry: Consul at 512 KiB, integrated storage (raft) at
 * `max_entry_size`, 1 MiB by default. A KV v2 version is stored wrapped and encrypted,
 * so 480 KiB leaves room for both under Consul's bound, and keeps every record far below
 * the client's {@link MAX_RESPONSE_BYTES} answer cap: a record that can be written can
 * always be read back.
 */
export const MAX_RECORD_BYTES = 480 * 1024;

/** HTTP statuses that repeating the same request cannot change. */
const PERMANENT_STATUSES = new Set([400, 401, 403, 404, 405, 413]);

/** What Vault says when a write's `cas` is not the current version. */
const CAS_MISMATCH = 'check-and-set parameter did not match the current version';

/** Options of {@link VaultStore}. */
export interface VaultStoreOptions {
  /** `https://vault.example.com:8200`. */
  readonly address: string;
  /** Sent as `X-Vault-Namespace` on every request. */
  readonly namespace?: string;
  /** Mount path of the KV v2 engine. */
  readonly mount: string;
  /** Path under the mount that holds every record. */
  readonly prefix: string;
  readonly auth: VaultAuth;
  /** Versions Vault keeps of each record. */
  readonly maxVersions: number;
  /** Added to each record's metadata; `managed-by` is always `token-rotator`. */
  readonly customMetadata?: Readonly<Record<string, string>>;
  /** Longest wait for one request. */
  readonly timeoutMs: number;
  /** How requests are sent; `fetch` by default. */
  readonly transport?: VaultTransport;
  /** Where logins, renewals and their failures are logged (accessors and fingerprints only); silent by default. */
  readonly logger?: Logger;
}

/**
 * Keeps records in a KV v2 engine. Logs in lazily on the first call, then keeps the token
 * alive between calls (see {@link VaultSession}): renews it at about two thirds of its
 * TTL and logs in again ahead of expiry once renewal cannot extend it. When Vault refuses
 * the token all the same (revoked), logs in again once and repeats the call.
 *
 * @example
 * ```ts
 * const store = new VaultStore({
 *   address: 'https://vault:8200', mount: 'secret', prefix: 'token-rotator',
 *   auth: appRoleAuth({ mount: 'approle', role_id, secret_id }), maxVersions: 10, timeoutMs: 10_000,
 * });
 * const version = await store.write('tokens/klikoo', { access_token: '…' }, null); // '1'
 * ```
 */
export class VaultStore implements SecretStore, RecordLister, RecordRemover {
  readonly kind = 'vault';
  readonly capabilities: StoreCapabilities = Object.freeze({ compareAndSet: true });
  readonly #client: VaultClient;
  readonly #session: VaultSession;
  readonly #mount: string;
  readonly #prefix: string;
  readonly #metadata: { max_versions: number; custom_metadata: Record<string, string> };
  readonly #timeoutMs: number;
  readonly #address: string;
  readonly #logger: Logger | undefined;
  readonly #closing = new AbortController();
  /** Records whose metadata this process has set; once each is enough. */
  readonly #prepared = new Set<string>();

  constructor(options: VaultStoreOptions) {
    this.#client = new VaultClient({
      address: options.address,
      timeoutMs: options.timeoutMs,
      signal: this.#closing.signal,
      ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      ...(options.transport === undefined ? {} : { transport: options.transport }),
    });
    const client = this.#client;
    this.#session = new VaultSession({
      login: () => options.auth(client),
      renew: (token, incrementSeconds) => client.renewSelf(token, incrementSeconds),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    this.#mount = options.mount;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.timeoutMs;
    this.#address = this.#client.address;
    this.#logger = options.logger;
    this.#metadata = {
      max_versions: options.maxVersions,
      custom_metadata: { ...options.customMetadata, 'managed-by': 'token-rotator' },
    };
  }

  /**
   * Reads the latest version, or `undefined` when there is none or it was deleted.
   * @throws {StoreError} when Vault is unreachable, slow or refuses the read.
   */
  async read(path: string): Promise<StoredRecord | undefined> {
    assertRecordPath(path);
    try {
      const secret = await this.#authorized((token) => this.#client.kvRead(this.#mount, this.#secretPath(path), token));
      return secret?.data === undefined ? undefined : { value: secret.data, version: String(secret.version) };
    } catch (error) {
      throw this.#wrap(error, 'read', path);
    }
  }

  /**
   * Writes a new version with check-and-set on `expectedVersion` (`null`: `cas=0`, only if
   * no record exists) and returns its KV version. Works when the engine or the secret has
   * `cas_required` set.
   * @throws {ConflictError} when the record's version is not `expectedVersion`.
   * @throws {StoreError} when Vault is unreachable, slow or refuses the write; not
   *   retryable when the record is over {@link MAX_RECORD_BYTES} or Vault's answer cannot
   *   change (permission denied, no such mount, a malformed request).
   */
  async write(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    options: WriteOptions = {},
  ): Promise<string> {
    assertRecordPath(path);
    const { labels } = options;
    const size = echoedSize(value);
    if (size === undefined) throw new StoreError(`record ${path} is not a JSON object`, { retryable: false });
    if (size > MAX_RECORD_BYTES) {
      throw new StoreError(
        `record ${path} is ${size} bytes as JSON, over the Vault store's limit of ${MAX_RECORD_BYTES}`,
        { retryable: false },
      );
    }
    const cas = expectedVersion === null ? 0 : Number(expectedVersion);
    if (!Number.isSafeInteger(cas) || cas < 0) throw new ConflictError(path);
    const secretPath = this.#secretPath(path);
    try {
      return await this.#authorized(async (token) => {
        const first = !this.#prepared.has(path);
        if (first) {
          // Before the first write, so a failure leaves nothing half done.
          const custom_metadata = { ...labels, ...this.#metadata.custom_metadata };
          await this.#client.kvWriteMetadata(this.#mount, secretPath, { ...this.#metadata, custom_metadata }, token);
          this.#prepared.add(path);
        }
        const version = await this.#writeData(path, secretPath, value, expectedVersion, cas, token);
        if (!first && labels !== undefined) {
          // Descriptive only: the write has landed, so a failure here must not fail it.
          await this.#client.kvPatchCustomMetadata(this.#mount, secretPath, labels, token).catch((error: unknown) => {
            this.#logger?.warn(
              { path, error: { message: (error as Error).message } },
              'could not update the record metadata',
            );
          });
        }
        return version;
      });
    } catch (error) {
      throw this.#wrap(error, 'write', path);
    }
  }

  async #writeData(
    path: string,
    secretPath: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    cas: number,
    token: string,
  ): Promise<string> {
    try {
      return String(await this.#client.kvWrite(this.#mount, secretPath, value, cas, token));
    } catch (error) {
      if (!isCasMismatch(error)) throw error;
      if (expectedVersion === null) {
        // `read` reports a deleted latest version as no record; creating over it must
        // then compare against that version, still atomically.
        const metadata = await this.#client.kvReadMetadata(this.#mount, secretPath, token);
        if (metadata?.currentDeleted) {
          try {
            return String(await this.#client.kvWrite(this.#mount, secretPath, value, metadata.currentVersion, token));
          } catch (retryError) {
            if (isCasMismatch(retryError)) throw new ConflictError(path, { cause: retryError });
            throw retryError;
          }
        }
      }
      throw new ConflictError(path, { cause: error });
    }
  }

  /**
   * Removes the record with every version Vault keeps of it (`DELETE <mount>/metadata/…`),
   * so it can be neither read nor undeleted. For `token-rotator revoke`
   * ({@link RecordRemover}); needs the `delete` capability on the metadata path, which the
   * rotator's own policy (deploy/vault/rotator-policy.hcl) does not grant.
   * @returns `false` when there was no record (none, or its latest version deleted).
   * @throws {StoreError} when Vault is unreachable, slow or refuses the removal.
   */
  async remove(path: string): Promise<boolean> {
    assertRecordPath(path);
    const secretPath = this.#secretPath(path);
    try {
      return await this.#authorized(async (token) => {
        const metadata = await this.#client.kvReadMetadata(this.#mount, secretPath, token);
        if (metadata === undefined) return false;
        await this.#client.kvDeleteMetadata(this.#mount, secretPath, token);
        // A record written again later gets its metadata anew.
        this.#prepared.delete(path);
        return !metadata.currentDeleted;
      });
    } catch (error) {
      throw this.#wrap(error, 'remove', path);
    }
  }

  /**
   * Lists the records under `prefix` (`tokens` or `tokens/`; `''` for all), sorted. For
   * operators and tests: not part of the store contract ({@link RecordLister}).
   */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertRecordPath(base);
    const found: string[] = [];
    try {
      await this.#authorized(async (token) => {
        found.length = 0;
        await this.#collect(base, token, found);
      });
    } catch (error) {
      throw this.#wrap(error, 'list', prefix === '' ? '(all)' : prefix);
    }
    return found.sort();
  }

  /** Stops renewing the token and aborts requests in flight; every later call fails. */
  async close(): Promise<void> {
    this.#session.close();
    this.#closing.abort();
  }

  async #collect(folder: string, token: string, found: string[]): Promise<void> {
    const keys = await this.#client.kvList(this.#mount, this.#secretPath(folder), token);
    for (const key of keys ?? []) {
      const name = key.endsWith('/') ? key.slice(0, -1) : key;
      const path = folder === '' ? name : `${folder}/${name}`;
      if (!isRecordPath(path)) continue;
      if (key.endsWith('/')) await this.#collect(path, token, found);
      else found.push(path);
    }
  }

  /**
   * Runs `call` with a token, logging in first if needed. When Vault answers 403 and no
   * longer accepts the token itself, logs in again once and repeats `call`; a 403 with a
   * valid token is the policy's answer and is final.
   */
  async #authorized<T>(call: (token: string) => Promise<T>): Promise<T> {
    if (this.#closing.signal.aborted) throw new StoreError('the Vault store is closed');
    const login = await this.#session.current();
    try {
      return await call(login.token);
    } catch (error) {
      if (!(error instanceof VaultHttpError && error.status === 403)) throw error;
      if ((await this.#client.lookupSelf(login.token)) !== undefined) throw error;
      const fresh = await this.#session.replace(login);
      return await call(fresh.token);
    }
  }

  #secretPath(path: string): string {
    return path === '' ? this.#prefix : `${this.#prefix}/${path}`;
  }

  /**
   * Our own errors pass unchanged; Vault's become a StoreError naming the call, the
   * address and the status or system error, never a value. An HTTP answer repeating cannot
   * change (permission denied, no such mount, a malformed or too large request) is not
   * retryable; a network error, a timeout, 429 and 5xx are.
   */
  #wrap(error: unknown, operation: string, path: string): RotatorError {
    if (error instanceof RotatorError) return error;
    const where = `could not ${operation} record ${path}`;
    if (error instanceof VaultTransportError && error.timedOut) {
      return new StoreError(`${where}: no answer from Vault within ${this.#timeoutMs / 1000} s`, { cause: error });
    }
    const at = `; Vault at ${this.#address}`;
    if (error instanceof VaultHttpError) {
      const reason =
        error.status === 403
          ? ' (permission denied)'
          : error.noSuchMount
            ? ` (no secrets engine is mounted at ${this.#mount})`
            : '';
      return new StoreError(`${where}: ${error.message}${reason}${at}`, {
        cause: error,
        retryable: !PERMANENT_STATUSES.has(error.status),
      });
    }
    // Names the call, the system or TLS error code and the address already.
    if (error instanceof VaultTransportError) return new StoreError(`${where}: ${error.message}`, { cause: error });
    const code = systemErrorCode(error);
    return new StoreError(`${where}: ${(error as Error).message}${code === undefined ? '' : ` (${code})`}${at}`, {
      cause: error,
    });
  }
}

/**
 * Builds the Vault store from its configuration. `logger` receives its logins, renewals
 * and their failures (a warning when a token given in the config is about to expire).
 * @throws {ConfigError} when `ca_file` cannot be read.
 */
export function createVaultStore(config: VaultStoreConfig, options: { readonly logger?: Logger } = {}): VaultStore {
  return new VaultStore({
    ...(options.logger === undefined ? {} : { logger: options.logger }),
    address: config.address,
    mount: config.mount,
    prefix: config.prefix,
    auth: authFor(config.auth),
    maxVersions: config.max_versions,
    timeoutMs: config.request_timeout_seconds * 1000,
    ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
    ...(config.custom_metadata === undefined ? {} : { customMetadata: config.custom_metadata }),
    ...(config.ca_file === undefined ? {} : { transport: caTransport(readCa(config.ca_file)) }),
  });
}

function readCa(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ path: 'store.ca_file', message: `cannot read ${file} (${code})` }], { cause: error });
  }
}

/**
 * The UTF-8 size of `value`'s JSON as Vault echoes it: Go's encoder writes `<`, `>` and
 * `&` as `\u003c`-style escapes (five bytes more each) and U+2028 and U+2029 likewise
 * (three more); `undefined` when `value` has no JSON form (a BigInt, a cycle).
 */
function echoedSize(value: Record<string, unknown>): number | undefined {
  let json: unknown;
  try {
    json = JSON.stringify(value);
  } catch {
    return undefined;
  }
  if (typeof json !== 'string' || !json.startsWith('{')) return undefined;
  let extra = 0;
  for (const char of json) {
    if (char === '<' || char === '>' || char === '&') extra += 5;
    else if (char === '\u2028' || char === '\u2029') extra += 3;
  }
  return Buffer.byteLength(json, 'utf8') + extra;
}

function isCasMismatch(error: unknown): boolean {
  return (
    error instanceof VaultHttpError &&
    error.status === 400 &&
    error.errors.some((message) => message.includes(CAS_MISMATCH))
  );
}
