/**
 * The layout of a record file, mirroring a Vault KV v2 read so that records look the same
 * whichever store an operator inspects:
 * `{"data": {…}, "metadata": {"version": 3, "updated_time": "2025-01-01T00:00:00.000Z"}}`.
 */

import { readFileSync } from 'node:fs';
import { ErrorCodes, StoreError } from '../../errors.js';
import { errorCode } from './atomic.js';

/** A record file's content once checked. */
export interface RecordFile {
  readonly data: Record<string, unknown>;
  /** Starts at 1 and grows by one per write. */
  readonly version: number;
}

/**
 * Serialises a record value up front, before any lock is taken, so that a value JSON
 * cannot represent fails as the caller's mistake without touching the disk.
 * @throws {TypeError} when `value` is not a JSON object (BigInt, cycles, a `toJSON` returning a non-object).
 */
export function encodeData(value: Record<string, unknown>): string {
  const json: unknown = isObject(value) ? JSON.stringify(value) : undefined;
  if (typeof json !== 'string' || !json.startsWith('{')) throw new TypeError('a record value must be a JSON object');
  return json;
}

/** The whole file for `data` (already encoded by {@link encodeData}) at `version`. */
export function encodeRecord(data: string, version: number, updatedTime: Date): string {
  const metadata = JSON.stringify({ version, updated_time: updatedTime.toISOString() });
  return `{"data":${data},"metadata":${metadata}}\n`;
}

/**
 * Reads and checks the record file `file`, or returns `undefined` if it does not exist;
 * synchronously, for every read of the file store (a plain read, and the read under the
 * lock of a compare-and-set write). A record is a small file, normally in the page cache
 * (the pass that reads it wrote or read it before), so a synchronous read is a few
 * microseconds of system calls, where `fs/promises` costs three thread-pool round trips
 * (open, read, close): reading the 2,000 records of 1,000 providers at concurrency 8 took
 * ~95 ms of CPU that way and ~19 ms with `readFileSync` (issue 13; same process,
 * alternating, 6 rounds each). Under the lock it also shortens how long the lock is held.
 * Only a record evicted from the cache blocks the event loop for a disk read.
 * @throws {StoreError} `STORE_RECORD_INVALID` when the file is not a record; the message
 *   names the record path only, never the content.
 */
export function readRecordFileSync(file: string, path: string): RecordFile | undefined {
  let content: string;
  try {
    content = readFileSync(file, 'utf8');
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  return checked(content, path);
}

function checked(content: string, path: string): RecordFile {
  const record = decodeRecord(content);
  if (record === undefined) {
    // No `cause`: a JSON.parse message quotes the text around the error, which may be a token.
    throw new StoreError(`record ${path} is not a valid file-store record`, { code: ErrorCodes.STORE_RECORD_INVALID });
  }
  return record;
}

function decodeRecord(content: string): RecordFile | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return undefined;
  }
  if (!isObject(parsed) || !isObject(parsed['data']) || !isObject(parsed['metadata'])) return undefined;
  const { version, updated_time: updatedTime } = parsed['metadata'];
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return undefined;
  if (typeof updatedTime !== 'string') return undefined;
  return { data: parsed['data'], version };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
