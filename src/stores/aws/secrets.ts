/**
 * One Secrets Manager secret as a compare-and-set cell. Secrets Manager has no
 * compare-and-set call; staging labels give one: a write stages the new value under a
 * label of ours ({@link PENDING_STAGE}), then moves `AWSCURRENT` onto it naming the
 * version it read in `RemoveFromVersionId`, which fails when `AWSCURRENT` has moved
 * meanwhile. Two calls per write; the label stays on the current version and moves to the
 * next write's version by itself.
 *
 * Every write over the same version stages the same version id ({@link requestToken}:
 * the secret and the version read, not the value), so writers racing over one version
 * create one new version between them, not one each: Secrets Manager refuses a second
 * value under an id in use (`ResourceExistsException`), before any version is made. The
 * writer refused that way finishes the first one's write (moves `AWSCURRENT` onto it, as
 * its writer was about to, or would have had it not died) and reports a conflict, so a
 * write staged and never moved cannot block the record either. Lost races therefore cost
 * nothing of the version budget. For the same reason a writer whose own move fails while
 * the version it read is no longer current knows its write landed: nothing else could
 * have replaced that version.
 *
 * What moto 5.2.5 (the test server) does here, checked by experiment and in its source:
 * - It rejects `UpdateSecretVersionStage` when `RemoveFromVersionId` does not carry the
 *   label, when it names no version, and when it is omitted while `AWSCURRENT` sits
 *   elsewhere, so the move is a real check-and-set there too, but its threaded server
 *   takes no lock per secret: two moves racing in the same instant are not linearizable
 *   in moto. AWS documents that the call fails on a mismatch without naming the
 *   exception, so a failed move is judged by reading which version is current.
 * - `PutSecretValue` with a token already used for the same value returns that version
 *   and adds none; for another value it throws `ResourceExistsException`, as AWS does.
 * - Its `GetSecretValue` without `VersionStage` returns a "default" version that it moves
 *   in `PutSecretValue` and `CreateSecret` but not in `UpdateSecretVersionStage` (AWS
 *   returns `AWSCURRENT`); the store always names `AWSCURRENT`, and the tests start moto
 *   with that corrected so a consumer's plain call is checked as AWS answers it.
 *
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_UpdateSecretVersionStage.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_BatchGetSecretValue.html
 */
import { createHash } from 'node:crypto';
import { ConflictError, ErrorCodes, StoreError } from '../../errors.js';
import type { SecretsManagerApi } from './client.js';
import { failure, isNamed } from './failures.js';

/** The label a write stages its new version under before `AWSCURRENT` moves onto it. */
export const PENDING_STAGE = 'TOKEN_ROTATOR_PENDING';
const CURRENT_STAGE = 'AWSCURRENT';
const SERVICE = 'Secrets Manager';

/**
 * Secrets Manager's limit on a `SecretString`, in bytes.
 * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_PutSecretValue.html
 */
export const MAX_SECRET_STRING_BYTES = 65_536;

/** The most secrets one `BatchGetSecretValue` reads. */
export const BATCH_LIMIT = 20;

/** A secret's `AWSCURRENT` version. */
export interface CurrentValue {
  readonly versionId: string;
  readonly text: string;
  /** When the version was created (epoch ms), when the answer says. */
  readonly createdAt?: number | undefined;
}

/** What {@link SecretCells.presence} found. */
export interface Presence {
  /** Secrets a read finds, with their `AWSCURRENT` text when they hold one. */
  readonly live: ReadonlyMap<string, string | undefined>;
  /** Secrets scheduled for deletion: not found by a read, but their names are not free yet. */
  readonly deleting: readonly string[];
}

/** How new secrets are created: their KMS key and tags. */
export interface CreateOptions {
  readonly kmsKeyId?: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

/** The secret-level calls of the store, each mapped onto the contract's errors. */
export class SecretCells {
  readonly #client: SecretsManagerApi;

  constructor(client: SecretsManagerApi) {
    this.#client = client;
  }

  /** The `AWSCURRENT` version of `name`, or `undefined` when the secret does not exist. */
  async get(name: string): Promise<CurrentValue | undefined> {
    let output: Awaited<ReturnType<SecretsManagerApi['getSecretValue']>>;
    try {
      output = await this.#client.getSecretValue({ SecretId: name, VersionStage: CURRENT_STAGE });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException') || isMarkedForDeletion(error)) return undefined;
      throw failure(SERVICE, 'GetSecretValue', `secret ${name}`, error);
    }
    return current(name, output);
  }

