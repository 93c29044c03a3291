/**
 * The AWS store: records in Secrets Manager, and in SSM Parameter Store where a record is
 * written more often than one secret's version budget allows. Where each record lives
 * follows from its path and the usage the engine declares for it ({@link placementOf}),
 * the same for every runner and reader:
 *
 * | record | where | a consumer reads it with |
 * |---|---|---|
 * | `tokens/<p>`, written ≤ 96 times a day (tokens living 30 min or more, default policy) | secret `<prefix>tokens/<p>`, its `AWSCURRENT` value is the record's JSON | `GetSecretValue` |
 * | `tokens/<p>`, written more often (shorter tokens) | `SecureString` parameter `/<prefix>tokens/<p>` | `GetParameter` with decryption |
 * | `runner/heartbeat` (every pass) | `String` parameter `/<prefix>runner/heartbeat` | `GetParameter` |
 * | anything else (`state/<p>`, a `${store:}` credential) | a ring of secrets `<prefix><path>@0` … (one secret unless written over 96 times a day), or an operator's plain secret `<prefix><path>` | the rotator only |
 *
 * A provider's records are therefore 2 secrets for a token living an hour (the public
 * record and the state), and an idle pass reads each once: `BatchGetSecretValue` for the
 * state ring, `GetSecretValue` or `GetParameter` for the public record.
 *
 * Releases before 0.2 kept every record in a ring (`<prefix>tokens/<p>@0` …). Their state
 * rings are read and written as they are (and shrink to the size their usage needs);
 * their public rings are not written any more: a reader that does not know a record's
 * usage falls back to them while the new name does not exist yet, and
 * `token-rotator prune` deletes them once it does.
 */
