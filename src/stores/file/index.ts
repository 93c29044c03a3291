/**
 * The embedded file store, the default backend: one JSON file per record under a
 * directory, written atomically, with compare-and-set across processes through a
 * per-record lock (see `lock.ts`). docs/file-store.md describes the locking and what a
 * crash can lose.
 *
 * For one host and a local disk. The lock tells a dead holder by its pid on this hostname,
 * and relies on exclusive creation and atomic rename; NFS and other network file systems
 * weaken both. Hosts that share tokens should share a Vault or AWS store instead.
 */

import type { Dirent } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { ConflictError, RotatorError, StoreError } from '../../errors.js';
import {
  assertRecordPath,
  isRecordPath,
  type RecordLister,
  type RecordRemover,
  type SecretStore,
  type StoreCapabilities,
  type StoredRecord,
} from '../contract.js';
import { DIRECTORY_MODE, errorCode, openTemporaryFile, syncDirectory, type TemporaryFile } from './atomic.js';
import { acquireLock, type HeldLock } from './lock.js';
import { encodeData, encodeRecord, readRecordFileSync } from './record.js';

/**
 * The largest record the file store keeps, in bytes of its JSON. The disk sets no useful
 * bound, so this one is chosen: tokens take a few KiB, a record hundreds of times larger
 * is a bug upstream (a value that keeps growing), and every read and every locked write
 * loads the whole file into memory, so 1 MiB keeps both small and quick.
 */
export const MAX_RECORD_BYTES = 1024 * 1024;

/**
 * How long reads may run back to back, in ms, before one yields a turn of the event loop
 * (`setImmediate`), so that timers and I/O callbacks wait at most about this long behind
 * a loop of reads. A turn before every read cost about 10 µs of CPU per read: a fifth of
 * an idle pass over 1,000 providers, which reads 2,000 records (issue 13).
 */
const READ_TURN_MS = 4;

/**
 * System error codes that repeating the same call cannot fix: permissions, a read-only
 * file system, a record path that collides with a directory or a file, a name too long.
 */
const PERMANENT_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'EISDIR', 'ENOTDIR', 'EEXIST', 'ENAMETOOLONG']);

/** Options of {@link FileStore}. */
export interface FileStoreOptions {
  /** Where records are kept; created with mode 0700 on the first write. */
  readonly directory: string;
  /** How long a write waits for another live process's lock; 5000 ms by default. */
  readonly lockTimeoutMs?: number;
}

/**
 * Keeps records as files: record `tokens/klikoo` is `<directory>/tokens/klikoo.json`,
 * mode 0600, in directories of mode 0700. Readers take no lock: atomic replacement means
 * they always see a whole file.
 *
 * Durability: a write returns once the new content is on disk and renamed into place.
 * The rename reaches the disk with the file system's next journal commit, and at the
 * latest when the store is {@link FileStore.close | closed}, which flushes every
 * directory written in. A crash of the process loses nothing that `write` returned; a
 * power loss or kernel crash before that commit may bring back the record's previous
 * version, whole and with its previous version number, never a torn file. For the
 * rotator that is the same as a runner that died mid-rotation: the state taken back in
 * time holds a lease or a refresh token that is no longer good, and the next pass
 * re-authenticates.
 *
 * @example
 * ```ts
 * const store = new FileStore({ directory: '.token-rotator' });
 * const version = await store.write('tokens/klikoo', { access_token: '…' }, null); // '1'
 * await store.write('tokens/klikoo', { access_token: '…' }, version); // '2'
 * ```
 */
export class FileStore implements SecretStore, RecordLister, RecordRemover {
  readonly kind = 'file';
  readonly capabilities: StoreCapabilities = Object.freeze({ compareAndSet: true });
  /** The absolute store directory. */
  readonly directory: string;
  readonly #lockTimeoutMs: number | undefined;
  /** Writes under way in this process (see {@link write}). */
  #writing = 0;
  /** Directories that got a new entry (a rename, a new directory) since they were flushed. */
  readonly #unsynced = new Set<string>();
  /** When a read last yielded a turn of the event loop (`performance.now()`). */
  #turnAt = 0;

  constructor(options: FileStoreOptions) {
    if (options.directory === '') throw new TypeError('the file store directory must not be empty');
    // Resolved once, so that a later `process.chdir` cannot move the store.
    this.directory = resolve(options.directory);
    this.#lockTimeoutMs = options.lockTimeoutMs;
  }

