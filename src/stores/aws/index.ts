/**
 * The AWS Secrets Manager store: each record is a small ring of secrets named by a prefix,
 * the record path and a slot number (`token-rotator/tokens/klikoo@0` … `@5`), so that no
 * secret takes more new versions in a day than Secrets Manager's budget allows (see
 * `ring.ts`). The record's version is its position in the ring, `<seq>/<size>`.
 *
 * Secrets Manager has no compare-and-set call. Staging labels give one: a write stages
 * the new value under a label of ours in the next slot, then moves `AWSCURRENT` onto it
 * naming the version it read there in `RemoveFromVersionId`, which fails when
 * `AWSCURRENT` has moved meanwhile.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html
 */
import { createHash } from 'node:crypto';
import { ConflictError, ErrorCodes, RotatorError, StoreError } from '../../errors.js';
import {
  assertRecordPath,
  isRecordPath,
  type RecordLister,
  type SecretStore,
  type StoreCapabilities,
  type StoredRecord,
  systemErrorCode,
} from '../contract.js';
import { type SecretsManagerApi, sdkSecretsManager } from './client.js';
import { explainCredentials } from './credentials.js';
import {
  decodeSlot,
  encodeSlot,
  formatVersion,
  MAX_RING_SIZE,
  MAX_VERSIONS_PER_DAY,
  parseVersion,
  type RingPosition,
  slotName,
  unslotted,
} from './ring.js';
import type { AwsStoreConfig } from './schema.js';

export { type SdkSecretsManagerOptions, type SecretsManagerApi, sdkSecretsManager } from './client.js';
export { MAX_VERSIONS_PER_DAY, ringSizeFor, slotName } from './ring.js';
export { type AwsStoreConfig, awsStoreSchema } from './schema.js';

/** The label a write stages its new version under before `AWSCURRENT` moves onto it. */
export const PENDING_STAGE = 'TOKEN_ROTATOR_PENDING';
const CURRENT_STAGE = 'AWSCURRENT';
/** Prefix of the version of a record read from a single secret rather than a ring. */
const SINGLE_VERSION = 'single:';

/**
 * Secrets Manager's limit on a `SecretString`, in bytes. What counts is a slot's whole
 * text, the ring envelope around the record included.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 */
export const MAX_SECRET_STRING_BYTES = 65_536;

/**
 * Exceptions that repeating the same call cannot fix: denied by IAM or by the KMS key,
 * unknown or expired credentials, a request Secrets Manager refuses as malformed, a
 * secret marked for deletion (`InvalidRequestException`). Throttling, 5xx and network
 * errors are not here: the SDK retries those itself, and the engine may again later.
 */
const PERMANENT_EXCEPTIONS = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'EncryptionFailure',
  'DecryptionFailure',
  'InvalidParameterException',
  'InvalidRequestException',
  'ValidationException',
  'MalformedPolicyDocumentException',
]);

