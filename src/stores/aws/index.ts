/**
 * The AWS Secrets Manager store: one secret per record, named by a prefix and the record
 * path, holding the record as JSON; the record's version is the `VersionId` that carries
 * the `AWSCURRENT` staging label.
 *
 * Secrets Manager has no compare-and-set call. Staging labels give one: a write stages
 * the new value under a label of ours, then moves `AWSCURRENT` onto it naming the version
 * it read in `RemoveFromVersionId`, which fails when `AWSCURRENT` has moved meanwhile.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 */
import { createHash } from 'node:crypto';
import { ConflictError, ErrorCodes, RotatorError, StoreError } from '../../errors.js';
import { assertRecordPath, isRecordPath, type SecretStore, type StoreCapabilities, type StoredRecord } from '../contract.js';
import { sdkSecretsManager, type SecretsManagerApi } from './client.js';
import type { AwsStoreConfig } from './config.js';

export { awsStoreSchema, type AwsStoreConfig } from './config.js';
export { sdkSecretsManager, type SecretsManagerApi } from './client.js';

/** The label a write stages its new version under before `AWSCURRENT` moves onto it. */
export const PENDING_STAGE = 'TOKEN_ROTATOR_PENDING';
const CURRENT_STAGE = 'AWSCURRENT';

/** Options of {@link AwsSecretsStore}. */
export interface AwsSecretsStoreOptions {
  /** The Secrets Manager calls; {@link sdkSecretsManager} in production, a fake in unit tests. */
  readonly client: SecretsManagerApi;
  /** Prepended to record paths to name secrets; `token-rotator/` by default. */
  readonly prefix?: string;
  /** KMS key new secrets are encrypted with; the account's `aws/secretsmanager` key otherwise. */
  readonly kmsKeyId?: string | undefined;
  /** Extra tags for the secrets this store creates. */
  readonly tags?: Readonly<Record<string, string>> | undefined;
}

/**
 * Keeps records in AWS Secrets Manager. Record `tokens/klikoo` is the secret
 * `token-rotator/tokens/klikoo`, created on its first write with the tags
 * `managed-by=token-rotator` and `provider=klikoo`.
 *
 * A write to an existing record costs four calls: DescribeSecret (is `AWSCURRENT` still
 * the version read? if not, fail before creating a version), PutSecretValue (the new
 * version, labelled {@link PENDING_STAGE}), UpdateSecretVersionStage (move `AWSCURRENT`,
 * the compare-and-set) and UpdateSecretVersionStage (drop our label). Its
 * `ClientRequestToken`, and so the new version's id, is derived from the secret, the
 * expected version and the value: a retried write creates no second version, and a
 * retry after a lost acknowledgement finds its own version current and succeeds.
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
 * const store = new AwsSecretsStore({ client: sdkSecretsManager({ region: 'eu-south-1', max_attempts: 3 }) });
 * const v1 = await store.write('tokens/klikoo', { access_token: '…' }, null);
 * await store.write('tokens/klikoo', { access_token: '…' }, v1);
 * ```
 */
export class AwsSecretsStore implements SecretStore {
  readonly kind = 'aws';
  /** Every write is a new secret version that an operator can move `AWSCURRENT` back to. */
  readonly capabilities: StoreCapabilities = Object.freeze({ compareAndSet: true, history: true });
  readonly prefix: string;
  readonly #client: SecretsManagerApi;
  readonly #kmsKeyId: string | undefined;
  readonly #tags: Readonly<Record<string, string>>;
  #closed = false;

  constructor(options: AwsSecretsStoreOptions) {
    this.prefix = options.prefix ?? 'token-rotator/';
    if (this.prefix === '') throw new TypeError('the AWS store prefix must not be empty');
    this.#client = options.client;
    this.#kmsKeyId = options.kmsKeyId;
    this.#tags = options.tags ?? {};
  }

  /** The name of the secret that holds the record at `path`. */
  secretName(path: string): string {
    return this.prefix + path;
  }

  /** Reads the `AWSCURRENT` version of the record's secret, or `undefined` when there is none. */
  async read(path: string): Promise<StoredRecord | undefined> {
    assertRecordPath(path);
    const name = this.secretName(path);
    let output;
    try {
      output = await this.#client.getSecretValue({ SecretId: name, VersionStage: CURRENT_STAGE });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      throw failure('GetSecretValue', name, error);
    }
    if (output.VersionId === undefined || output.SecretString === undefined) {
      throw new StoreError(`secret ${name} has no text value at ${CURRENT_STAGE}`, { code: ErrorCodes.STORE_RECORD_INVALID });
    }
    return { value: decode(output.SecretString, name), version: output.VersionId };
  }