  /**
   * The `AWSCURRENT` versions of up to {@link BATCH_LIMIT} secrets in one call, by name;
   * a secret that does not exist is absent from the map.
   */
  async batch(names: readonly string[]): Promise<Map<string, CurrentValue>> {
    let output: Awaited<ReturnType<SecretsManagerApi['batchGetSecretValue']>>;
    try {
      output = await this.#client.batchGetSecretValue({ SecretIdList: [...names] });
    } catch (error) {
      throw failure(SERVICE, 'BatchGetSecretValue', `secret ${names[0]} and ${names.length - 1} more`, error);
    }
    const found = new Map<string, CurrentValue>();
    for (const value of output.SecretValues ?? []) {
      if (value.Name !== undefined) found.set(value.Name, current(value.Name, value));
    }
    const failed = (output.Errors ?? []).find(
      (entry) =>
        entry.ErrorCode !== 'ResourceNotFoundException' &&
        !isMarkedForDeletion({ name: entry.ErrorCode, message: entry.Message }),
    );
    if (failed !== undefined) {
      const exception = Object.assign(new Error('batch entry failed'), { name: failed.ErrorCode ?? 'Error' });
      throw failure(SERVICE, 'BatchGetSecretValue', `secret ${failed.SecretId ?? names[0]}`, exception);
    }
    return found;
  }

  /**
   * Which of `names` exist, in as many `BatchGetSecretValue` calls as {@link BATCH_LIMIT}
   * takes: `live` maps each secret a read would find to its `AWSCURRENT` text (`undefined`
   * when it holds no text); `deleting` lists those scheduled for deletion, which a read
   * does not find but whose name a create cannot take until they are gone.
   */
  async presence(names: readonly string[]): Promise<Presence> {
    const live = new Map<string, string | undefined>();
    const deleting: string[] = [];
    for (let start = 0; start < names.length; start += BATCH_LIMIT) {
      const chunk = names.slice(start, start + BATCH_LIMIT);
      let output: Awaited<ReturnType<SecretsManagerApi['batchGetSecretValue']>>;
      try {
        output = await this.#client.batchGetSecretValue({ SecretIdList: chunk });
      } catch (error) {
        throw failure(SERVICE, 'BatchGetSecretValue', `secret ${chunk[0]} and ${chunk.length - 1} more`, error);
      }
      for (const value of output.SecretValues ?? [])
        if (value.Name !== undefined) live.set(value.Name, value.SecretString);
      for (const entry of output.Errors ?? []) {
        if (entry.ErrorCode === 'ResourceNotFoundException') continue;
        if (isMarkedForDeletion({ name: entry.ErrorCode, message: entry.Message })) {
          if (entry.SecretId !== undefined) deleting.push(entry.SecretId);
          continue;
        }
        const exception = Object.assign(new Error('batch entry failed'), { name: entry.ErrorCode ?? 'Error' });
        throw failure(SERVICE, 'BatchGetSecretValue', `secret ${entry.SecretId ?? chunk[0]}`, exception);
      }
    }
    return { live, deleting };
  }