/** Options of {@link AwsSecretsStore}. */
export interface AwsSecretsStoreOptions {
  /** The Secrets Manager calls; {@link sdkSecretsManager} in production, a fake in unit tests. */
  readonly client: SecretsManagerApi;
  /** Prepended to record paths to name secrets; `token-rotator/` by default. */
  readonly prefix?: string;
  /** Slots of the rings this store creates (existing rings keep theirs); 6 by default. */
  readonly ringSize?: number;
  /** KMS key new secrets are encrypted with; the account's `aws/secretsmanager` key otherwise. */
  readonly kmsKeyId?: string | undefined;
  /** Extra tags for the secrets this store creates. */
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/** The `AWSCURRENT` version of one slot. */
interface Slot {
  readonly slot: number;
  readonly versionId: string;
  readonly position: RingPosition;
  readonly record: Record<string, unknown>;
}

/**
 * Keeps records in AWS Secrets Manager, each in a ring of secrets. Record `tokens/klikoo`
 * is the secrets `token-rotator/tokens/klikoo@0` … `@<size-1>`, each created on its first
 * write with the tags `managed-by=token-rotator`, `provider=klikoo` and `ring-slot`.
 *
 * A read costs one GetSecretValue per slot, in parallel. A write costs GetSecretValue on
 * its slot (has another writer been there since? if so, fail before creating a version),
 * PutSecretValue (the new version, labelled {@link PENDING_STAGE}),
 * UpdateSecretVersionStage (move `AWSCURRENT`, the compare-and-set) and
 * UpdateSecretVersionStage (drop our label); a slot's first write is one CreateSecret
 * instead. The `ClientRequestToken`, and so the new version's id, is derived from the
 * secret, the expected version and the value: a retried write creates no second
 * version, and a retry after a lost acknowledgement finds its own version current.
 *
 * A record that has no ring is read from the single secret `<prefix><path>` if one
 * exists, so credentials an operator stored by hand can be `${store:}` references.
 *
 * What moto 5.2.5 (the test server) does here, checked by experiment and in its source:
 * - It rejects `UpdateSecretVersionStage` when `RemoveFromVersionId` does not carry the
 *   label (`InvalidParameterException`), when it names no version, and when it is
 *   omitted while `AWSCURRENT` sits elsewhere, so the move is a real check-and-set there
 *   too, but moto's threaded server takes no lock per secret: two moves racing in the
 *   same instant are not linearizable in moto. AWS documents that the call fails on a
 *   mismatch without naming the exception, so a failed move is judged by reading which
 *   version is current, never by the exception's name.
 * - `PutSecretValue` with a token already used for the same value returns that version
 *   and adds none; for another value it throws `ResourceExistsException`, as AWS does.
 * - `GetSecretValue` without `VersionStage` returns a "default" version that moto moves
 *   only in `PutSecretValue`/`CreateSecret`, not in `UpdateSecretVersionStage`, so after
 *   our move it would return the previous value. Reads therefore always ask for
 *   `VersionStage: AWSCURRENT`, which is also exactly what AWS returns by default.
 * - It never prunes versions, and `ListSecretVersionIds` reports every version as
 *   created and accessed "now": version counts must be observed, not read from dates.
 *
 * @example
 * ```ts
 * const store = new AwsSecretsStore({ client: sdkSecretsManager({ region: 'eu-south-1', max_attempts: 3 }), ringSize: 6 });
 * const v1 = await store.write('tokens/klikoo', { access_token: '…' }, null); // '0/6', in …/tokens/klikoo@0
 * await store.write('tokens/klikoo', { access_token: '…' }, v1);              // '1/6', in …/tokens/klikoo@1
 * ```
 */
export class AwsSecretsStore implements SecretStore, RecordLister {
  readonly kind = 'aws';
  /**
   * Every write is a new secret version, and Secrets Manager refuses more than about 100
   * versions of one secret in 24 hours: a record spread over a ring of `ringSize` secrets
   * takes `ringSize` × {@link MAX_VERSIONS_PER_DAY} writes a day.
   */
  readonly capabilities: StoreCapabilities;
  readonly prefix: string;
  readonly ringSize: number;
  readonly #client: SecretsManagerApi;
  readonly #kmsKeyId: string | undefined;
  readonly #tags: Readonly<Record<string, string>>;
  #closed = false;

  constructor(options: AwsSecretsStoreOptions) {
    this.prefix = options.prefix ?? 'token-rotator/';
    if (this.prefix === '') throw new TypeError('the AWS store prefix must not be empty');
    this.ringSize = options.ringSize ?? 6;
    if (!Number.isInteger(this.ringSize) || this.ringSize < 1 || this.ringSize > MAX_RING_SIZE) {
      throw new TypeError(`the AWS store ring size must be an integer from 1 to ${MAX_RING_SIZE}`);
    }
    this.capabilities = Object.freeze({
      compareAndSet: true,
      writeBudget: Object.freeze({ writes: this.ringSize * MAX_VERSIONS_PER_DAY, windowSeconds: 86_400 }),
    });
    this.#client = options.client;
    this.#kmsKeyId = options.kmsKeyId;
    this.#tags = options.tags ?? {};
  }