import { ConflictError, ErrorCodes, StoreError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import {
  assertRecordPath,
  isRecordPath,
  type PruneReport,
  type RecordLister,
  type RecordPruner,
  type RecordRemover,
  type RecordUsage,
  type SecretStore,
  type StoreCapabilities,
  type StoredRecord,
  type WriteBudget,
  type WriteOptions,
} from '../contract.js';
import { type ParameterStoreApi, type SecretsManagerApi, sdkParameterStore, sdkSecretsManager } from './client.js';
import { failure } from './failures.js';
import { ParameterCells } from './parameters.js';
import {
  decodeSlot,
  encodeSlot,
  MAX_RING_SIZE,
  MAX_SLOTS,
  MAX_VERSIONS_PER_DAY,
  type RingPosition,
  slotName,
  slotsFor,
  unslotted,
} from './ring.js';
import type { AwsStoreConfig } from './schema.js';
import { type CurrentValue, requestToken, SecretCells } from './secrets.js';

export {
  type ParameterStoreApi,
  type SdkSecretsManagerOptions,
  type SecretsManagerApi,
  sdkParameterStore,
  sdkSecretsManager,
} from './client.js';
export { MAX_SLOTS, MAX_VERSIONS_PER_DAY, slotName, slotsFor } from './ring.js';
export { type AwsStoreConfig, awsStoreSchema } from './schema.js';
export { MAX_SECRET_STRING_BYTES, PENDING_STAGE, requestToken } from './secrets.js';

/** Days a secret of release 0.1 removed by {@link AwsStore.prune} can still be restored. */
export const LEGACY_RECOVERY_DAYS = 7;

/** Where a record lives: a parameter, one secret, or a ring of secrets. */
export type Placement = 'parameter' | 'secret' | 'ring';

/** A public record: what consumers read. */
const PUBLIC_PATH = /^tokens\/([^/]+)$/;
/** A provider's path (public or state), for the `provider` tag. */
const PROVIDER_PATH = /^(?:tokens|state)\/([^/]+)$/;

/**
 * Where the record at `path` lives when written with `usage`: the heartbeat (`runner/…`)
 * in a parameter; a public record in one secret while its usage fits the secret's
 * version budget, else in a parameter; anything else in a ring of secrets. Records kept in
 * a parameter are the ones the engine republishes when they fall behind (see
 * `parameters.ts`); the state, which holds the lease, always has Secrets Manager's
 * compare-and-set.
 * @example placementOf('tokens/klikoo', { writesPerDay: 233 }) // 'parameter'
 */
export function placementOf(path: string, usage: RecordUsage | undefined): Placement {
  if (path.startsWith('runner/')) return 'parameter';
  if (PUBLIC_PATH.test(path)) {
    return usage !== undefined && usage.writesPerDay > MAX_VERSIONS_PER_DAY ? 'parameter' : 'secret';
  }
  return 'ring';
}

/** Options of {@link AwsStore}. */
export interface AwsStoreOptions {
  /** The Secrets Manager calls; {@link sdkSecretsManager} in production, a fake in unit tests. */
  readonly client: SecretsManagerApi;
  /** The Parameter Store calls; {@link sdkParameterStore} in production. */
  readonly parameters: ParameterStoreApi;
  /** Prepended to record paths to name secrets and (after a `/`) parameters; `token-rotator/` by default. */
  readonly prefix?: string;
  /** KMS key new secrets and `SecureString` parameters are encrypted with; the account's AWS managed keys otherwise. */
  readonly kmsKeyId?: string | undefined;
  /** Extra tags for the secrets and parameters this store creates. */
  readonly tags?: Readonly<Record<string, string>> | undefined;
  /** Told when cleaning up after a record moved fails (the move itself succeeded). */
  readonly logger?: Logger | undefined;
}

/** A ring's slot as read: its position and its current version. */
interface Slot {
  readonly slot: number;
  readonly versionId: string;
  readonly position: RingPosition;
  readonly record: Record<string, unknown>;
}

/**
 * The record's version, opaque to callers: where it was read and what a compare-and-set
 * over it must find there.
 * - `s:<VersionId>`: one secret, its `AWSCURRENT` version.
 * - `p:<n>`: a parameter's version.
 * - `r:<seq>:<size>:<id0>,<id1>,…`: a ring at write `seq` recorded with `size`, and the
 *   current version of every slot (empty: no such secret).
 * - `l:<seq>`: a public record found only in the ring of an earlier release.
 */
type Version =
  | { readonly kind: 's'; readonly versionId: string }
  | { readonly kind: 'p'; readonly version: number }
  | { readonly kind: 'r'; readonly seq: number; readonly size: number; readonly slots: readonly string[] }
  | { readonly kind: 'l' };

function formatVersion(version: Version): string {
  switch (version.kind) {
    case 's':
      return `s:${version.versionId}`;
    case 'p':
      return `p:${version.version}`;
    case 'r':
      return `r:${version.seq}:${version.size}:${version.slots.join(',')}`;
    case 'l':
      return 'l:';
  }
}

function parseVersion(text: string | null): Version | undefined {
  if (text === null) return undefined;
  const [kind, ...rest] = text.split(':');
  const body = rest.join(':');
  if (kind === 's' && body !== '') return { kind, versionId: body };
  if (kind === 'p' && /^\d{1,15}$/.test(body)) return { kind, version: Number(body) };
  if (kind === 'l') return { kind };
  const ring = /^(\d{1,15}):(\d{1,2}):([^:]*)$/.exec(body);
  if (kind === 'r' && ring) {
    const size = Number(ring[2]);
    const slots = (ring[3] ?? '').split(',');
    if (size >= 1 && size <= MAX_RING_SIZE && slots.length <= MAX_RING_SIZE)
      return { kind, seq: Number(ring[1]), size, slots };
  }
  return undefined;
}

/**
 * Keeps records in AWS Secrets Manager and SSM Parameter Store, laid out by
 * {@link placementOf}. Secrets are created on their first write with the tags
 * `managed-by=token-rotator` and `provider=<p>` (and `ring-slot` in a ring), parameters
 * likewise.
 *
 * Calls per operation: a read is one call (`GetSecretValue`, `GetParameter`, or one
 * `BatchGetSecretValue` over a ring's slots); a write is `PutSecretValue` and
 * `UpdateSecretVersionStage` (the compare-and-set, `secrets.ts`), `CreateSecret` the first
 * time, or one `PutParameter`. A read without the record's usage looks in both places a
 * public record may be: two calls.
 *
 * @example
 * ```ts
 * const store = createAwsStore({ kind: 'aws', prefix: 'token-rotator/', region: 'eu-south-1', max_attempts: 3 });
 * const v1 = await store.write('tokens/keliweb', { access_token: '…' }, null, { usage: { writesPerDay: 46 } });
 * await store.write('tokens/keliweb', { access_token: '…' }, v1, { usage: { writesPerDay: 46 } }); // secret token-rotator/tokens/keliweb
 * ```
 */
export class AwsStore implements SecretStore, RecordLister, RecordPruner, RecordRemover {
  readonly kind = 'aws';
  /**
   * Every write to a secret is a new version, and Secrets Manager keeps at most about 100
   * of one secret in 24 hours: a secret takes {@link MAX_VERSIONS_PER_DAY} writes a day, a
   * ring of them that many times its size; a parameter has no such cap.
   */
  readonly capabilities: StoreCapabilities;
  readonly prefix: string;
  readonly #secretsApi: SecretsManagerApi;
  readonly #parametersApi: ParameterStoreApi;
  readonly #secrets: SecretCells;
  readonly #parameters: ParameterCells;
  readonly #kmsKeyId: string | undefined;
  readonly #tags: Readonly<Record<string, string>>;
  readonly #logger: Logger | undefined;
  #closed = false;

  constructor(options: AwsStoreOptions) {
    this.prefix = options.prefix ?? 'token-rotator/';
    if (this.prefix === '') throw new TypeError('the AWS store prefix must not be empty');
    this.capabilities = Object.freeze({
      compareAndSet: true,
      writeBudget: (path: string, usage: RecordUsage | undefined): WriteBudget | undefined => {
        const placement = placementOf(path, usage);
        if (placement === 'parameter') return undefined;
        const secrets = placement === 'ring' ? slotsFor(usage) : 1;
        return { writes: secrets * MAX_VERSIONS_PER_DAY, windowSeconds: 86_400 };
      },
    });
    this.#secretsApi = options.client;
    this.#parametersApi = options.parameters;
    this.#secrets = new SecretCells(options.client);
    this.#parameters = new ParameterCells(options.parameters);
    this.#kmsKeyId = options.kmsKeyId;
    this.#tags = options.tags ?? {};
    this.#logger = options.logger;
  }

  /** The secret named for `path`: the public record's, or a plain secret; ring slots append `@<slot>`. */
  secretName(path: string): string {
    return this.prefix + path;
  }

  /** The parameter named for `path`: `/<prefix><path>`, with one leading slash. */
  parameterName(path: string): string {
    return `/${(this.prefix + path).replace(/^\/+/, '')}`;
  }

  /**
   * Reads the record where {@link placementOf} puts it; a public record read without its
   * usage is looked for in both places (and in an earlier release's ring).
   */
  async read(path: string, usage?: RecordUsage): Promise<StoredRecord | undefined> {
    assertRecordPath(path);
    if (PUBLIC_PATH.test(path) && usage === undefined) return this.#readPublicAnywhere(path);
    switch (placementOf(path, usage)) {
      case 'parameter':
        return this.#readParameter(path);
      case 'secret': {
        const name = this.secretName(path);
        const current = await this.#secrets.get(name);
        return current && { value: decodePlain(current.text, name), version: formatVersion(single(current)) };
      }
      case 'ring':
        return this.#readRing(path);
    }
  }

  /**
   * Writes `value` where {@link placementOf} puts the record, if `expectedVersion` still
   * holds there (`null`, or a version read elsewhere: only if the record does not exist
   * there yet), and returns the new version.
   * @throws {ConflictError} when another writer got there first.
   * @throws {StoreError} when AWS fails after the SDK's own retries; not retryable when
   *   access is denied, the request is refused as invalid, or the value is over the limit.
   */
  async write(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    options: WriteOptions = {},
  ): Promise<string> {
    assertRecordPath(path);
    const expected = parseVersion(expectedVersion);
    if (expectedVersion !== null && expected === undefined) throw new ConflictError(path);
    switch (placementOf(path, options.usage)) {
      case 'parameter':
        return this.#writeParameter(path, value, expected);
      case 'secret':
        return this.#writeSecret(path, value, expectedVersion, expected);
      case 'ring':
        return this.#writeRing(path, value, expectedVersion, expected, options.usage);
    }
  }

  /**
   * Removes the record at `path` from every place a read without usage may find it, each
   * without a recovery window (a window would keep the name taken for 7 to 30 days, so a
   * provider could not be set up again under its name): the secret `<prefix><path>`, every
   * slot a ring of any release may have (`@0` … `@19`), and, for a public record or the
   * heartbeat, the parameter. `usage` is not needed: every place is looked at whatever it
   * is. For `token-rotator revoke` ({@link RecordRemover}); the engine never removes.
   *
   * What a read would return goes last (the latest ring slot, the public record's secret
   * and parameter), so a remove interrupted half-way leaves the latest record or none,
   * never an older one. A secret scheduled for deletion by someone else is deleted at once
   * too, so the name is free for a new record, but does not count as a record found.
   *
   * Calls: one `BatchGetSecretValue` per 20 names (two), a `DeleteSecret` per secret found,
   * and a `DeleteParameter` for a public record or the heartbeat.
   * @returns `false` when there was no record at `path`.
   * @throws {StoreError} as {@link write} does: not retryable when access is denied.
   */
  async remove(path: string, _usage?: RecordUsage): Promise<boolean> {
    assertRecordPath(path);
    const name = this.secretName(path);
    const slots = Array.from({ length: MAX_RING_SIZE }, (_, slot) => slotName(name, slot));
    const { live, deleting } = await this.#secrets.presence([name, ...slots]);
    const liveSlots = slots.filter((slot) => live.has(slot));
    const parameter = placementOf(path, undefined) === 'ring' ? undefined : this.parameterName(path);
    let first: string[];
    let last: string[];
    if (parameter === undefined) {
      // A ring shadows the plain secret and its older slots: its latest slot goes last.
      const latest = latestDecodable(liveSlots, live);
      last = latest === undefined ? [...liveSlots, name] : [latest];
      first = [name, ...liveSlots].filter((secret) => !last.includes(secret));
    } else {
      // The new names shadow an earlier release's ring.
      first = liveSlots;
      last = [name];
    }
    const deleteAll = (names: readonly string[]) =>
      Promise.all(names.filter((secret) => live.has(secret)).map((secret) => this.#secrets.deleteNow(secret)));
    await Promise.all([deleteAll(first), ...deleting.map((secret) => this.#secrets.deleteNow(secret))]);
    const [, parameterFound] = await Promise.all([
      deleteAll(last),
      parameter === undefined ? false : this.#parameters.delete(parameter),
    ]);
    return live.size > 0 || parameterFound;
  }

  /**
   * Lists the records under `prefix` (`tokens` or `tokens/`; `''` for all) that have a
   * secret, a ring or a parameter, as record paths, sorted. For operators and tests: not
   * part of the store contract ({@link RecordLister}).
   */
  async list(prefix: string): Promise<string[]> {
    const base = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    if (base !== '') assertRecordPath(base);
    const found = new Set<string>();
    for (const name of await this.#secretNamesUnder(this.prefix + (base === '' ? '' : `${base}/`))) {
      const path = unslotted(name).slice(this.prefix.length);
      if (isRecordPath(path)) found.add(path);
    }
    const root = this.parameterName('');
    for (const name of await this.#parameters.namesUnder(this.parameterName(base === '' ? '' : `${base}/`))) {
      const path = name.slice(root.length);
      if (isRecordPath(path)) found.add(path);
    }
    return [...found].sort();
  }

  /**
   * Removes what release 0.1 left behind, once the new layout holds the same records:
   * - a public ring (`<prefix>tokens/<p>@<k>`) once the record has its secret or
   *   parameter, and the heartbeat ring once its parameter exists: scheduled for deletion
   *   in {@link LEGACY_RECOVERY_DAYS} days, so `aws secretsmanager restore-secret` undoes
   *   it (a consumer still on the 0.1 reader reads these rings: upgrade consumers first);
   * - the slots of a ring beyond the size its latest write recorded (a 0.1 state ring of 6
   *   whose token now needs 1), deleted at once: a ring that grows again re-creates them.
   */
  async prune({ dryRun }: { readonly dryRun: boolean }): Promise<PruneReport> {
    const names = await this.#secretNamesUnder(this.prefix);
    const parameters = new Set(await this.#parameters.namesUnder(this.parameterName('')));
    const plain = new Set(names.filter((name) => unslotted(name) === name));
    const rings = new Map<string, string[]>();
    for (const name of names) {
      const path = unslotted(name).slice(this.prefix.length);
      if (unslotted(name) !== name && isRecordPath(path)) rings.set(path, [...(rings.get(path) ?? []), name]);
    }
    const removed: string[] = [];
    const kept: { name: string; reason: string }[] = [];
    const actions: (() => Promise<void>)[] = [];
    for (const [path, slots] of [...rings].sort(([a], [b]) => a.localeCompare(b))) {
      if (PUBLIC_PATH.test(path) || path.startsWith('runner/')) {
        if (plain.has(this.secretName(path)) || parameters.has(this.parameterName(path))) {
          removed.push(...slots);
          actions.push(...slots.map((slot) => () => this.#secrets.deleteLater(slot, LEGACY_RECOVERY_DAYS)));
        } else {
          for (const name of slots) kept.push({ name, reason: 'the record has no new name yet: let a pass run first' });
        }
        continue;
      }
      const { names: slotNames, found, latest } = await this.#ringSlots(path);
      if (latest === undefined) continue;
      slotNames.forEach((name, slot) => {
        if (slot < latest.position.size || slot === latest.slot || !found.has(name)) return;
        removed.push(name);
        actions.push(() => this.#secrets.deleteNow(name));
      });
    }
    if (!dryRun) for (const action of actions) await action();
    return { removed, kept };
  }

  /** Closes the SDK clients' connections. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#secretsApi.destroy();
    this.#parametersApi.destroy();
  }

  async #readParameter(path: string): Promise<StoredRecord | undefined> {
    const name = this.parameterName(path);
    const current = await this.#parameters.get(name);
    return (
      current && {
        value: decodePlain(current.text, name),
        version: formatVersion({ kind: 'p', version: current.version }),
      }
    );
  }

  /**
   * A public record wherever it is: the secret and an earlier release's ring in one
   * `BatchGetSecretValue`, the parameter in one `GetParameter`; the later-written of the
   * secret and the parameter when both exist, the ring only when neither does. A consumer
   * allowed only one of the services still reads what that one holds: a failure of the
   * other counts only when nothing was found.
   */
  async #readPublicAnywhere(path: string): Promise<StoredRecord | undefined> {
    const name = this.secretName(path);
    const legacy = Array.from({ length: MAX_SLOTS }, (_, slot) => slotName(name, slot));
    const parameterName = this.parameterName(path);
    const [secretsRead, parameterRead] = await Promise.allSettled([
      this.#secrets.batch([name, ...legacy]),
      this.#parameters.get(parameterName),
    ]);
    const secrets = secretsRead.status === 'fulfilled' ? secretsRead.value : new Map<string, CurrentValue>();
    const parameter = parameterRead.status === 'fulfilled' ? parameterRead.value : undefined;
    const secret = secrets.get(name);
    if (parameter !== undefined && (secret === undefined || (parameter.modifiedAt ?? 0) >= (secret.createdAt ?? 0))) {
      return {
        value: decodePlain(parameter.text, parameterName),
        version: formatVersion({ kind: 'p', version: parameter.version }),
      };
    }
    if (secret !== undefined) return { value: decodePlain(secret.text, name), version: formatVersion(single(secret)) };
    const latest = latestSlot(name, legacy, secrets);
    if (latest !== undefined) return { value: latest.record, version: formatVersion({ kind: 'l' }) };
    for (const settled of [secretsRead, parameterRead]) if (settled.status === 'rejected') throw settled.reason;
    return undefined;
  }

  /**
   * The freshest slot of the record's ring; the record's plain secret when it has no ring;
   * `undefined` when there is neither.
   */
  async #readRing(path: string): Promise<StoredRecord | undefined> {
    const { name, names, found, latest } = await this.#ringSlots(path);
    if (latest === undefined) {
      const plain = found.get(name);
      // Not a ring: the rotator never writes a plain secret here; a write starts a ring instead.
      return plain && { value: decodePlain(plain.text, name), version: formatVersion(single(plain)) };
    }
    const slots = names.map((slot) => found.get(slot)?.versionId ?? '');
    const version: Version = { kind: 'r', seq: latest.position.seq, size: latest.position.size, slots };
    return { value: latest.record, version: formatVersion(version) };
  }

  /**
   * Every slot of the record's ring and its plain secret, read in one call (a second one
   * for a ring an earlier release made larger than {@link MAX_SLOTS}), and the latest slot.
   */
  async #ringSlots(path: string) {
    const name = this.secretName(path);
    const names = Array.from({ length: MAX_SLOTS }, (_, slot) => slotName(name, slot));
    const found = await this.#secrets.batch([name, ...names]);
    let latest = latestSlot(name, names, found);
    if (latest !== undefined && latest.position.size > MAX_SLOTS) {
      const more = Array.from({ length: latest.position.size - MAX_SLOTS }, (_, i) => slotName(name, MAX_SLOTS + i));
      for (const [key, value] of await this.#secrets.batch(more)) found.set(key, value);
      names.push(...more);
      latest = latestSlot(name, names, found);
    }
    return { name, names, found, latest };
  }

  async #writeParameter(path: string, value: Record<string, unknown>, expected: Version | undefined) {
    const name = this.parameterName(path);
    const over = expected?.kind === 'p' ? expected.version : null;
    const written = await this.#parameters.put(path, name, JSON.stringify(value), over, {
      secure: !path.startsWith('runner/'),
      kmsKeyId: this.#kmsKeyId,
      tags: this.#tagsFor(path),
    });
    // A public record that moved here from a secret (its token's lifetime changed): the
    // secret's token is no longer renewed, so a consumer must not find it.
    if (over === null && PUBLIC_PATH.test(path)) await this.#tidy(() => this.#secrets.deleteNow(this.secretName(path)));
    return formatVersion({ kind: 'p', version: written });
  }

  async #writeSecret(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    expected: Version | undefined,
  ) {
    const name = this.secretName(path);
    const body = JSON.stringify(value);
    const token = requestToken(name, expectedVersion);
    if (expected?.kind === 's') {
      await this.#secrets.swap(path, name, body, token, expected.versionId);
    } else {
      await this.#secrets.create(path, name, body, token, { kmsKeyId: this.#kmsKeyId, tags: this.#tagsFor(path) });
      // A public record that moved here from a parameter: see #writeParameter.
      if (PUBLIC_PATH.test(path)) await this.#tidy(() => this.#parameters.delete(this.parameterName(path)));
    }
    return formatVersion({ kind: 's', versionId: token });
  }

  /**
   * Writes the ring's next position into the slot the read version names, recording the
   * size `usage` needs (the ring's own size when the usage is unknown). A record read from
   * a plain secret, or not at all, starts a ring at slot 0.
   */
  async #writeRing(
    path: string,
    value: Record<string, unknown>,
    expectedVersion: string | null,
    expected: Version | undefined,
    usage: RecordUsage | undefined,
  ) {
    const name = this.secretName(path);
    const ring = expected?.kind === 'r' ? expected : undefined;
    const seq = ring === undefined ? 0 : ring.seq + 1;
    const slot = ring === undefined ? 0 : seq % ring.size;
    const size = usage === undefined && ring !== undefined ? ring.size : slotsFor(usage);
    const slotSecret = slotName(name, slot);
    const body = encodeSlot({ seq, size }, value);
    const token = requestToken(slotSecret, expectedVersion);
    const current = ring?.slots[slot] ?? '';
    if (current === '') {
      await this.#secrets.create(path, slotSecret, body, token, {
        kmsKeyId: this.#kmsKeyId,
        tags: { ...this.#tagsFor(path), 'ring-slot': String(slot) },
      });
    } else {
      await this.#secrets.swap(path, slotSecret, body, token, current);
    }
    const slots = Array.from({ length: Math.max(ring?.slots.length ?? 0, MAX_SLOTS) }, (_, i) =>
      i === slot ? token : (ring?.slots[i] ?? ''),
    );
    return formatVersion({ kind: 'r', seq, size, slots });
  }

  /** Cleanup after a record moved: a failure is logged, never fails the write that landed. */
  async #tidy(action: () => Promise<unknown>): Promise<void> {
    await action().catch((error: unknown) => {
      this.#logger?.warn(
        { err: { class: 'store', code: ErrorCodes.STORE_UNAVAILABLE, message: (error as Error).message } },
        'could not remove the copy of a record that moved',
      );
    });
  }

  async #secretNamesUnder(namePrefix: string): Promise<string[]> {
    const names: string[] = [];
    let nextToken: string | undefined;
    do {
      let page: Awaited<ReturnType<SecretsManagerApi['listSecrets']>>;
      try {
        page = await this.#secretsApi.listSecrets({
          Filters: [{ Key: 'name', Values: [namePrefix] }],
          MaxResults: 100,
          ...(nextToken === undefined ? {} : { NextToken: nextToken }),
        });
      } catch (error) {
        throw failure('Secrets Manager', 'ListSecrets', `secrets ${namePrefix}*`, error);
      }
      // The filter is a prefix match already; checking again keeps foreign names out.
      for (const secret of page.SecretList ?? []) if (secret.Name?.startsWith(namePrefix)) names.push(secret.Name);
      nextToken = page.NextToken === '' ? undefined : page.NextToken;
    } while (nextToken !== undefined);
    return names;
  }

  #tagsFor(path: string): Record<string, string> {
    const provider = PROVIDER_PATH.exec(path)?.[1];
    return { ...this.#tags, 'managed-by': 'token-rotator', ...(provider === undefined ? {} : { provider }) };
  }
}

