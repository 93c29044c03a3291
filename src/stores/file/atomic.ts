/**
 * Whole-file replacement that a reader can never observe half done: the content goes to a
 * temporary file in the same directory, reaches the disk, and only then is renamed over
 * the target. `rename` within one file system is atomic, so a reader sees the old file or
 * the new one, never a mix, and since the content was flushed first, a crash of the
 * machine leaves the old file or the new one whole, never an empty or torn one.
 *
 * The rename itself is not flushed here: that takes an fsync of the directory, a second
 * journal commit that doubled the cost of every write. The caller flushes the directories
 * it wrote in later ({@link syncDirectory}; the file store does when it is closed). Until
 * then a power loss or a kernel crash, not a crash of the process, may undo the rename,
 * bringing the previous whole file back; see `FileStore` for what that means for records.
 * Also the few file-system helpers the lock and the records share.
 *
 * The fsync always waits on the thread pool. Opening, writing a record of a few hundred
 * bytes, renaming and closing are each one system call of microseconds on a local disk,
 * less than the hop to the thread pool and back that an asynchronous call costs: made
 * synchronously, a write costs 1 asynchronous call instead of 5 (issue 13). That holds
 * while no other write is under way. Creating a file or renaming one waits for the file
 * system's journal, which the fsyncs of concurrent writes hold: at 32 rotations at once the
 * event loop stood still in those calls for over half of the pass. So the caller says
 * which: synchronous when it writes alone, on the thread pool otherwise.
 */

import { randomUUID } from 'node:crypto';
import {
  closeSync,
  fsync,
  open as openCallback,
  openSync,
  rename as renameCallback,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';

const fsyncAsync = promisify(fsync);
const openAsync = promisify(openCallback);
const renameAsync = promisify(renameCallback);

/** File mode of records (and their temporary files): the owner alone may read tokens. */
export const FILE_MODE = 0o600;
/** Directory mode: the owner alone may list or create records. */
export const DIRECTORY_MODE = 0o700;

/**
 * A unique name next to `file`, starting with a dot so that listings never take it for a
 * record (record segments cannot start with a dot).
 */
export function sidePath(file: string, suffix: string): string {
  return join(dirname(file), `.${basename(file)}.${randomUUID()}.${suffix}`);
}

/** What runs around the rename in {@link TemporaryFile.replace}. */
export interface ReplaceHooks {
  /**
   * Runs after the new content is on disk and before it replaces the target; throwing
   * abandons the write, removes the temporary file and leaves the target untouched.
   */
  readonly beforeRename?: () => Promise<void>;
  /** Runs once the target is replaced and the temporary file closed. */
  readonly afterRename?: () => Promise<void>;
}

/**
 * A temporary file next to its target, open for writing, that either replaces the target
 * or is discarded. It is opened before its content is known so that a caller can open it
 * while doing something else: the file store opens it while it takes the record's lock.
 */
export interface TemporaryFile {
  /**
   * Writes `content` (mode 0600), flushes it to disk and renames the file over the
   * target: atomically, and the content is on disk before the rename; the rename reaches
   * the disk with the directory's next flush. On any failure before the rename the
   * temporary file is removed. Once only.
   */
  replace(content: string, hooks?: ReplaceHooks): Promise<void>;
  /** Closes and removes the temporary file, if it did not replace the target; never throws. */
  discard(): Promise<void>;
}

/**
 * Opens a new temporary file next to `file`, to replace it with {@link TemporaryFile.replace};
 * `synchronous` (the default): its creation and its rename are made on the calling thread
 * (see the module doc).
 */
export async function openTemporaryFile(file: string, synchronous = true): Promise<TemporaryFile> {
  const temp = sidePath(file, 'tmp');
  const fd = synchronous ? openSync(temp, 'wx', FILE_MODE) : await openAsync(temp, 'wx', FILE_MODE);
  let used = false;
  const close = () => {
    try {
      closeSync(fd);
    } catch {
      // Closing a descriptor only fails if it is not open; nothing to undo.
    }
  };
  const discard = async (): Promise<void> => {
    if (used) return;
    used = true;
    close();
    try {
      rmSync(temp, { force: true });
    } catch {
      // Left behind: a dot file that listings skip, and nothing reads.
    }
  };
  return {
    discard,
    replace: async (content, hooks = {}) => {
      if (used) throw new Error('this temporary file was already used');
      try {
        writeAll(fd, content);
        await fsyncAsync(fd);
        await hooks.beforeRename?.();
        if (synchronous) renameSync(temp, file);
        else await renameAsync(temp, file);
      } catch (error) {
        await discard();
        throw error;
      }
      used = true;
      close();
      await hooks.afterRename?.();
    },
  };
}

/** Writes all of `content` at the start of the empty file `fd` (a short write is repeated for the rest). */
function writeAll(fd: number, content: string): void {
  const bytes = Buffer.from(content, 'utf8');
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset, bytes.length - offset, offset);
}

/** Flushes a directory's entries (a rename, a new file) to disk. */
export async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The `code` of a Node.js system error, if any. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