  /**
   * Creates `name` holding `body`.
   * @throws {ConflictError} when the secret exists already.
   */
  async create(path: string, name: string, body: string, token: string, options: CreateOptions): Promise<void> {
    assertSize(path, name, body);
    try {
      await this.#client.createSecret({
        Name: name,
        SecretString: body,
        // The same token and value again is a no-op returning the same version.
        ClientRequestToken: token,
        Tags: Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value })),
        ...(options.kmsKeyId === undefined ? {} : { KmsKeyId: options.kmsKeyId }),
      });
    } catch (error) {
      if (isNamed(error, 'ResourceExistsException')) throw new ConflictError(path, { cause: error });
      throw failure(SERVICE, 'CreateSecret', `secret ${name}`, error);
    }
  }

  /**
   * Makes `body` the `AWSCURRENT` value of `name` if `AWSCURRENT` is still on
   * `expectedVersionId`, as version `token`. A retry of a write whose answer was lost finds
   * its own version current and succeeds.
   * @throws {ConflictError} when another writer's value is staged over the version read, or the secret is gone.
   */
  async swap(path: string, name: string, body: string, token: string, expectedVersionId: string): Promise<void> {
    assertSize(path, name, body);
    try {
      await this.#client.putSecretValue({
        SecretId: name,
        SecretString: body,
        ClientRequestToken: token,
        VersionStages: [PENDING_STAGE],
      });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) throw new ConflictError(path, { cause: error });
      if (isNamed(error, 'ResourceExistsException')) {
        // Another writer staged its value over the same version first: finish its write, lose.
        await this.#client
          .updateSecretVersionStage({
            SecretId: name,
            VersionStage: CURRENT_STAGE,
            MoveToVersionId: token,
            RemoveFromVersionId: expectedVersionId,
          })
          .catch(() => undefined);
        throw new ConflictError(path, { cause: error });
      }
      throw failure(SERVICE, 'PutSecretValue', `secret ${name}`, error);
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
      // what is current now decides. Still the version read: the move really failed. The
      // secret gone: removed under us, a conflict. Any other version replaced the one read,
      // and only `token` can (every writer over the version read stages this same id, and
      // one refused for it finishes this write): this write landed, perhaps finished by a
      // racer and written over since.
      const after = await this.#currentVersion(name).catch(() => {
        throw failure(SERVICE, 'UpdateSecretVersionStage', `secret ${name}`, error);
      });
      if (after === expectedVersionId) throw failure(SERVICE, 'UpdateSecretVersionStage', `secret ${name}`, error);
      if (after === undefined) throw new ConflictError(path, { cause: error });
    }
  }

  /**
   * Deletes `name` at once, without a recovery window; a secret already gone is not an
   * error. AWS answers a forced delete of a secret that does not exist with success, not
   * `ResourceNotFoundException`, so whether there was one is for {@link presence} to say.
   * The deletion itself finishes in the background: for a moment after, the name is still
   * taken (a create is refused as for a secret scheduled for deletion).
   * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DeleteSecret.html
   */
  async deleteNow(name: string): Promise<void> {
    try {
      await this.#client.deleteSecret({ SecretId: name, ForceDeleteWithoutRecovery: true });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return;
      throw failure(SERVICE, 'DeleteSecret', `secret ${name}`, error);
    }
  }

  /**
   * Schedules `name` for deletion after `days` (7 to 30), during which `RestoreSecret`
   * brings it back; a secret already gone is not an error.
   */
  async deleteLater(name: string, days: number): Promise<void> {
    try {
      await this.#client.deleteSecret({ SecretId: name, RecoveryWindowInDays: days });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return;
      throw failure(SERVICE, 'DeleteSecret', `secret ${name}`, error);
    }
  }

  /** The id of the version labelled `AWSCURRENT`, or `undefined` when the secret is gone. */
  async #currentVersion(name: string): Promise<string | undefined> {
    let output: Awaited<ReturnType<SecretsManagerApi['describeSecret']>>;
    try {
      output = await this.#client.describeSecret({ SecretId: name });
    } catch (error) {
      if (isNamed(error, 'ResourceNotFoundException')) return undefined;
      throw failure(SERVICE, 'DescribeSecret', `secret ${name}`, error);
    }
    const entry = Object.entries(output.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes(CURRENT_STAGE));
    return entry?.[0];
  }
}

/**
 * True for the answer about a secret scheduled for deletion (`InvalidRequestException`,
 * "…marked for deletion"; moto says "marked deleted"): for reading, it no longer exists.
 */
function isMarkedForDeletion(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return name === 'InvalidRequestException' && typeof message === 'string' && /marked (for )?delet/i.test(message);
}

/**
 * The `ClientRequestToken` (the new version's id) of a write: a UUID-shaped digest (RFC
 * 9562 version 8) of the secret and the version read. Every write over that version shares
 * it: a retry of the same write is a no-op, and a rival's different value is refused
 * before it makes a version (see the module doc).
 */
export function requestToken(name: string, expectedVersion: string | null): string {
  const hex = createHash('sha256')
    .update(`${name}\n${expectedVersion ?? ''}`)
    .digest('hex');
  const variant = ((Number.parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

function current(
  name: string,
  output: { VersionId?: string | undefined; SecretString?: string | undefined; CreatedDate?: Date | undefined },
): CurrentValue {
  if (output.VersionId === undefined || output.SecretString === undefined) {
    throw new StoreError(`secret ${name} has no text value at ${CURRENT_STAGE}`, {
      code: ErrorCodes.STORE_RECORD_INVALID,
    });
  }
  return { versionId: output.VersionId, text: output.SecretString, createdAt: output.CreatedDate?.getTime() };
}

function assertSize(path: string, name: string, body: string): void {
  const size = Buffer.byteLength(body, 'utf8');
  if (size > MAX_SECRET_STRING_BYTES) {
    throw new StoreError(
      `record ${path} takes ${size} bytes in secret ${name}, over the Secrets Manager limit of ${MAX_SECRET_STRING_BYTES}`,
      { retryable: false },
    );
  }
}