  /** The name of the single secret of `path`; its ring's slots append `@<slot>`. */
  secretName(path: string): string {
    return this.prefix + path;
  }

  /**
   * Reads the freshest slot of the record's ring, or the record's single secret when it
   * has no ring, or `undefined` when there is neither.
   */
  async read(path: string): Promise<StoredRecord | undefined> {
    assertRecordPath(path);
    const name = this.secretName(path);
    const latest = await this.#latest(name);
    if (latest !== undefined) return { value: latest.record, version: formatVersion(latest.position) };
    const plain = await this.#getCurrent(name);
    if (plain === undefined) return undefined;
    // Not a ring: the rotator never writes a single secret; a write starts a ring instead.
    return { value: decodePlain(plain.text, name), version: `${SINGLE_VERSION}${plain.versionId}` };
  }

  /**
   * Writes `value` as the next position of the record's ring if `expectedVersion` is still
   * its latest (`null`: only if the record has no ring yet) and returns the new version.
   * @throws {ConflictError} when another writer got there first.
   * @throws {StoreError} when Secrets Manager fails after the SDK's own retries; not
   *   retryable when access is denied, the request is refused as invalid, or the slot's
   *   text would exceed {@link MAX_SECRET_STRING_BYTES}.
   */
  async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    assertRecordPath(path);
    // A record read from a single secret is superseded by a new ring, starting at 0.
    const fresh = expectedVersion === null || expectedVersion.startsWith(SINGLE_VERSION);
    const expected = fresh ? undefined : parseVersion(expectedVersion);
    if (!fresh && expected === undefined) throw new ConflictError(path);
    // Every writer follows the size the ring was created with.
    const position: RingPosition =
      expected === undefined ? { seq: 0, size: this.ringSize } : { seq: expected.seq + 1, size: expected.size };
    const slot = position.seq % position.size;
    const name = slotName(this.secretName(path), slot);
    const body = encodeSlot(position, value);
    const size = Buffer.byteLength(body, 'utf8');
    if (size > MAX_SECRET_STRING_BYTES) {
      throw new StoreError(
        `record ${path} takes ${size} bytes in secret ${name}, over the Secrets Manager limit of ${MAX_SECRET_STRING_BYTES}`,
        {
          retryable: false,
        },
      );
    }
    const token = requestToken(name, expectedVersion, body);

    const current = await this.#readSlot(name, slot);
    if (current === undefined) {
      // A slot is missing only until the ring first fills; later it was deleted meanwhile.
      if (position.seq >= position.size) throw new ConflictError(path);
      await this.#create(path, name, slot, body, token);
    } else if (current.versionId !== token) {
      // The slot already holds this position or a later one: someone wrote after our read.
      if (current.position.seq >= position.seq) throw new ConflictError(path);
      await this.#update(path, name, body, token, current.versionId);
    } // else: this very write completed earlier and its answer was lost.
    return formatVersion(position);
  }

