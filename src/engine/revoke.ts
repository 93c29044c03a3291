/**
 * Revoking the tokens a rotation superseded (RFC 7009, issue 14): with `revoke_superseded`
 * on, once a re-authentication's token is written to the state and published, the access
 * token and refresh token it replaced are revoked at the provider, so a leaked old token
 * stops working at once instead of at its expiry.
 *
 * Only after a re-authentication (`obtain`). A refresh gives tokens of the same
 * authorization grant as the ones it replaced, and RFC 7009 §2.1 lets a server revoke
 * every token of the grant when one is revoked (oidc-provider does): revoking the old
 * access token after a refresh could revoke the token just published.
 *
 * Never fails the rotation: the outcome is already decided. A failed revocation is logged
 * (`warn`, code {@link REVOCATION_FAILED}, fingerprints only) and not retried; the old
 * token then lives until its expiry, as it would without revocation. The calls are made
 * concurrently, each bounded by the provider's request timeout.
 * @see https://www.rfc-editor.org/rfc/rfc7009
 * @see docs/revocation.md
 */
import { describeError } from '../errors.js';
import { fingerprint } from '../observability/fingerprint.js';
import type { Logger } from '../observability/logger.js';
import type { TokenProvider, TokenTypeHint } from '../providers/contract.js';
import type { Method, StateRecord } from './records.js';

/** The code a failed revocation of a superseded token is logged with (`err.code`, class `revocation`). */
export const REVOCATION_FAILED = 'REVOCATION_FAILED';

/** A token to revoke and what it is. */
export interface TokenToRevoke {
  readonly token: string;
  readonly hint: TokenTypeHint;
}

/**
 * The tokens of `previous` that `next` no longer holds: its refresh token, then its access
 * token, each only when `next` holds neither it as access token nor as refresh token (a
 * server may hand the same token out again). Pure.
 */
export function supersededTokens(previous: StateRecord, next: StateRecord): TokenToRevoke[] {
  const kept = new Set<string>();
  if (next.token !== undefined) kept.add(next.token.access_token);
  if (next.refresh_token !== undefined) kept.add(next.refresh_token);
  const superseded: TokenToRevoke[] = [];
  if (previous.refresh_token !== undefined && !kept.has(previous.refresh_token))
    superseded.push({ token: previous.refresh_token, hint: 'refresh_token' });
  const access = previous.token?.access_token;
  if (access !== undefined && !kept.has(access) && access !== previous.refresh_token)
    superseded.push({ token: access, hint: 'access_token' });
  return superseded;
}

/** Options of {@link revokeSuperseded}. */
export interface RevokeSupersededOptions {
  readonly provider: TokenProvider;
  /** The state the rotation started from (as leased). */
  readonly previous: StateRecord;
  /** The state the rotation wrote, whose token is published. */
  readonly next: StateRecord;
  /** How the new token was got. */
  readonly method: Method;
  /** Bound to the provider. */
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
}

/** What {@link revokeSuperseded} did, for tests and logs. */
export interface RevokeSupersededResult {
  readonly revoked: readonly TokenTypeHint[];
  readonly failed: readonly TokenTypeHint[];
}

const NOTHING: RevokeSupersededResult = Object.freeze({ revoked: [], failed: [] });

/**
 * Revokes what the rotation from `previous` to `next` superseded, when the provider can
 * revoke, `revoke_superseded` is on and the new token came by re-authentication. Never
 * throws.
 */
export async function revokeSuperseded(options: RevokeSupersededOptions): Promise<RevokeSupersededResult> {
  const { provider, logger } = options;
  if (provider.revoke === undefined || provider.revokeSuperseded !== true) return NOTHING;
  if (options.method !== 'obtain') {
    logger.debug('superseded tokens not revoked after a refresh: they share the new tokens’ grant');
    return NOTHING;
  }
  const superseded = supersededTokens(options.previous, options.next);
  if (superseded.length === 0) return NOTHING;
  const revoke = provider.revoke.bind(provider);
  const call = options.signal === undefined ? {} : { signal: options.signal };
  const results = await Promise.all(
    superseded.map(async ({ token, hint }) => {
      const fp = fingerprint(token);
      try {
        await revoke(token, hint, call);
        logger.info({ token_type_hint: hint, [`${hint}_fp`]: fp }, 'revoked superseded token');
        return { hint, ok: true };
      } catch (error) {
        logger.warn(
          {
            token_type_hint: hint,
            [`${hint}_fp`]: fp,
            err: { class: 'revocation', code: REVOCATION_FAILED, message: describeError(error) },
          },
          'could not revoke superseded token; it stays valid until it expires',
        );
        return { hint, ok: false };
      }
    }),
  );
  return {
    revoked: results.filter((r) => r.ok).map((r) => r.hint),
    failed: results.filter((r) => !r.ok).map((r) => r.hint),
  };
}