  /** Reads a record, or `undefined` when there is none; the version is the file's counter. */
  async read(path: string): Promise<StoredRecord | undefined> {
    assertRecordPath(path);
    // The read itself is synchronous (see readRecordFileSync: a small file in the page
    // cache). What an asynchronous read gave, that a caller reading in a loop lets the
    // writes and timers around it run, is kept by a turn of the event loop whenever
    // READ_TURN_MS have passed since the last (see there).
    if (performance.now() - this.#turnAt >= READ_TURN_MS) {
      await nextTurn();
      this.#turnAt = performance.now();
    }
    try {
      const record = readRecordFileSync(this.#fileOf(path), path);
      return record === undefined ? undefined : { value: record.data, version: String(record.version) };
    } catch (error) {
      throw wrap(error, `could not read record ${path} in ${this.directory}`);
    }
  }

  /**
   * Writes `value` if the record's version is still `expectedVersion` (`null`: only if the
   * record does not exist) and returns the new version, `1` on creation and one more on
   * each update. The lock makes the read-compare-write atomic across processes.
   * @throws {ConflictError} when the record's version is not `expectedVersion`.
   * @throws {StoreError} on an I/O failure or when the lock stays held too long; not
   *   retryable when permission is denied or the record is over {@link MAX_RECORD_BYTES}.
   */
  async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    assertRecordPath(path);
    const data = encodeData(value);
    const size = Buffer.byteLength(data, 'utf8');
    if (size > MAX_RECORD_BYTES) {
      throw new StoreError(
        `record ${path} is ${size} bytes as JSON, over the file store's limit of ${MAX_RECORD_BYTES}`,
        { retryable: false },
      );
    }
    const file = this.#fileOf(path);
    // Alone, the write's file-system calls are made on this thread; beside others, whose
    // fsyncs hold the journal, on the thread pool (atomic.ts).
    const synchronous = this.#writing === 0;
    this.#writing++;
    try {
      const [lock, temp] = await this.#begin(file, path, synchronous);
      let version: number;
      try {
        const current = readRecordFileSync(file, path);
        const currentVersion = current === undefined ? null : String(current.version);
        if (currentVersion !== expectedVersion) throw new ConflictError(path);
        version = (current?.version ?? 0) + 1;
        await temp.replace(encodeRecord(data, version, new Date()), {
          // Only if our lock was broken as stale (we were paused for 30 s) could
          // another writer be inside; then writing would lose its update, so give up instead.
          beforeRename: async () => {
            if (!(await lock.isHeld())) throw new StoreError(`lost the lock on record ${path}; nothing was written`);
          },
          // After the write succeeded, a failed release is reported: the lock would block others.
          afterRename: async () => {
            this.#unsynced.add(dirname(file));
            await lock.release();
          },
        });
      } catch (error) {
        await Promise.all([temp.discard(), lock.release().catch(() => undefined)]);
        throw error;
      }
      return String(version);
    } catch (error) {
      throw wrap(error, `could not write record ${path} in ${this.directory}`);
    } finally {
      this.#writing--;
    }
  }

