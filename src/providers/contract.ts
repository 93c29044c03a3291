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
  /**
   * Revokes `token` at the provider's revocation endpoint (RFC 7009), when the profile
   * has one (`oauth2` with `revocation_url`). An unknown or already invalid token is not an
   * error: the server answers 200 for it (RFC 7009 §2.2). Failures are classified as for
   * token calls (`unsupported_token_type` is permanent, a 503 retryable).
   * @throws {ProviderError}
   * @see https://www.rfc-editor.org/rfc/rfc7009#section-2.1
   */
  revoke?(token: string, hint: TokenTypeHint, options?: CallOptions): Promise<void>;
  /**
   * True when the engine should revoke the tokens a rotation superseded once the new ones
   * are published (`revoke_superseded` in config); only meaningful with {@link revoke}.
   * Absent: false.
   */
  readonly revokeSuperseded?: boolean;
}

/** What a token given to {@link TokenProvider.revoke} is (RFC 7009 §2.1 `token_type_hint`). */
export type TokenTypeHint = 'access_token' | 'refresh_token';

export type { ProviderError };
