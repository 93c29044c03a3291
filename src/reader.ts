/**
 * What consumers import to read a token: the public record from the store, cached in
 * memory until shortly before it expires, and dropped when an API call answers 401 (a
 * refresh on a Keliweb-like server revokes the previous access token at once).
 */

import { readPublic } from './engine/records-io.js';
import { TokenUnavailableError } from './errors.js';
import type { SecretStore } from './stores/contract.js';

/** A token as consumers use it. */
export interface Token {
  readonly accessToken: string;
  readonly tokenType: string;
  readonly expiresAt: Date;
  readonly issuedAt: Date;
  readonly generation: number;
}

/** Options for {@link createTokenReader}. */
export interface TokenReaderOptions {
  readonly store: SecretStore;
  /** Stop serving a cached token this many seconds before it expires (default 30). */
  readonly refreshMarginSeconds?: number;
  readonly now?: () => number;
}

/** Reads tokens the rotator published. */
export interface TokenReader {
  /**
   * The provider's current token.
   * @throws {TokenUnavailableError} when none is stored or the stored one has expired.
   */
  get(provider: string): Promise<Token>;
  /** `Authorization` header value, e.g. `Bearer eyJ…`. */
  authorization(provider: string): Promise<string>;
  /**
   * Forget the cached token after the API rejected it (HTTP 401). Pass the rejected
   * token so a newer one fetched meanwhile by another caller is kept.
   */
  invalidate(provider: string, rejected?: string): void;
}

/**
 * Creates a reader.
 * @example
 * const reader = createTokenReader({ store: await createStore({ kind: 'file', directory: '/var/lib/token-rotator' }) });
 * let response = await fetch(url, { headers: { authorization: await reader.authorization('klikoo') } });
 * if (response.status === 401) {
 *   reader.invalidate('klikoo');
 *   response = await fetch(url, { headers: { authorization: await reader.authorization('klikoo') } });
 * }
 */
export function createTokenReader(options: TokenReaderOptions): TokenReader {
  const now = options.now ?? Date.now;
  const marginMs = (options.refreshMarginSeconds ?? 30) * 1000;
  const cache = new Map<string, Token>();
  const inflight = new Map<string, Promise<Token>>();

  async function load(provider: string): Promise<Token> {
    const { record } = await readPublic(options.store, provider);
    if (record === undefined) throw new TokenUnavailableError(`no token stored for provider ${provider}`);
    const token: Token = {
      accessToken: record.access_token,
      tokenType: record.token_type,
      expiresAt: new Date(record.expires_at),
      issuedAt: new Date(record.issued_at),
      generation: record.generation,
    };
    if (token.expiresAt.getTime() <= now()) {
      throw new TokenUnavailableError(`the stored token of provider ${provider} expired at ${record.expires_at}`);
    }
    cache.set(provider, token);
    return token;
  }

  const reader: TokenReader = {
    async get(provider) {
      const cached = cache.get(provider);
      if (cached !== undefined && cached.expiresAt.getTime() - marginMs > now()) return cached;
      let pending = inflight.get(provider);
      if (pending === undefined) {
        pending = load(provider).finally(() => inflight.delete(provider));
        inflight.set(provider, pending);
      }
      return pending;
    },
    async authorization(provider) {
      const token = await reader.get(provider);
      return `${token.tokenType} ${token.accessToken}`;
    },
    invalidate(provider, rejected) {
      const cached = cache.get(provider);
      if (cached !== undefined && (rejected === undefined || cached.accessToken === rejected)) cache.delete(provider);
    },
  };
  return reader;
}
