/**
 * Reading and writing the two records through a store: validation on read, and writes
 * that are retried on store failures (never the provider call) and recognise their own
 * earlier success when a retry meets a conflict.
 */
import { isDeepStrictEqual } from 'node:util';
import { ConflictError, ErrorCodes, StoreError } from '../errors.js';
import type { RecordLabels, SecretStore } from '../stores/contract.js';
import { publicRecordSchema, recordPaths, stateRecordSchema, type PublicRecord, type StateRecord } from './records.js';

/** A record with the version it was read at (`null`: it does not exist yet). */
export interface Versioned<T> {
  readonly record: T | undefined;
  readonly version: string | null;
}

/** Reads and validates a provider's state record. */
export async function readState(store: SecretStore, provider: string): Promise<Versioned<StateRecord>> {
  const path = recordPaths.state(provider);
  const stored = await store.read(path);
  if (stored === undefined) return { record: undefined, version: null };
  const parsed = stateRecordSchema.safeParse(stored.value);
  if (!parsed.success) {
    throw new StoreError(`state record ${path} does not have the expected layout`, { code: ErrorCodes.STORE_RECORD_INVALID });
  }
  return { record: parsed.data, version: stored.version };
}

/** Reads a provider's public record; an invalid one reads as absent (it will be rewritten). */
export async function readPublic(store: SecretStore, provider: string): Promise<Versioned<PublicRecord> & { valid: boolean }> {
  const stored = await store.read(recordPaths.public(provider));
  if (stored === undefined) return { record: undefined, version: null, valid: true };
  const parsed = publicRecordSchema.safeParse(stored.value);
  return parsed.success
    ? { record: parsed.data, version: stored.version, valid: true }
    : { record: undefined, version: stored.version, valid: false };
}

/** Options for {@link writeWithRetry}. */
export interface WriteRetryOptions {
  readonly attempts?: number;
  readonly delayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Compare-and-set write, retried when the store fails. A conflict on the first attempt
 * is a real conflict and is thrown; on a later attempt it may be our own earlier write
 * that succeeded without us hearing, so the record is read and compared.
 */
export async function writeWithRetry(
  store: SecretStore,
  path: string,
  value: Record<string, unknown>,
  expectedVersion: string | null,
  options: WriteRetryOptions = {},
  labels?: RecordLabels,
): Promise<string> {
  // Undefined members vanish in JSON; drop them now so the comparison below is exact.
  value = JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  const attempts = options.attempts ?? 4;
  const sleep = options.sleep ?? defaultSleep;
  let lastError: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      return await store.write(path, value, expectedVersion, labels);
    } catch (error) {
      if (error instanceof ConflictError) {
        if (attempt > 1) {
          const current = await store.read(path).catch(() => undefined);
          if (current !== undefined && isDeepStrictEqual(current.value, value)) return current.version;
        }
        throw error;
      }
      lastError = error;
      if (attempt < attempts) await sleep((options.delayMs ?? 200) * 2 ** (attempt - 1));
    }
  }
  if (lastError instanceof StoreError) throw lastError;
  throw new StoreError(`writing ${path} failed after ${attempts} attempts`, { cause: lastError });
}
