/**
 * The Vault store's token over time: logs in lazily, renews the token before its lease
 * ends, logs in again ahead of expiry when renewal can no longer extend it, and replaces
 * it at once when Vault refuses it. A daemon that passes every few minutes, or sits idle
 * for hours, thus always holds a live token, and one short-lived token never outlives a
 * run by surprise.
 *
 * Timing: renewal at about two thirds of the TTL (±10 % jitter, so many runners do not
 * renew in step); a new login at two thirds of the remaining TTL, and no later than
 * {@link RELOGIN_MARGIN_SECONDS} before expiry when the TTL allows. Timers are `unref()`ed
 * (they never keep a process alive) and cleared by {@link VaultSession.close}.
 *
 * @see https://openbao.org/api-docs/auth/token/#renew-a-token-self
 * @see https://developer.hashicorp.com/vault/docs/concepts/tokens#token-time-to-live-periodic-tokens-and-explicit-max-ttls
 */
import { describeError, ErrorCodes, RotatorError } from '../../errors.js';
import { fingerprint } from '../../observability/fingerprint.js';
import { type Logger, silentLogger } from '../../observability/logger.js';
import type { VaultLogin } from './client.js';

/** Fraction of a TTL after which the token is renewed, or replaced. */
export const RENEW_AT_FRACTION = 2 / 3;
/** Renewals spread by up to this fraction of their delay, either way. */
export const RENEW_JITTER_FRACTION = 0.1;
/** A new login ahead of expiry happens at least this long before the token dies. */
export const RELOGIN_MARGIN_SECONDS = 5;
/**
 * Tokens living less than this are not kept alive: timers that short would turn into a
 * login storm; such a token is replaced when Vault refuses it.
 */
export const MIN_KEPT_TTL_SECONDS = 2;
/** Longest delay `setTimeout` takes (about 24.8 days); longer ones fire early, harmlessly. */
const MAX_TIMER_MS = 2_147_483_647;
/** Shortest wait before retrying a failed login ahead of expiry. */
const RETRY_FLOOR_MS = 1000;

/** Milliseconds until a token living `ttlSeconds` more should be renewed. */
export function renewDelayMs(ttlSeconds: number, random: () => number = Math.random): number {
  const jitter = 1 + RENEW_JITTER_FRACTION * (2 * random() - 1);
  return clampTimer(ttlSeconds * 1000 * RENEW_AT_FRACTION * jitter);
}

/**
 * Milliseconds until a token living `remainingSeconds` more should be replaced by a new
 * login: at two thirds of the time left, no later than {@link RELOGIN_MARGIN_SECONDS}
 * before expiry, but never before a third of it, so that a token too short-lived for the
 * margin is not replaced the moment it arrives, in a loop.
 */
export function reloginDelayMs(remainingSeconds: number): number {
  const remainingMs = remainingSeconds * 1000;
  const withMargin = Math.min(remainingMs * RENEW_AT_FRACTION, remainingMs - RELOGIN_MARGIN_SECONDS * 1000);
  return clampTimer(Math.max(withMargin, remainingMs * (1 - RENEW_AT_FRACTION)));
}

function clampTimer(ms: number): number {
  return Math.round(Math.min(MAX_TIMER_MS, Math.max(0, ms)));
}

