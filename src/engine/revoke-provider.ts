/**
 * Decommissioning a provider (`token-rotator revoke PROVIDER`, issue 14): under the
 * provider's lease, revoke its current refresh and access tokens at the provider
 * (RFC 7009), then remove its records, `state/<p>` and `tokens/<p>`, from the primary
 * store and `tokens/<p>` from each `publish_to` store.
 *
 * The lease is taken as a rotation takes it (a compare-and-set of the state record), so no
 * runner rotates the provider meanwhile; its intent is `refresh`, so that if this process
 * dies before removing the state, the next runner treats the refresh token as possibly
 * spent and re-authenticates instead of keeping a revoked token.
 *
 * If a revocation fails, nothing is removed and the lease is released: the tokens are
 * still valid, and records that vanished would hide them from the operator. Revocation
 * goes refresh token first (RFC 7009 §2.1: the server may then revoke the access tokens of
 * its grant too), and the access token of the public record when it differs from the
 * state's (a public record behind its state). If the state cannot be removed after the
 * tokens were revoked, it is written back without them and without the lease, so no runner
 * publishes them again and a second run (`--remove-only`) need not wait for the lease.
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see docs/revocation.md
 */
import { ConflictError, describeError, ErrorCodes, ProviderError, RotatorError, StoreError } from '../errors.js';
import { fingerprint } from '../observability/fingerprint.js';
import type { Logger } from '../observability/logger.js';
import type { TokenProvider, TokenTypeHint } from '../providers/contract.js';
import type { RecordRemover, SecretStore } from '../stores/contract.js';
import { type Lease, recordPaths, type StateRecord } from './records.js';
import { readPublic, readState } from './records-io.js';
import type { TokenToRevoke } from './revoke.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** A store records can be removed from, by the name config gives it (`stores.<name>`). */
export interface RemovableStore {
  readonly name: string;
  readonly store: SecretStore & RecordRemover;
}

/** Options of {@link decommissionProvider}. */
export interface DecommissionOptions {
  /** The provider's name in config. */
  readonly provider: string;
  /** The primary store: state, lease and public record. */
  readonly store: SecretStore & RecordRemover;
  /** The `publish_to` stores holding a copy of the public record. */
  readonly secondaries: readonly RemovableStore[];
  /** Revokes a token (the provider's {@link TokenProvider.revoke}); absent: remove only, revoke nothing. */
  readonly revoke?: TokenProvider['revoke'] | undefined;
  /** This process, as leases name runners. */
  readonly holder: string;
  /** How long the lease is taken for (the policy's `lease_seconds`). */
  readonly leaseSeconds: number;
  readonly now: () => number;
  /** Bound to the provider. */
  readonly logger: Logger;
}

/** A token revoked, as it may be printed. */
export interface RevokedToken {
  readonly hint: TokenTypeHint;
  readonly fingerprint: string;
}

/** What {@link decommissionProvider} did; safe to print (fingerprints, record paths and store names). */
export interface DecommissionResult {
  readonly revoked: readonly RevokedToken[];
  /** Records removed, `path` in the primary store or `path` in the secondary `store`. */
  readonly removed: readonly { readonly path: string; readonly store?: string }[];
}

/** Rounds against concurrent writers of the state record before giving up. */
const LEASE_ATTEMPTS = 5;

/** The tokens to revoke: the state's refresh token, then its access token, then the public record's if it differs. */
export function currentTokens(state: StateRecord | undefined, publicAccessToken: string | undefined): TokenToRevoke[] {
  const tokens: TokenToRevoke[] = [];
  const seen = new Set<string>();
  const add = (token: string | undefined, hint: TokenTypeHint) => {
    if (token === undefined || seen.has(token)) return;
    seen.add(token);
    tokens.push({ token, hint });
  };
  add(state?.refresh_token, 'refresh_token');
  add(state?.token?.access_token, 'access_token');
  add(publicAccessToken, 'access_token');
  return tokens;
}

/** The state as read and the version the lease was written at (`undefined`: no state record, nothing leased). */
interface Leased {
  readonly state: StateRecord | undefined;
  readonly version: string | undefined;
}

/**
 * Takes the provider's lease by compare-and-set, as {@link acquireLease} does, without waiting.
 * @throws {RotatorError} `LEASE_BUSY` while another runner holds a live lease.
 */
async function takeLease(options: DecommissionOptions): Promise<Leased> {
  const { provider, store } = options;
  for (let attempt = 1; ; attempt++) {
    const read = await readState(store, provider);
    const state = read.record;
    if (state === undefined || read.version === null) return { state: undefined, version: undefined };
    const t = options.now();
    const lease = state.lease;
    if (lease !== undefined && Date.parse(lease.expires_at) > t && lease.holder !== options.holder) {
      throw new RotatorError(
        ErrorCodes.LEASE_BUSY,
        `another runner (${lease.holder}) holds the lease of ${provider} until ${lease.expires_at}; nothing was revoked or removed, try again once it is released`,
      );
    }
    const mine: Lease = {
      holder: options.holder,
      acquired_at: iso(t),
      expires_at: iso(t + options.leaseSeconds * 1000),
      intent: 'refresh',
    };
    const leased: StateRecord = { ...state, lease: mine };
    try {
      const version = await store.write(
        recordPaths.state(provider),
        JSON.parse(JSON.stringify(leased)) as Record<string, unknown>,
        read.version,
      );
      return { state: leased, version };
    } catch (error) {
      if (error instanceof ConflictError && attempt < LEASE_ATTEMPTS) continue;
      throw error;
    }
  }
}