  /**
   * Lists the records under `prefix` (`tokens` or `tokens/`; `''` for all) that have a
   * ring or a single secret not scheduled for deletion, as record paths, sorted. For
   * operators and tests: not part of the store contract ({@link RecordLister}).
   */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertRecordPath(base);
    const namePrefix = this.prefix + (base === '' ? '' : `${base}/`);
    const found = new Set<string>();
    let nextToken: string | undefined;
    do {
      let page: Awaited<ReturnType<SecretsManagerApi['listSecrets']>>;
      try {
        page = await this.#client.listSecrets({
          Filters: [{ Key: 'name', Values: [namePrefix] }],
          MaxResults: 100,
          ...(nextToken === undefined ? {} : { NextToken: nextToken }),
        });
      } catch (error) {
        throw failure('ListSecrets', `${namePrefix}*`, error);
      }
      for (const secret of page.SecretList ?? []) {
        // The filter is a prefix match already; checking again keeps foreign names out.
        if (secret.Name === undefined || !secret.Name.startsWith(namePrefix)) continue;
        const path = unslotted(secret.Name).slice(this.prefix.length);
        if (isRecordPath(path)) found.add(path);
      }
      nextToken = page.NextToken === '' ? undefined : page.NextToken;
    } while (nextToken !== undefined);
    return [...found].sort();
  }

  /** Closes the SDK client's connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  /**
   * The slot with the highest position among slots `0 … size-1`, reading further slots
   * when a ring records a larger size than this store's; `undefined` when no slot exists.
   */
  async #latest(name: string): Promise<Slot | undefined> {
    let latest: Slot | undefined;
    let read = 0;
    let size = this.ringSize;
    while (read < size) {
      const slots = await Promise.all(
        Array.from({ length: size - read }, (_, i) => this.#readSlot(slotName(name, read + i), read + i)),
      );
      read = size;
      for (const slot of slots)
        if (slot !== undefined && (latest === undefined || slot.position.seq > latest.position.seq)) latest = slot;
      if (latest !== undefined) size = Math.max(size, latest.position.size);
    }
    return latest;
  }

  /** The `AWSCURRENT` version of a slot's secret, decoded; `undefined` when it does not exist. */
  async #readSlot(name: string, slot: number): Promise<Slot | undefined> {
    const current = await this.#getCurrent(name);
    if (current === undefined) return undefined;
    const decoded = decodeSlot(current.text);
    if (!decoded.ok)
      throw new StoreError(`secret ${name} ${decoded.reason}`, { code: ErrorCodes.STORE_RECORD_INVALID });
    return { slot, versionId: current.versionId, position: decoded.position, record: decoded.record };
  }

  async #getCurrent(name: string): Promise<{ versionId: string; text: string } | undefined> {
    let output: Awaited<ReturnType<SecretsManagerApi['getSecretValue']>>;
    try {
      output = await this.#client.getSecretValue({ SecretId: name, VersionStage: CURRENT_STAGE });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      throw failure('GetSecretValue', name, error);
    }
    if (output.VersionId === undefined || output.SecretString === undefined) {
      throw new StoreError(`secret ${name} has no text value at ${CURRENT_STAGE}`, {
        code: ErrorCodes.STORE_RECORD_INVALID,
      });
    }
    return { versionId: output.VersionId, text: output.SecretString };
  }

  async #create(path: string, name: string, slot: number, body: string, token: string): Promise<void> {
    try {
      await this.#client.createSecret({
        Name: name,
        SecretString: body,
        // The same token and value again is a no-op returning the same version.
        ClientRequestToken: token,
        Tags: this.#tagsFor(path, slot),
        ...(this.#kmsKeyId === undefined ? {} : { KmsKeyId: this.#kmsKeyId }),
      });
    } catch (error) {
      if (isNamed(error, 'ResourceExistsException')) throw new ConflictError(path, { cause: error });
      throw failure('CreateSecret', name, error);
    }
  }

  async #update(path: string, name: string, body: string, token: string, expectedVersionId: string): Promise<void> {
    try {
      await this.#client.putSecretValue({
        SecretId: name,
        SecretString: body,
        ClientRequestToken: token,
        VersionStages: [PENDING_STAGE],
      });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) throw new ConflictError(path, { cause: error });
      throw failure('PutSecretValue', name, error);
    }

    try {
      // The compare-and-set: fails unless AWSCURRENT is still on the version we read.
      await this.#client.updateSecretVersionStage({
        SecretId: name,
        VersionStage: CURRENT_STAGE,
        MoveToVersionId: token,
        RemoveFromVersionId: expectedVersionId,
      });
    } catch (error) {
      // AWS names no exception for a mismatch, and a lost answer may hide a success:
      // what is current now decides.
      const after = await this.#currentVersion(name).catch(() => {
        throw failure('UpdateSecretVersionStage', name, error);
      });
      if (after !== token) {
        if (after !== expectedVersionId) throw new ConflictError(path, { cause: error });
        throw failure('UpdateSecretVersionStage', name, error);
      }
    }

    // Only tidiness: the label moves to the next write's version by itself, so a failure
    // here leaves at most one stale label per secret and must not fail a write that landed.
    await this.#client
      .updateSecretVersionStage({ SecretId: name, VersionStage: PENDING_STAGE, RemoveFromVersionId: token })
      .catch(() => undefined);
  }

  /** The id of the version labelled `AWSCURRENT`, or `undefined` when the secret is gone. */
  async #currentVersion(name: string): Promise<string | undefined> {
    let output: Awaited<ReturnType<SecretsManagerApi['describeSecret']>>;
    try {
      output = await this.#client.describeSecret({ SecretId: name });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      throw failure('DescribeSecret', name, error);
    }
    const entry = Object.entries(output.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(CURRENT_STAGE));
    return entry?.[0];
  }

  #tagsFor(path: string, slot: number): { Key: string; Value: string }[] {
    const provider = /^(?:tokens|state)\/([^/]+)$/.exec(path)?.[1];
    const tags: Record<string, string> = { ...this.#tags, 'managed-by': 'token-rotator', 'ring-slot': String(slot) };
    if (provider !== undefined) tags['provider'] = provider;
    return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  }
}