  /**
   * Removes the record's file under the record's lock, so a write in flight either lands
   * before (and is removed) or after (and creates the record anew, at version 1). A write
   * that read the removed record's version then fails with a conflict. For `token-rotator
   * revoke` ({@link RecordRemover}); the engine never removes a record.
   * @returns `false` when there was no record at `path`.
   * @throws {StoreError} on an I/O failure or when the lock stays held too long.
   */
  async remove(path: string): Promise<boolean> {
    assertRecordPath(path);
    const file = this.#fileOf(path);
    let lock: HeldLock;
    try {
      lock = await acquireLock(`${file}.lock`, { record: path, timeoutMs: this.#lockTimeoutMs });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false; // no directory, so no record
      throw wrap(error, `could not remove record ${path} in ${this.directory}`);
    }
    let removed: boolean;
    try {
      await unlink(file);
      this.#unsynced.add(dirname(file));
      removed = true;
    } catch (error) {
      await lock.release().catch(() => undefined);
      if (errorCode(error) === 'ENOENT') return false;
      throw wrap(error, `could not remove record ${path} in ${this.directory}`);
    }
    try {
      await lock.release();
    } catch (error) {
      // Removed all the same; a lock left behind would hold other writers up until it is stale.
      throw wrap(error, `removed record ${path} in ${this.directory} but could not release its lock`);
    }
    return removed;
  }

  /**
   * Lists the records under `prefix` (`tokens` or `tokens/`; `''` for all), as full
   * record paths, sorted. Temporary and lock files are never listed. For operators and
   * tests: not part of the store contract ({@link RecordLister}).
   */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertRecordPath(base);
    const found: string[] = [];
    try {
      await collect(base === '' ? this.directory : join(this.directory, ...base.split('/')), base, found);
    } catch (error) {
      throw wrap(error, `could not list records under ${prefix} in ${this.directory}`);
    }
    return found.sort();
  }

  /**
   * Flushes to disk the directories written in since the last close, so that every
   * write's rename survives a power loss. The store holds no handle between calls and
   * stays usable.
   * @throws {StoreError} when a directory cannot be flushed.
   */
  async close(): Promise<void> {
    const directories = [...this.#unsynced];
    this.#unsynced.clear();
    try {
      await Promise.all(
        directories.map(async (directory) => {
          try {
            await syncDirectory(directory);
          } catch (error) {
            if (errorCode(error) !== 'ENOENT') throw error; // removed since: nothing to keep
          }
        }),
      );
    } catch (error) {
      throw wrap(error, `could not flush the records written in ${this.directory}`);
    }
  }

  #fileOf(path: string): string {
    return `${join(this.directory, ...path.split('/'))}.json`;
  }

  /**
   * Takes the record's lock and opens the temporary file of its next version, both at
   * once. Directories are not made up front (a `mkdir` on every write cost as much as the
   * lock): a missing one fails both with ENOENT, then they are made and both tried again.
   * This also remakes a directory removed behind the store's back.
   */
  async #begin(file: string, path: string, synchronous: boolean): Promise<[HeldLock, TemporaryFile]> {
    try {
      return await this.#lockAndOpen(file, path, synchronous);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
    const directory = dirname(file);
    const first = await mkdir(directory, { recursive: true, mode: DIRECTORY_MODE });
    if (first !== undefined) {
      // Each directory made is a new entry in its parent, to flush like a record's rename.
      for (let made = directory; made !== dirname(made); made = dirname(made)) {
        this.#unsynced.add(dirname(made));
        if (made === first) break;
      }
    }
    return this.#lockAndOpen(file, path, synchronous);
  }

  /** Both or neither: when one fails, the other is undone and the first failure thrown. */
  async #lockAndOpen(file: string, path: string, synchronous: boolean): Promise<[HeldLock, TemporaryFile]> {
    const [lock, temp] = await Promise.allSettled([
      acquireLock(`${file}.lock`, { record: path, timeoutMs: this.#lockTimeoutMs, synchronous }),
      openTemporaryFile(file, synchronous),
    ]);
    if (lock.status === 'fulfilled' && temp.status === 'fulfilled') return [lock.value, temp.value];
    if (lock.status === 'fulfilled') await lock.value.release().catch(() => undefined);
    if (temp.status === 'fulfilled') await temp.value.discard();
    throw lock.status === 'rejected' ? lock.reason : temp.status === 'rejected' ? temp.reason : undefined;
  }
}

/**
 * Builds the file store from its configuration.
 * @example
 * ```ts
 * const store = createFileStore({ kind: 'file', directory: '/var/lib/token-rotator' });
 * ```
 */
export function createFileStore(config: { kind: 'file'; directory: string }): FileStore {
  return new FileStore({ directory: config.directory });
}

/** Walks `directory`, adding the record path of each record file below it to `found`. */
async function collect(directory: string, prefix: string, found: string[]): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'ENOTDIR') return;
    throw error;
  }
  for (const entry of entries) {
    const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) {
      if (isRecordPath(path)) await collect(join(directory, entry.name), path, found);
    } else if (entry.isFile() && entry.name.endsWith('.json')) {
      // Excludes temporary files and locks moved aside (they start with a dot) and anything
      // else `read` would refuse.
      const record = path.slice(0, -'.json'.length);
      if (isRecordPath(record)) found.push(record);
    }
  }
}

/**
 * Our own errors pass unchanged; anything else (an fs error) becomes a StoreError naming
 * the system error code, not retryable when the code says repeating cannot help.
 */
function wrap(error: unknown, message: string): RotatorError {
  if (error instanceof RotatorError) return error;
  const code = errorCode(error);
  return new StoreError(code === undefined ? message : `${message}: ${code}`, {
    cause: error,
    retryable: code === undefined || !PERMANENT_CODES.has(code),
  });
}