/**
 * Writes the state back without this process's lease, and without its tokens when they
 * were revoked (so no runner publishes them again: the next pass obtains a new token, and
 * a second `revoke` is not kept waiting by this one's lease). A failure is logged: the
 * lease expires anyway.
 */
async function releaseLease(options: DecommissionOptions, leased: Leased, dropTokens = false): Promise<void> {
  if (leased.state === undefined || leased.version === undefined) return;
  const { lease: _mine, token: _token, refresh_token: _refresh, refresh_expires_at: _expiry, ...bare } = leased.state;
  const { lease: _lease, ...kept } = leased.state;
  const released: StateRecord = dropTokens ? bare : kept;
  try {
    await options.store.write(
      recordPaths.state(options.provider),
      JSON.parse(JSON.stringify(released)) as Record<string, unknown>,
      leased.version,
    );
  } catch (error) {
    options.logger.warn(
      {
        err: {
          class: 'store',
          code: error instanceof RotatorError ? error.code : ErrorCodes.STORE_UNAVAILABLE,
          message: describeError(error),
        },
      },
      'could not release the lease; it expires by itself',
    );
  }
}

/**
 * Revokes the provider's current tokens (unless `revoke` is absent), then removes its
 * records; see the module doc for the order and what a failure leaves.
 * @throws {RotatorError} `LEASE_BUSY` while another runner holds the lease (nothing done).
 * @throws {ProviderError} when a revocation failed: nothing was removed, the lease released.
 * @throws {StoreError} when the store failed; its message says what was already done.
 */
export async function decommissionProvider(options: DecommissionOptions): Promise<DecommissionResult> {
  const { provider, store, logger } = options;
  const leased = await takeLease(options);
  const revoked: RevokedToken[] = [];
  if (options.revoke !== undefined) {
    const published = await readPublic(store, provider).catch(async (error: unknown) => {
      await releaseLease(options, leased);
      throw error;
    });
    for (const { token, hint } of currentTokens(leased.state, published.record?.access_token)) {
      const fp = fingerprint(token);
      try {
        await options.revoke(token, hint);
      } catch (error) {
        await releaseLease(options, leased);
        const done = revoked.length === 0 ? '' : ` (${revoked.map((r) => r.hint).join(' and ')} already revoked)`;
        const reason = describeError(error);
        const message = `could not revoke the ${hint.replace('_', ' ')} of ${provider} (${fp})${done}: ${reason}; no record was removed and the lease is released`;
        throw error instanceof ProviderError
          ? new ProviderError(error.failureClass, message, {
              ...(error.status === undefined ? {} : { status: error.status }),
              ...(error.reason === undefined ? {} : { reason: error.reason }),
              cause: error,
            })
          : new ProviderError('permanent', message, { cause: error });
      }
      revoked.push({ hint, fingerprint: fp });
      logger.info({ token_type_hint: hint, [`${hint}_fp`]: fp }, 'revoked token');
    }
  }

  const removed: { path: string; store?: string }[] = [];
  const remove = async (target: SecretStore & RecordRemover, path: string, name?: string) => {
    try {
      if (await target.remove(path)) {
        removed.push({ path, ...(name === undefined ? {} : { store: name }) });
        logger.info({ path, ...(name === undefined ? {} : { store: name }) }, 'removed record');
      }
    } catch (error) {
      // The state still holds this lease only when its own removal failed.
      if (path === recordPaths.state(provider) && name === undefined)
        await releaseLease(options, leased, revoked.length > 0);
      const where = name === undefined ? path : `${path} in store ${name}`;
      const done = [
        ...(revoked.length > 0 ? [`revoked the ${revoked.map((r) => r.hint.replace('_', ' ')).join(' and ')}`] : []),
        ...removed.map((r) => `removed ${r.path}${r.store === undefined ? '' : ` in store ${r.store}`}`),
      ];
      const message = `could not remove ${where}: ${describeError(error)}${done.length > 0 ? `; already ${done.join(', ')}` : ''}; run \`token-rotator revoke ${provider} --remove-only\` to finish`;
      throw new StoreError(message, {
        cause: error,
        ...(error instanceof StoreError ? { retryable: error.retryable } : {}),
      });
    }
  };
  // The state first: once it is gone no runner can republish the revoked token from it.
  await remove(store, recordPaths.state(provider));
  await remove(store, recordPaths.public(provider));
  for (const secondary of options.secondaries)
    await remove(secondary.store, recordPaths.public(provider), secondary.name);
  return { revoked, removed };
}