/**
 * Builds the AWS Secrets Manager store from its configuration, with the SDK's standard
 * credential chain.
 * @example
 * ```ts
 * const store = createAwsStore({ kind: 'aws', prefix: 'token-rotator/', region: 'eu-south-1', max_attempts: 3 });
 * ```
 */
export function createAwsStore(config: AwsStoreConfig): AwsSecretsStore {
  return new AwsSecretsStore({
    client: sdkSecretsManager(config),
    prefix: config.prefix,
    ...(config.ring_size === undefined ? {} : { ringSize: config.ring_size }),
    kmsKeyId: config.kms_key_id,
    tags: config.tags,
  });
}

/**
 * The `ClientRequestToken` of a write: a UUID-shaped digest (RFC 9562 version 8) of the
 * secret, the expected version and the value. Equal writes share it, so a retry is a
 * no-op; the value's digest is one-way, and never appears in a message.
 */
export function requestToken(name: string, expectedVersion: string | null, body: string): string {
  const hex = createHash('sha256')
    .update(`${name}\n${expectedVersion ?? ''}\n${body}`)
    .digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function decodePlain(text: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StoreError(`secret ${name} does not hold a JSON object`, { code: ErrorCodes.STORE_RECORD_INVALID });
  }
  return value as Record<string, unknown>;
}

function isNamed(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

/**
 * A StoreError naming the call and the secret, the exception's name, the HTTP status and
 * the system error code (`ECONNREFUSED`), never the exception's message, which may quote
 * the request; for missing credentials, where the SDK's chain looked. Not retryable for a 403 or a {@link PERMANENT_EXCEPTIONS} name.
 */
function failure(operation: string, name: string, error: unknown): RotatorError {
  if (error instanceof RotatorError) return error;
  const exception = error instanceof Error && error.name !== 'Error' ? error.name : undefined;
  const status = httpStatusOf(error);
  const code = systemErrorCode(error);
  const details = [
    explainCredentials(error) ?? exception,
    status === undefined ? undefined : `HTTP ${status}`,
    code,
  ].filter((part) => part !== undefined);
  const denied = status === 403 || (exception !== undefined && PERMANENT_EXCEPTIONS.has(exception));
  const reason = details.length === 0 ? '' : ` (${details.join(', ')}${status === 403 ? ': access denied' : ''})`;
  return new StoreError(`Secrets Manager ${operation} failed for secret ${name}${reason}`, {
    cause: error,
    retryable: !denied,
  });
}

/** The HTTP status of an SDK error's response, when one came. */
function httpStatusOf(error: unknown): number | undefined {
  const status = (error as { $metadata?: { httpStatusCode?: unknown } } | null)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}
