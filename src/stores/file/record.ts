/**
 * The layout of a record file, mirroring a Vault KV v2 read so that records look the same
 * whichever store an operator inspects:
 * `{"data": {…}, "metadata": {"version": 3, "updated_time": "2025-01-01T00:00:00.000Z"}}`.
 */

import { readFileSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
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
 * Reads and checks the record file `file`, or returns `undefined` if it does not exist.
 * @throws {StoreError} `STORE_RECORD_INVALID` when the file is not a record; the message
 *   names the record path only, never the content.
 */
export async function readRecordFile(file: string, path: string): Promise<RecordFile | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    // ENOTDIR: a parent is a file, so no record can exist below it.
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
  let content: string;
  try {
    content = await readWhole(handle);
  } finally {
    await handle.close();
  }
  return checked(content, path);
}

/**
 * {@link readRecordFile}, synchronously: for the file store's read under its lock. A
 * compare-and-set write follows a read of the same record, so the file is in the page
 * cache and the read is a few microseconds of system calls, less than the three
 * thread-pool round trips of an asynchronous one; it also shortens how long the lock is
 * held. Only a record evicted from the cache blocks the event loop for a disk read.
 * @throws {StoreError} `STORE_RECORD_INVALID` as {@link readRecordFile}.
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

/** A read's first guess of a record's size: most records are tokens of a few KiB. */
const FIRST_READ_BYTES = 16 * 1024;

/**
 * Reads an open record file to its end in one `read` for most records, where `readFile`
 * asks its size first. A record file is never written in place (a write replaces it by
 * rename), so the opened file does not change and a short read is its end.
 */
async function readWhole(handle: FileHandle): Promise<string> {
  let buffer = Buffer.allocUnsafe(FIRST_READ_BYTES);
  let length = 0;
  for (;;) {
    const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
    length += bytesRead;
    if (length < buffer.length) return buffer.toString('utf8', 0, length);
    const larger = Buffer.allocUnsafe(buffer.length * 2);
    buffer.copy(larger);
    buffer = larger;
  }
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
