/**
 * The contract every store backend implements. Stores know nothing of tokens: they keep
 * JSON objects at slash-separated paths, each with an opaque version, and write only
 * when the caller's expected version still holds (compare-and-set). The engine's lease
 * is built on that one primitive.
 *
 * Failures are {@link StoreError}s whose `retryable` says whether repeating the call can
 * help: a network error, a timeout, a 5xx or throttling can; permission denied, a missing
 * mount, an invalid record path, a record over the backend's size limit or a malformed
 * request cannot, and the engine does not repeat those.
 */
import { StoreError } from '../errors.js';

/** A record as read from a store. */
export interface StoredRecord {
  /** The JSON object that was written. */
  readonly value: Record<string, unknown>;
  /** Opaque version; pass it back to {@link SecretStore.write} to update this record. */
  readonly version: string;
}

/**
 * How many writes one record may take in any window of time, for backends that cap it
 * (AWS Secrets Manager keeps at most about 100 versions of a secret per 24 hours). The
 * engine, not the store, keeps within it: it checks its schedule's worst case against it.
 */
export interface WriteBudget {
  /** Most writes of one record in any `windowSeconds`. */
  readonly writes: number;
  readonly windowSeconds: number;
}

/**
 * How often the caller expects to write a record, so a backend with a write budget can lay
 * the record out to fit (AWS keeps a public record written more than 96 times a day in
 * SSM Parameter Store, and spreads such a state record over more secrets). The engine
 * derives it from the token's lifetime and the policy; the same record read or written
 * with the same usage is always found in the same place.
 */
export interface RecordUsage {
  /** Writes a day the caller plans for, with its own headroom included. */
  readonly writesPerDay: number;
}

/** What a backend can do, declared instead of discovered by a throwing method. */
export interface StoreCapabilities {
  /**
   * Writes honour `expectedVersion` atomically, also across processes. The engine's lease
   * is built on it: the engine refuses a store without it.
   */
  readonly compareAndSet: boolean;
  /**
   * The cap on writes of the record at `path` when the caller writes it with `usage`
   * (absent: unknown), or `undefined` when that record has none; absent: no record has one.
   */
  writeBudget?(path: string, usage: RecordUsage | undefined): WriteBudget | undefined;
}

/** Options of {@link SecretStore.write}. */
export interface WriteOptions {
  /** Facts a backend may attach where operators see them ({@link RecordLabels}). */
  readonly labels?: RecordLabels | undefined;
  /** How often the record is written; pass the same to {@link SecretStore.read}. */
  readonly usage?: RecordUsage | undefined;
}

/**
 * Short, non-secret facts about a record (`provider`, `expires_at`) that a backend may
 * attach where operators see them (Vault's `custom_metadata`); backends without such a
 * place ignore them.
 */
export type RecordLabels = Readonly<Record<string, string>>;

/** A backend that keeps records. */
export interface SecretStore {
  /** The backend kind, as named in configuration (`file`, `vault`, `aws`). */
  readonly kind: string;
  readonly capabilities: StoreCapabilities;
  /**
   * Reads a record, or `undefined` when none exists at `path`. `usage` is what the record
   * is written with, when the caller knows it; a backend that places records by usage
   * looks everywhere it may be without it (at the cost of more calls).
   */
  read(path: string, usage?: RecordUsage): Promise<StoredRecord | undefined>;
  /**
   * Writes `value` at `path` if the record's current version is `expectedVersion`
   * (`null`: only if no record exists) and returns the new version.
   *
   * A backend may make a retried write idempotent (AWS derives its request token from the
   * path, the expected version and the value), so two writes of an identical value over
   * the same version can both succeed: a caller that must know whether it won writes a
   * value that names it, as the engine's lease names its holder.
   *
   * The public records (`tokens/…`) and the heartbeat (`runner/…`) are the only records
   * the engine merely keeps moving forward: it compares what it reads (a generation, a
   * pass time) and writes again whenever a record is behind. For those alone a backend may
   * detect a lost race after the fact (AWS Parameter Store: the write lands, then reports
   * a {@link ConflictError}), so a later value can be overwritten by an earlier one until
   * the next write repairs it. Every other record, the state and its lease above all,
   * gets the atomic compare-and-set described above.
   * @throws {ConflictError} when the record changed since it was read.
   * @throws {StoreError} `retryable: false` for what repeating cannot fix (see the module doc).
   */
  write(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    options?: WriteOptions,
  ): Promise<string>;
  /** Releases connections or timers; the store is unusable afterwards. */
  close(): Promise<void>;
}

/**
 * Lists records: what the file, Vault and AWS stores offer operators and tests for an
 * inventory. Not part of {@link SecretStore}: neither the engine nor the reader lists, so
 * a backend need not be able to.
 */
export interface RecordLister {
  /** Lists the record paths directly or indirectly under `prefix` (`''` for all), sorted. */
  list(prefix: string): Promise<string[]>;
}

/** What {@link RecordPruner.prune} found: what it removed (or would), and what it kept and why. */
export interface PruneReport {
  /** Backend names (secrets, files…) removed, or that would be with `dryRun`. */
  readonly removed: readonly string[];
  /** Leftovers kept for now, each with the reason. */
  readonly kept: readonly { readonly name: string; readonly reason: string }[];
}

/**
 * Removes what an earlier release of the store left behind and the current one no longer
 * reads or writes (`token-rotator prune`). Not part of {@link SecretStore}: only backends
 * whose layout changed offer it.
 */
export interface RecordPruner {
  /** Finds the leftovers and, unless `dryRun`, removes them. */
  prune(options: { readonly dryRun: boolean }): Promise<PruneReport>;
}

/**
 * Removes records: what `token-rotator revoke PROVIDER` uses to decommission a provider
 * once its tokens are revoked. Not part of {@link SecretStore}: the engine never removes a
 * record while rotating.
 */
export interface RecordRemover {
  /**
   * Removes the record at `path` with every version the backend keeps of it, so no
   * consumer can read it again (Vault: its metadata; AWS: the secret or parameter without
   * a recovery window; Kubernetes: the Secret or its key; file: the file). `usage` is what
   * the record was written with, as for {@link SecretStore.read}.
   * @returns `false` when there was no record at `path` (removing twice is not an error).
   * @throws {StoreError} as {@link SecretStore.write} does.
   */
  remove(path: string, usage?: RecordUsage): Promise<boolean>;
}

/** True when the store can remove records ({@link RecordRemover}). */
export function isRecordRemover(store: SecretStore): store is SecretStore & RecordRemover {
  return typeof (store as Partial<RecordRemover>).remove === 'function';
}

/**
 * Checks a record path: relative, slash-separated segments of `[A-Za-z0-9._-]`, no `..`.
 * @throws {StoreError} `retryable: false`: the same path is refused however often it is tried.
 */
export function assertRecordPath(path: string): void {
  const segments = path.split('/');
  const valid = segments.every((segment) => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(segment));
  if (!valid) throw new StoreError(`invalid record path "${path}"`, { retryable: false });
}

/** True when {@link assertRecordPath} accepts `path`. */
export function isRecordPath(path: string): boolean {
  try {
    assertRecordPath(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The system error code (`ECONNREFUSED`, `ECONNRESET`, `ETIMEDOUT`) somewhere in an
 * error's chain of causes (`fetch` and the AWS SDK wrap it), for messages that name the
 * cause of a failure without quoting anything a server sent.
 */
export function systemErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === 'object' && current !== null; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
