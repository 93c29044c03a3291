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
 */

import { randomUUID } from 'node:crypto';
import { type FileHandle, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** File mode of records and lock files: the owner alone may read tokens. */
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

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /**
   * Runs after the new content is on disk and before it replaces `file`; throwing
   * abandons the write and leaves `file` untouched.
   */
  readonly beforeRename?: () => Promise<void>;
}

/**
 * Replaces `file` with `content` atomically, with mode 0600: the content is on disk before
 * the rename, the rename reaches the disk with the directory's next flush.
 * The temporary file is removed if anything fails before the rename.
 */
export async function writeFileAtomic(file: string, content: string, options: AtomicWriteOptions = {}): Promise<void> {
  const temp = sidePath(file, 'tmp');
  let handle: FileHandle | undefined;
  try {
    // `wx`: never follow or reuse a file someone else planted under our temporary name.
    handle = await open(temp, 'wx', FILE_MODE);
    await handle.writeFile(content, 'utf8');
    await handle.sync();
    await handle.close();
    handle = undefined;
    await options.beforeRename?.();
    await rename(temp, file);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temp, { force: true }).catch(() => undefined);
    throw error;
  }
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
