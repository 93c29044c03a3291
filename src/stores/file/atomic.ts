/**
 * Whole-file replacement that a reader can never observe half done: the content goes to a
 * temporary file in the same directory, reaches the disk, and only then is renamed over
 * the target. `rename` within one file system is atomic, so a reader sees the old file or
 * the new one, never a mix; the directory fsync makes the rename itself survive a crash.
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
 * Replaces `file` with `content` atomically and durably, with mode 0600.
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
  await syncDirectory(dirname(file));
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
