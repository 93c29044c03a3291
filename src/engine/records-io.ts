/**
 * Reading and writing records through a store: validation on read, writes that are
 * retried on store failures worth retrying (never the provider call) and recognise their
 * own earlier success when a retry meets a conflict, and one compare-and-set update loop
 * for the records several runners may write (the public record, the heartbeat).
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, ErrorCodes, StoreError } from '../errors.js';
import type { RecordLabels, RecordUsage, SecretStore } from '../stores/contract.js';
import { type PublicRecord, publicRecordSchema, recordPaths, type StateRecord, stateRecordSchema } from './records.js';

/** A record with the version it was read at (`null`: it does not exist yet). */
export interface Versioned<T> {
  readonly record: T | undefined;
  readonly version: string | null;
}

/** Turns a stored value into a record, or `undefined` when it does not have the layout. */
export type RecordParser<T> = (value: Record<string, unknown>) => T | undefined;

/** Parses a public record; `undefined` when the value does not have the layout. */
export const parsePublic: RecordParser<PublicRecord> = (value) => {
  const parsed = publicRecordSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
};

/**
 * Reads a record and parses it. One of another layout reads as absent (`valid: false`)
 * with its version, so a compare-and-set write can replace it.
 */
export async function readRecord<T>(
  store: SecretStore,
  path: string,
  parse: RecordParser<T>,
  usage?: RecordUsage,
): Promise<Versioned<T> & { valid: boolean }> {
  const stored = await store.read(path, usage);
  if (stored === undefined) return { record: undefined, version: null, valid: true };
  const record = parse(stored.value);
  return { record, version: stored.version, valid: record !== undefined };
}

/** Reads and validates a provider's state record; one of another layout is an error (it is never overwritten). */
export async function readState(store: SecretStore, provider: string): Promise<Versioned<StateRecord>> {
  const path = recordPaths.state(provider);
  const stored = await store.read(path);
  if (stored === undefined) return { record: undefined, version: null };
  const parsed = stateRecordSchema.safeParse(stored.value);
  if (!parsed.success) {
    throw new StoreError(`state record ${path} does not have the expected layout`, {
      code: ErrorCodes.STORE_RECORD_INVALID,
    });
  }
  return { record: parsed.data, version: stored.version };
}

/** Reads a provider's public record; an invalid one reads as absent (it will be rewritten). */
export async function readPublic(
  store: SecretStore,
  provider: string,
): Promise<Versioned<PublicRecord> & { valid: boolean }> {
  return readRecord(store, recordPaths.public(provider), parsePublic);
}

/** How a failed store write is retried (see {@link writeWithRetry}). */
export interface WriteRetryOptions {
  /** Tries in all, the first included (default 4). */
  readonly attempts?: number;
  /** Wait before the second try, doubled before each further one (default 200 ms). */
  readonly delayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Options of one {@link writeWithRetry}. */
export interface WriteOptions {
  /** The version the record was read at (`null`: write only if no record exists). */
  readonly expectedVersion: string | null;
  readonly labels?: RecordLabels | undefined;
  /** How often the record is written ({@link RecordUsage}). */
  readonly usage?: RecordUsage | undefined;
  readonly retry?: WriteRetryOptions | undefined;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Whether repeating a failed store call may help. A store says so on its errors
 * ({@link StoreError.retryable}: false for permission denied, a missing mount, a record
 * too large); anything else (a network error a backend did not wrap) is worth a retry.
 */
export function isRetryableStoreFailure(error: unknown): boolean {
  return error instanceof StoreError ? error.retryable : true;
}

/**
 * Compare-and-set write, retried when the store fails in a way worth retrying; a failure
 * the store marks as not retryable is thrown at once. A conflict on the first attempt is
 * a real conflict and is thrown; on a later attempt it may be our own earlier write that
 * succeeded without us hearing, so the record is read and compared.
 */
export async function writeWithRetry(
  store: SecretStore,
  path: string,
  value: Record<string, unknown>,
  options: WriteOptions,
): Promise<string> {
  // Undefined members vanish in JSON; drop them now so the comparison below is exact.
  const json = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  const attempts = options.retry?.attempts ?? 4;
  const sleep = options.retry?.sleep ?? defaultSleep;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await store.write(path, json, options.expectedVersion, { labels: options.labels, usage: options.usage });
    } catch (error) {
      if (error instanceof ConflictError) {
        if (attempt > 1) {
          const current = await store.read(path, options.usage).catch(() => undefined);
          if (current !== undefined && isDeepStrictEqual(current.value, json)) return current.version;
        }
        throw error;
      }
      if (!isRetryableStoreFailure(error)) throw error;
      lastError = error;
      if (attempt < attempts) await sleep((options.retry?.delayMs ?? 200) * 2 ** (attempt - 1));
    }
  }
  if (lastError instanceof StoreError) throw lastError;
  throw new StoreError(`writing ${path} failed after ${attempts} attempts`, { cause: lastError });
}

/** Options of one {@link updateRecord}. */
export interface UpdateRecordOptions<T> {
  /** Parses the stored value; a value of another layout reads as absent and is replaced. */
  readonly parse: RecordParser<T>;
  /** The value to write over `current`, or `undefined` when the record needs no write. */
  readonly next: (current: T | undefined) => Record<string, unknown> | undefined;
  /** Rounds of read, decide and compare-and-set before giving up with a {@link ConflictError}. */
  readonly attempts: number;
  readonly labels?: RecordLabels | undefined;
  /** How often the record is written ({@link RecordUsage}): it is read and written with it. */
  readonly usage?: RecordUsage | undefined;
  /** How a failed write is retried within a round (see {@link writeWithRetry}). */
  readonly retry?: WriteRetryOptions | undefined;
}

/** What {@link updateRecord} did: wrote `value` at `version`, or found no write needed. */
export type UpdateResult =
  | { readonly written: true; readonly version: string; readonly value: Record<string, unknown> }
  | { readonly written: false };

/**
 * Updates a record other runners may write at the same time: reads it, asks `next` for
 * the value to write over what is there, and writes it by compare-and-set. A lost
 * compare-and-set starts a new round with the record the winner left, so `next` decides
 * again (another runner's later value is kept when `next` says so).
 * @throws {ConflictError} when every one of `attempts` rounds lost its compare-and-set.
 * @throws {StoreError} when the store fails (after the retries of {@link writeWithRetry}).
 * @example
 * await updateRecord(store, 'runner/heartbeat', {
 *   parse: (value) => heartbeatSchema.safeParse(value).data,
 *   next: (current) => (current && current.last_pass_at > mine.last_pass_at ? undefined : mine),
 *   attempts: 3,
 * });
 */
export async function updateRecord<T>(
  store: SecretStore,
  path: string,
  options: UpdateRecordOptions<T>,
): Promise<UpdateResult> {
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    const current = await readRecord(store, path, options.parse, options.usage);
    const value = options.next(current.record);
    if (value === undefined) return { written: false };
    try {
      const version = await writeWithRetry(store, path, value, {
        expectedVersion: current.version,
        labels: options.labels,
        usage: options.usage,
        retry: options.retry,
      });
      return { written: true, version, value };
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error;
    }
  }
  throw new ConflictError(path);
}