/** Options of {@link createAwsStore} beyond the config. */
export interface CreateAwsStoreOptions {
  readonly logger?: Logger | undefined;
}

/**
 * Builds the AWS store from its configuration, with the SDK's standard credential chain.
 * Parameter Store is reached at `ssm_endpoint`, or at `endpoint` when only that is set (a
 * local emulator serves both).
 * @example
 * ```ts
 * const store = createAwsStore({ kind: 'aws', prefix: 'token-rotator/', region: 'eu-south-1', max_attempts: 3 });
 * ```
 */
export function createAwsStore(config: AwsStoreConfig, options: CreateAwsStoreOptions = {}): AwsStore {
  return new AwsStore({
    client: sdkSecretsManager(config),
    parameters: sdkParameterStore({ ...config, ssm_endpoint: config.ssm_endpoint ?? config.endpoint }),
    prefix: config.prefix,
    kmsKeyId: config.kms_key_id,
    tags: config.tags,
    logger: options.logger,
  });
}

/** The latest slot among `names` in what a batch read `found`; `undefined` when none exists. */
function latestSlot(
  name: string,
  names: readonly string[],
  found: ReadonlyMap<string, CurrentValue>,
): Slot | undefined {
  let latest: Slot | undefined;
  names.forEach((slotSecret, slot) => {
    const current = found.get(slotSecret);
    if (current === undefined) return;
    const decoded = decodeSlot(current.text);
    if (!decoded.ok)
      throw new StoreError(`secret ${slotName(name, slot)} ${decoded.reason}`, {
        code: ErrorCodes.STORE_RECORD_INVALID,
      });
    if (latest === undefined || decoded.position.seq > latest.position.seq) {
      latest = { slot, versionId: current.versionId, position: decoded.position, record: decoded.record };
    }
  });
  return latest;
}

/**
 * The slot holding the highest `seq` among `names` in what {@link SecretCells.presence}
 * found; `undefined` when none decodes (then no slot can be told to be the latest).
 */
function latestDecodable(names: readonly string[], live: ReadonlyMap<string, string | undefined>) {
  let latest: { readonly name: string; readonly seq: number } | undefined;
  for (const name of names) {
    const text = live.get(name);
    const decoded = text === undefined ? undefined : decodeSlot(text);
    if (decoded?.ok === true && (latest === undefined || decoded.position.seq > latest.seq)) {
      latest = { name, seq: decoded.position.seq };
    }
  }
  return latest?.name;
}

function single(current: CurrentValue): Version {
  return { kind: 's', versionId: current.versionId };
}

function decodePlain(text: string, name: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new StoreError(`${name} does not hold a JSON object`, { code: ErrorCodes.STORE_RECORD_INVALID });
  }
  return value as Record<string, unknown>;
}