  /**
   * Writes `value` if `AWSCURRENT` is still `expectedVersion` (`null`: only if the secret
   * does not exist) and returns the new version's id.
   * @throws {ConflictError} when another version became current, or the secret appeared or vanished.
   * @throws {StoreError} when Secrets Manager fails after the SDK's own retries.
   */
  async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    assertRecordPath(path);
    const name = this.secretName(path);
    const body = JSON.stringify(value);
    const token = requestToken(name, expectedVersion, body);
    return expectedVersion === null ? this.#create(path, name, body, token) : this.#update(path, name, body, token, expectedVersion);
  }

  /**
   * Lists the records under `prefix` (`tokens` or `tokens/`; `''` for all) whose secrets
   * exist and are not scheduled for deletion, as full record paths, sorted.
   */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertRecordPath(base);
    const namePrefix = this.prefix + (base === '' ? '' : `${base}/`);
    const found: string[] = [];
    let nextToken: string | undefined;
    do {
      let page;
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
        const path = secret.Name.slice(this.prefix.length);
        if (isRecordPath(path)) found.push(path);
      }
      nextToken = page.NextToken === '' ? undefined : page.NextToken;
    } while (nextToken !== undefined);
    return found.sort();
  }

  /** Closes the SDK client's connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.destroy();
  }

  async #create(path: string, name: string, body: string, token: string): Promise<string> {
    try {
      const output = await this.#client.createSecret({
        Name: name,
        SecretString: body,
        // The same token and value again is a no-op returning the same version.
        ClientRequestToken: token,
        Tags: this.#tagsFor(path),
        ...(this.#kmsKeyId === undefined ? {} : { KmsKeyId: this.#kmsKeyId }),
      });
      return output.VersionId ?? token;
    } catch (error) {
      if (isNamed(error, 'ResourceExistsException')) throw new ConflictError(path, { cause: error });
      throw failure('CreateSecret', name, error);
    }
  }

  async #update(path: string, name: string, body: string, token: string, expected: string): Promise<string> {
    // Cheap check first: a stale write fails here, before it adds a version to the secret.
    const before = await this.#currentVersion(name);
    if (before === token) return token; // this very write completed earlier; its answer was lost
    if (before !== expected) throw new ConflictError(path);

    try {
      await this.#client.putSecretValue({ SecretId: name, SecretString: body, ClientRequestToken: token, VersionStages: [PENDING_STAGE] });
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
        RemoveFromVersionId: expected,
      });
    } catch (error) {
      // AWS names no exception for a mismatch, and a lost answer may hide a success:
      // what is current now decides.
      const after = await this.#currentVersion(name).catch(() => {
        throw failure('UpdateSecretVersionStage', name, error);
      });
      if (after !== token) {
        if (after !== expected) throw new ConflictError(path, { cause: error });
        throw failure('UpdateSecretVersionStage', name, error);
      }
    }

    // Only tidiness: the label moves to the next write's version by itself, so a failure
    // here leaves at most one stale label per secret and must not fail a write that landed.
    await this.#client
      .updateSecretVersionStage({ SecretId: name, VersionStage: PENDING_STAGE, RemoveFromVersionId: token })
      .catch(() => undefined);
    return token;
  }

  /** The id of the version labelled `AWSCURRENT`, or `undefined` when the secret is gone. */
  async #currentVersion(name: string): Promise<string | undefined> {
    let output;
    try {
      output = await this.#client.describeSecret({ SecretId: name });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      throw failure('DescribeSecret', name, error);
    }
    const entry = Object.entries(output.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(CURRENT_STAGE));
    return entry?.[0];
  }

  #tagsFor(path: string): { Key: string; Value: string }[] {
    const provider = /^(?:tokens|state)\/([^/]+)$/.exec(path)?.[1];
    const tags: Record<string, string> = { ...this.#tags, 'managed-by': 'token-rotator' };
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
  const hex = createHash('sha256').update(`${name}\n${expectedVersion ?? ''}\n${body}`).digest('hex');
  const variant = ((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function decode(text: string, name: string): Record<string, unknown> {
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

/** A StoreError naming the call and the secret, and the exception's name, never its message. */
function failure(operation: string, name: string, error: unknown): RotatorError {
  if (error instanceof RotatorError) return error;
  const kind = error instanceof Error && error.name !== 'Error' ? ` (${error.name})` : '';
  return new StoreError(`Secrets Manager ${operation} failed for secret ${name}${kind}`, { cause: error });
}

