/**
 * One SSM Parameter Store parameter as a record, for records written more often than one
 * secret's version budget allows (a short-lived token's public record) or every pass (the
 * heartbeat). A parameter keeps its last 100 versions and drops the oldest beyond that,
 * with no daily cap; any AWS client reads it in one `GetParameter`.
 *
 * Parameter Store has no conditional write. `PutParameter` numbers versions one by one,
 * so a write over version `n` that comes back as version `n + 1` replaced exactly what was
 * read; any other number means another writer got in between, and the write reports a
 * conflict although its value landed. The records kept here are the ones the engine
 * republishes whenever they fall behind (it compares generations and pass times), so a
 * race lost this way is repaired by the next read and write, and never touches the lease,
 * which stays in Secrets Manager.
 *
 * @see https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html
 * @see https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-versions.html
 */
import { ConflictError, StoreError } from '../../errors.js';
import type { ParameterStoreApi } from './client.js';
import { failure, isNamed } from './failures.js';

const SERVICE = 'SSM';

/**
 * The largest value an advanced parameter holds, in bytes; values up to 4 KB stay standard
 * (free), larger ones become advanced by the `Intelligent-Tiering` tier.
 * @see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html
 */
export const MAX_PARAMETER_BYTES = 8_192;

/** A parameter's latest version. */
export interface ParameterValue {
  readonly version: number;
  readonly text: string;
  /** When the version was written (epoch ms), when the answer says. */
  readonly modifiedAt?: number | undefined;
}

/** How a parameter is written: encrypted or not, with which key, tagged how on creation. */
export interface ParameterOptions {
  /** `SecureString` (KMS-encrypted) for anything a consumer must not see in clear. */
  readonly secure: boolean;
  readonly kmsKeyId?: string | undefined;
  readonly tags: Readonly<Record<string, string>>;
}

/** The parameter-level calls of the store, each mapped onto the contract's errors. */
export class ParameterCells {
  readonly #client: ParameterStoreApi;

  constructor(client: ParameterStoreApi) {
    this.#client = client;
  }

  /** The latest version of `name`, decrypted, or `undefined` when it does not exist. */
  async get(name: string): Promise<ParameterValue | undefined> {
    let output: Awaited<ReturnType<ParameterStoreApi['getParameter']>>;
    try {
      output = await this.#client.getParameter({ Name: name, WithDecryption: true });
    } catch (error) {
      if (isNamed(error, 'ParameterNotFound')) return undefined;
      throw failure(SERVICE, 'GetParameter', `parameter ${name}`, error);
    }
    const { Value, Version, LastModifiedDate } = output.Parameter ?? {};
    if (Value === undefined || Version === undefined) return undefined;
    return { version: Version, text: Value, modifiedAt: LastModifiedDate?.getTime() };
  }

  /**
   * Writes `text` as the next version of `name`: over version `expected`, or as a new
   * parameter when `expected` is `null`.
   * @returns the new version.
   * @throws {ConflictError} when the parameter exists although `expected` is `null`, or
   *   another writer's version came between `expected` and this one.
   */
  async put(path: string, name: string, text: string, expected: number | null, options: ParameterOptions) {
    const size = Buffer.byteLength(text, 'utf8');
    if (size > MAX_PARAMETER_BYTES) {
      throw new StoreError(
        `record ${path} takes ${size} bytes in parameter ${name}, over the Parameter Store limit of ${MAX_PARAMETER_BYTES}`,
        { retryable: false },
      );
    }
    let version: number | undefined;
    try {
      const output = await this.#client.putParameter({
        Name: name,
        Value: text,
        Type: options.secure ? 'SecureString' : 'String',
        Tier: 'Intelligent-Tiering',
        ...(options.secure && options.kmsKeyId !== undefined ? { KeyId: options.kmsKeyId } : {}),
        // Tags are set on creation only: SSM refuses them together with Overwrite.
        ...(expected === null
          ? { Overwrite: false, Tags: Object.entries(options.tags).map(([Key, Value]) => ({ Key, Value })) }
          : { Overwrite: true }),
      });
      version = output.Version;
    } catch (error) {
      if (isNamed(error, 'ParameterAlreadyExists')) throw new ConflictError(path, { cause: error });
      throw failure(SERVICE, 'PutParameter', `parameter ${name}`, error);
    }
    if (version === undefined || version !== (expected ?? 0) + 1) throw new ConflictError(path);
    return version;
  }

  /**
   * Deletes `name` with all its versions; a parameter already gone is not an error.
   * @returns whether there was one to delete.
   */
  async delete(name: string): Promise<boolean> {
    try {
      await this.#client.deleteParameter({ Name: name });
    } catch (error) {
      if (isNamed(error, 'ParameterNotFound')) return false;
      throw failure(SERVICE, 'DeleteParameter', `parameter ${name}`, error);
    }
    return true;
  }

  /** The names of the parameters under the path `prefix` (ending in `/`), at any depth. */
  async namesUnder(prefix: string): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      let page: Awaited<ReturnType<ParameterStoreApi['getParametersByPath']>>;
      try {
        page = await this.#client.getParametersByPath({
          Path: prefix.endsWith('/') && prefix.length > 1 ? prefix.slice(0, -1) : prefix,
          Recursive: true,
          WithDecryption: false,
          ...(nextToken === undefined ? {} : { NextToken: nextToken }),
        });
      } catch (error) {
        throw failure(SERVICE, 'GetParametersByPath', `parameters ${prefix}*`, error);
      }
      for (const parameter of page.Parameters ?? []) if (parameter.Name !== undefined) names.push(parameter.Name);
      nextToken = page.NextToken === '' ? undefined : page.NextToken;
    } while (nextToken !== undefined);
    return names;
  }
}