/** What a session needs from Vault. */
export interface VaultSessionOptions {
  /** Obtains a token with the configured auth method. */
  readonly login: () => Promise<VaultLogin>;
  /** `auth/token/renew-self`: extends `token` by `incrementSeconds`, at most to its max TTL. */
  readonly renew: (token: string, incrementSeconds: number) => Promise<VaultLogin>;
  readonly logger?: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** A token the session holds. A new `generation` marks every login; renewals keep it. */
interface Held {
  readonly login: VaultLogin;
  /** What renewals ask for: the lifetime the login gave. */
  readonly increment: number;
  /** Epoch milliseconds; `Infinity` for a token that never expires. */
  readonly expiresAt: number;
  readonly generation: number;
}

/** Why a token was obtained, for the logs. */
type Reason = 'first use' | 'refused by Vault' | 'ahead of expiry';

/**
 * Holds the store's Vault token and keeps it alive.
 * @example
 * ```ts
 * const session = new VaultSession({ login: () => auth(client), renew: (t, s) => client.renewSelf(t, s), logger });
 * const { token } = await session.current();
 * ```
 */
export class VaultSession {
  readonly #login: () => Promise<VaultLogin>;
  readonly #renew: (token: string, incrementSeconds: number) => Promise<VaultLogin>;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #random: () => number;
  #held: Promise<Held> | undefined;
  #generation = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: VaultSessionOptions) {
    this.#login = options.login;
    this.#renew = options.renew;
    this.#logger = options.logger ?? silentLogger();
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** The current token, logging in first when there is none. */
  async current(): Promise<VaultLogin> {
    if (this.#held === undefined) this.#loginNow('first use');
    return (await (this.#held as Promise<Held>)).login;
  }

  /** Logs in again after Vault refused `stale`, unless a concurrent call already replaced it. */
  async replace(stale: VaultLogin): Promise<VaultLogin> {
    for (;;) {
      const held = this.#held;
      const current = await held?.catch(() => undefined);
      // Another caller started a login while this one waited: look at that one instead.
      if (this.#held !== held) continue;
      if (current !== undefined && current.login.token !== stale.token) return current.login;
      this.#loginNow('refused by Vault');
      return (await (this.#held as Promise<Held>)).login;
    }
  }

  /** Stops renewing; the token is left to expire. */
  close(): void {
    this.#closed = true;
    this.#cancelTimer();
  }

  #loginNow(reason: Reason): void {
    // Claimed now, so that upkeep of the token being replaced stops at once.
    const generation = ++this.#generation;
    this.#cancelTimer();
    const pending = this.#login().then((login) => this.#install(login, reason, generation));
    this.#held = pending;
    pending.catch(() => {
      if (this.#held === pending) this.#held = undefined;
    });
  }

  /** Makes `login` the session's token and plans its renewal or replacement. */
  #install(login: VaultLogin, reason: Reason, generation: number): Held {
    const held: Held = {
      login,
      increment: login.ttlSeconds,
      expiresAt: login.ttlSeconds === 0 ? Infinity : this.#now() + login.ttlSeconds * 1000,
      generation,
    };
    this.#logger.info({ ...describe(login), reason }, 'logged in to Vault');
    this.#plan(held);
    return held;
  }

  #plan(held: Held): void {
    const { login } = held;
    if (this.#isStale(held)) return;
    this.#cancelTimer();
    if (login.ttlSeconds === 0) return;
    if (login.ttlSeconds < MIN_KEPT_TTL_SECONDS) {
      this.#logger.debug(
        { ...describe(login) },
        'the Vault token lives too briefly to be kept alive; it is replaced when refused',
      );
    } else if (login.renewable) {
      this.#schedule(renewDelayMs(login.ttlSeconds, this.#random), () => this.#renewHeld(held));
    } else {
      this.#lastRenewalDone(held, login.ttlSeconds);
    }
  }

  async #renewHeld(held: Held): Promise<void> {
    if (this.#isStale(held)) return;
    let renewed: VaultLogin;
    try {
      renewed = await this.#renew(held.login.token, held.increment);
    } catch (error) {
      if (this.#isStale(held)) return;
      this.#logger.warn(
        { ...describe(held.login), error: (error as Error).message },
        'could not renew the Vault token',
      );
      this.#lastRenewalDone(held, this.#remainingSeconds(held));
      return;
    }
    if (this.#isStale(held)) return;
    const updated: Held = {
      ...held,
      login: { ...held.login, ttlSeconds: renewed.ttlSeconds, renewable: renewed.renewable },
      expiresAt: this.#now() + renewed.ttlSeconds * 1000,
    };
    this.#held = Promise.resolve(updated);
    this.#logger.info({ ...describe(updated.login) }, 'renewed the Vault token');
    // Less than asked for: the max TTL caps it, a later renewal cannot extend it further.
    if (renewed.renewable && renewed.ttlSeconds >= held.increment) {
      this.#schedule(renewDelayMs(renewed.ttlSeconds, this.#random), () => this.#renewHeld(updated));
    } else {
      this.#lastRenewalDone(updated, renewed.ttlSeconds);
    }
  }

  /** The token cannot be extended any more: replace it ahead of expiry, or warn when it cannot be. */
  #lastRenewalDone(held: Held, remainingSeconds: number): void {
    const expiresAt = new Date(this.#now() + remainingSeconds * 1000).toISOString();
    if (held.login.fixed) {
      this.#logger.warn(
        { ...describe(held.login), expires_at: expiresAt },
        'the Vault token given in the config cannot be renewed further and the rotator cannot replace it: give it a new token before it expires',
      );
      return;
    }
    this.#logger.info(
      { ...describe(held.login), expires_at: expiresAt },
      'the Vault token cannot be renewed further; logging in again ahead of expiry',
    );
    this.#schedule(reloginDelayMs(remainingSeconds), () => this.#reloginAhead(held));
  }

  async #reloginAhead(held: Held): Promise<void> {
    if (this.#isStale(held)) return;
    let login: VaultLogin;
    try {
      login = await this.#login();
    } catch (error) {
      if (this.#isStale(held)) return;
      const remaining = this.#remainingSeconds(held);
      this.#logger.warn(
        { ...describe(held.login), error: (error as Error).message, expires_in_seconds: Math.floor(remaining) },
        'could not log in to Vault again ahead of expiry',
      );
      // Keep the token that still works; try again while it does.
      if (remaining > RETRY_FLOOR_MS / 1000)
        this.#schedule(Math.max(RETRY_FLOOR_MS, reloginDelayMs(remaining)), () => this.#reloginAhead(held));
      return;
    }
    if (this.#isStale(held)) return;
    this.#held = Promise.resolve(this.#install(login, 'ahead of expiry', ++this.#generation));
  }

  /** True when `held` was replaced meanwhile (or the session closed): its timers do nothing. */
  #isStale(held: Held): boolean {
    return this.#closed || held.generation !== this.#generation;
  }

  #remainingSeconds(held: Held): number {
    return Math.max(0, (held.expiresAt - this.#now()) / 1000);
  }

  #schedule(delayMs: number, action: () => Promise<void>): void {
    this.#cancelTimer();
    if (this.#closed) return;
    const timer = setTimeout(() => {
      if (this.#timer === timer) this.#timer = undefined;
      action().catch((error: unknown) =>
        this.#logger.error(
          {
            err: {
              class: 'store',
              code: error instanceof RotatorError ? error.code : ErrorCodes.STORE_UNAVAILABLE,
              message: describeError(error),
            },
          },
          'Vault token upkeep failed',
        ),
      );
    }, delayMs);
    timer.unref();
    this.#timer = timer;
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** What identifies a token in logs: its accessor and fingerprint, never the token. */
function describe(login: VaultLogin): Record<string, unknown> {
  return {
    accessor: login.accessor,
    token_fingerprint: fingerprint(login.token),
    ttl_seconds: login.ttlSeconds,
    renewable: login.renewable,
  };
}
