/**
 * The contract every token protocol implements. Providers know nothing of stores or
 * schedules: they turn credentials into a validated {@link TokenSet} or throw a
 * classified {@link ProviderError}.
 */
import type { ProviderError } from '../errors.js';

/** A token as a provider issued it, validated. */
export interface TokenSet {
  readonly accessToken: string;
  /** As the server named it (`Bearer`). */
  readonly tokenType: string;
  /** Seconds the access token lives: the server's `expires_in`, else the configured default. */
  readonly expiresIn: number;
  readonly refreshToken?: string;
  /** Seconds the refresh token lives, when known (from the server or the profile). */
  readonly refreshExpiresIn?: number;
}

/** Options for one call to a token endpoint. */
export interface CallOptions {
  /** Aborts the call (shutdown); a timeout is applied by the provider itself. */
  readonly signal?: AbortSignal;
}

/** One configured provider, ready to call its token endpoint. */
export interface TokenProvider {
  /** The protocol profile (`oauth2`, `keliweb`, `klikoo`). */
  readonly kind: string;
  /**
   * Gets a new token with the provider's own credentials (password grant, client
   * credentials, a signed call).
   * @throws {ProviderError}
   */
  obtain(options?: CallOptions): Promise<TokenSet>;
  /**
   * Exchanges a refresh token for a new token, when the profile supports it
   * (RFC 6749 §6). A `reauthenticate` error means the refresh token is dead.
   * @throws {ProviderError}
   */
  refresh?(refreshToken: string, options?: CallOptions): Promise<TokenSet>;
  /**
   * `false` for a refresh-only profile (`oauth2` with `grant: refresh_token`), whose
   * `obtain` can only fail asking for an imported refresh token: the engine then refreshes
   * whenever it holds a refresh token, however close to its expiry. Absent: `true`.
   */
  readonly reauthenticates?: boolean;
}

export type { ProviderError };
