/**
 * A per-record lock that serialises compare-and-set writes across processes on one host.
 * It is held only for a read-compare-write, so contention is short and waiters poll; a
 * holder that died (even by SIGKILL) is detected by its pid and its lock broken.
 *
 * The lock is a symbolic link whose target names its holder, `<pid> <host> <nonce>`:
 * `symlink(2)` creates it exclusively (EEXIST when held, like `open(…, 'wx')`) and with its
 * content in the same call, so a lock is never seen empty, one system call takes it and
 * one (`unlink`) releases it. Nothing ever follows the link. The target is kept under 60
 * bytes so that ext4 stores it in the inode (a "fast" symlink): a longer one gets a disk
 * block of its own, allocated and freed by every write, which cost about 10 % of a write.
 *
 * A regular lock file holding the holder as JSON (`{"pid", "hostname", "nonce", …}`, as
 * earlier versions of the store wrote it) is read and judged the same way, and still
 * excludes a writer, since both kinds take the same name exclusively.
 *
 * Single host only: liveness is judged with `process.kill(pid, 0)`, which means nothing
 * for a pid of another host, and network file systems do not guarantee the exclusive
 * creation and rename semantics this relies on.
 */

import { createHash, randomBytes } from 'node:crypto';
import { symlinkSync, unlinkSync } from 'node:fs';
import { link, lstat, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../../errors.js';
import { errorCode, sidePath } from './atomic.js';

/** Who holds a lock, as written into the lock. */
export interface LockOwner {
  readonly pid: number;
  /** The holder's host: its hostname when short and plain, else `#` and a hash of it ({@link hostField}). */
  readonly host: string;
  /** Unique per acquisition: tells this lock from a later one by the same process. */
  readonly nonce: string;
}

/**
 * Age after which a lock is stale whatever its pid says. Covers pids reused by another
 * process, and lock files left empty by a crash of the machine (earlier versions wrote
 * regular files). Far longer than any read-compare-write of a few small files.
 */
export const STALE_AFTER_MS = 30_000;

/** Default of {@link AcquireOptions.timeoutMs}. */
export const LOCK_TIMEOUT_MS = 5_000;

/**
 * How a lock names a host: the hostname itself when it is at most 24 plain characters,
 * else `#` and 8 characters of its SHA-256, so that a lock's target stays under 60 bytes
 * whatever the hostname. Two hosts are told apart by it; a hash collision between
 * hosts matters only on a file system shared between hosts, which the store refuses to
 * support anyway.
 */
export function hostField(name: string): string {
  if (/^[A-Za-z0-9._-]{1,24}$/.test(name)) return name;
  return `#${createHash('sha256').update(name).digest('base64url').slice(0, 8)}`;
}

/**
 * This host, looked up once: locks are judged by it, and a renamed host would anyway
 * leave its older locks to the age rule.
 */
const HOST = hostField(hostname());

/** `<pid> <host> <nonce>`, the target of a lock's symbolic link. */
const TARGET = /^([1-9][0-9]{0,9}) ([A-Za-z0-9._#-]{1,24}) ([A-Za-z0-9_-]{1,32})$/;

/** A lock this process holds. */
export interface HeldLock {
  readonly owner: LockOwner;
  /**
   * True while the lock is still this acquisition's (no one broke it). Reads the lock
   * back only once it is old enough for another process to have judged it stale.
   */
  isHeld(): Promise<boolean>;
  /**
   * Removes the lock if it is still ours; a lock that is not ours is left alone. One
   * `unlink` while the lock is young, a checked removal once it is old.
   */
  release(): Promise<void>;
}

/** Options of {@link acquireLock}. */
export interface AcquireOptions {
  /** The record the lock guards, for error messages. */
  readonly record: string;
  /** How long to wait for a live holder before giving up with a {@link StoreError}. */
  readonly timeoutMs?: number | undefined;
  /** Whether the lock is made on the calling thread (the default) or the thread pool; see atomic.ts. */
  readonly synchronous?: boolean | undefined;
}

/** A lock as read at one moment. */
interface LockSnapshot {
  /** Undefined when the content is not a valid owner (a crash left a lock file empty). */
  readonly owner: LockOwner | undefined;
  readonly ino: number;
  readonly mtimeMs: number;
}

/**
 * Creates the lock `lockPath`, waiting while another live process holds it and breaking
 * it when its holder is dead or it is older than {@link STALE_AFTER_MS}. The directory
 * must exist: its absence fails with the system error ENOENT, for the caller to create it.
 * @throws {StoreError} when the lock stays held for `timeoutMs`, or on an I/O failure.
 */
export async function acquireLock(lockPath: string, options: AcquireOptions): Promise<HeldLock> {
  const timeoutMs = options.timeoutMs ?? LOCK_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lock = await tryCreate(lockPath, options.synchronous ?? true);
    if (lock !== undefined) return lock;

    const current = await readSnapshot(lockPath);
    if (current === undefined) continue; // released meanwhile: try again at once
    if (isStale(current, Date.now())) {
      await removeIf(lockPath, (seen) => sameLock(seen, current));
      continue;
    }
    if (Date.now() >= deadline) {
      const holder =
        current.owner === undefined ? 'an unknown process' : `pid ${current.owner.pid} on ${current.owner.host}`;
      throw new StoreError(
        `timed out after ${timeoutMs} ms waiting for the lock on record ${options.record}, held by ${holder}`,
      );
    }
    // Jitter keeps waiters from polling in lock-step.
    await sleep(5 + Math.random() * 15);
  }
}

/** This process's part of every nonce it makes: 72 random bits, drawn once. */
const NONCE_PREFIX = randomBytes(9).toString('base64url');
let acquisitions = 0;

/**
 * A nonce no other acquisition shares: this process's random part and a counter. Drawing
 * random bytes for each lock cost a call into OpenSSL per write (about 20 µs; 3 writes per
 * rotated provider); the counter keeps the nonces of one process apart, the random part
 * those of two processes, even one whose pid was a dead holder's.
 */
function nextNonce(): string {
  acquisitions += 1;
  return `${NONCE_PREFIX}${acquisitions.toString(36)}`;
}

/** Tries once to create the lock: one `symlink`, which fails with EEXIST while it is held. */
async function tryCreate(lockPath: string, synchronous: boolean): Promise<HeldLock | undefined> {
  const owner: LockOwner = { pid: process.pid, host: HOST, nonce: nextNonce() };
  const target = `${owner.pid} ${owner.host} ${owner.nonce}`;
  // Taken before the lock exists, so the lock's true age is never more than we count.
  const since = performance.now();
  try {
    // One system call, of microseconds when no other write is under way (atomic.ts).
    if (synchronous) symlinkSync(target, lockPath);
    else await symlink(target, lockPath);
  } catch (error) {
    if (errorCode(error) === 'EEXIST') return undefined;
    throw error;
  }
  return held(lockPath, owner, target, since);
}

/**
 * Another process removes a lock only when it judges it stale: its holder dead (we are
 * alive) or older than {@link STALE_AFTER_MS}. Well inside that age, then, the lock is
 * certainly still ours and need not be read back; past half of it, we may have been
 * paused (a stopped process, a swapped-out machine) long enough for someone to have
 * broken it and taken a new one, so it is checked. The age is counted on the monotonic
 * clock from before the lock was created, so it is never less than the lock's true age.
 */
const SURELY_OURS_MS = STALE_AFTER_MS / 2;

function held(lockPath: string, owner: LockOwner, target: string, since: number): HeldLock {
  const ours = (seen: LockSnapshot): boolean => seen.owner?.nonce === owner.nonce;
  const young = (): boolean => performance.now() - since < SURELY_OURS_MS;
  return {
    owner,
    isHeld: async () => {
      if (young()) return true;
      try {
        return (await readlink(lockPath)) === target;
      } catch (error) {
        // ENOENT: removed; EINVAL: replaced by a regular file, so not ours either.
        const code = errorCode(error);
        if (code === 'ENOENT' || code === 'EINVAL') return false;
        throw error;
      }
    },
    release: async () => {
      if (young()) {
        try {
          unlinkSync(lockPath);
        } catch (error) {
          if (errorCode(error) !== 'ENOENT') throw error;
        }
        return;
      }
      await removeIf(lockPath, ours);
    },
  };
}

/**
 * Removes the lock if `expected` still describes it. A plain read-then-unlink could
 * delete a lock someone else acquired in between; instead the lock is renamed aside,
 * which only one process can do, checked there, and deleted or linked back.
 */
async function removeIf(lockPath: string, expected: (seen: LockSnapshot) => boolean): Promise<void> {
  const aside = sidePath(lockPath, 'stale');
  try {
    await rename(lockPath, aside);
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return; // someone else removed it
    throw error;
  }
  const moved = await readSnapshot(aside);
  if (moved === undefined || expected(moved)) {
    await unlink(aside).catch(() => undefined);
    return;
  }
  // We moved a newer lock than the one we judged: give it back to its owner (`link` does
  // not follow a symbolic link on Linux, so the link itself comes back). Best effort: if a
  // third process created a lock meanwhile, the displaced owner sees its lock is gone
  // when it checks `isHeld` before committing, and abandons its write.
  await link(aside, lockPath).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/** Reads a lock, a symbolic link or a regular file, or `undefined` if there is none. */
async function readSnapshot(path: string): Promise<LockSnapshot | undefined> {
  try {
    const stats = await lstat(path);
    const content = stats.isSymbolicLink() ? await readlink(path) : await readFile(path, 'utf8');
    return { owner: parseOwner(content), ino: stats.ino, mtimeMs: stats.mtimeMs };
  } catch (error) {
    // ENOENT: none, or removed between the two calls. EINVAL: replaced by a regular file
    // between them; as if released, so the caller looks again.
    const code = errorCode(error);
    if (code === 'ENOENT' || code === 'EINVAL') return undefined;
    throw error;
  }
}

/** The holder a lock names: a symbolic link's target, or the JSON of an earlier version's lock file. */
function parseOwner(content: string): LockOwner | undefined {
  const match = TARGET.exec(content);
  // The pattern admits no pid of 0 or below, which would make `process.kill` signal a whole process group.
  if (match !== null) return { pid: Number(match[1]), host: match[2] ?? '', nonce: match[3] ?? '' };
  try {
    const parsed: unknown = JSON.parse(content);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { pid, hostname: name, nonce, acquired_at } = parsed as Record<string, unknown>;
    if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    if (typeof name !== 'string' || typeof nonce !== 'string' || typeof acquired_at !== 'string') return undefined;
    return { pid, host: hostField(name), nonce };
  } catch {
    return undefined;
  }
}

/** Stale: its holder on this host is dead, or it is older than {@link STALE_AFTER_MS}. */
function isStale(lock: LockSnapshot, now: number): boolean {
  if (now - lock.mtimeMs > STALE_AFTER_MS) return true;
  const owner = lock.owner;
  return owner !== undefined && owner.host === HOST && !isAlive(owner.pid);
}

/** Signal 0 checks existence only. EPERM means alive but another user's. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) !== 'ESRCH';
  }
}

/** Same acquisition: by nonce, or by inode and time for a lock without a readable owner. */
function sameLock(a: LockSnapshot, b: LockSnapshot): boolean {
  if (a.owner !== undefined && b.owner !== undefined) return a.owner.nonce === b.owner.nonce;
  return a.owner === b.owner && a.ino === b.ino && a.mtimeMs === b.mtimeMs;
}
