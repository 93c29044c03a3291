/**
 * Token families: issuance, single-use refresh with reuse detection, revocation and
 * introspection. Every token lives in the space of one target; a token of another
 * target is unknown here.
 *
 * @see https://datatracker.ietf.org/doc/html/rfc6749#section-6 refresh
 * @see https://datatracker.ietf.org/doc/html/rfc9700#section-4.14.2 refresh token rotation and reuse detection
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IntrospectionResult, SandboxTarget } from './types.js';

/** How access tokens of a target look on the wire. */
export type TokenStyle = 'keliweb' | 'klikoo' | 'oauth2';

interface TokenRecord {
  readonly value: string;
  readonly kind: 'access' | 'refresh';
  readonly target: SandboxTarget;
  readonly clientId: string;
  readonly familyId: string;
  readonly expiresAt: number;
  readonly scope?: string;
  readonly audience?: string;
  revoked: boolean;
  /** Refresh tokens: exchanged once already. */
  spent: boolean;
  /** Refresh tokens: the access token issued with it, revoked when it is exchanged. */
  readonly pairedAccess?: string;
}

/** What a grant asks the ledger to issue. */
export interface IssueRequest {
  readonly target: SandboxTarget;
  readonly clientId: string;
  readonly style: TokenStyle;
  readonly accessSeconds: number;
  /** Issue a refresh token living this long; none when absent. */
  readonly refreshSeconds?: number;
  readonly scope?: string;
  readonly audience?: string;
  /** Continue this family (a refresh); a new family when absent. */
  readonly familyId?: string;
}

/** Tokens a grant produced. */
export interface IssuedTokens {
  readonly accessToken: string;
  readonly refreshToken?: string;
  readonly familyId: string;
}

/** Why a refresh token was refused; `reuse` also revoked its whole family. */
export type RefreshRefusal = 'unknown' | 'other_client' | 'reuse' | 'revoked' | 'expired' | 'scope';

/** The outcome of presenting a refresh token. */
export type RefreshCheck =
  | { readonly ok: true; readonly familyId: string; readonly scope?: string; readonly audience?: string }
  | { readonly ok: false; readonly reason: RefreshRefusal };

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/**
 * The tokens one sandbox has issued. Not persistent: a restart forgets every token,
 * as a vendor's key rotation would.
 */
export class TokenLedger {
  readonly #tokens = new Map<string, TokenRecord>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Every token value issued so far, access and refresh (for leak checks in tests). */
  values(): string[] {
    return [...this.#tokens.keys()];
  }

  /** Issues an access token, and a refresh token when asked, in a new or given family. */
  issue(request: IssueRequest): IssuedTokens {
    const now = this.#now();
    const familyId = request.familyId ?? randomUUID();
    const common = {
      target: request.target,
      clientId: request.clientId,
      familyId,
      revoked: false,
      spent: false,
      ...(request.scope === undefined ? {} : { scope: request.scope }),
      ...(request.audience === undefined ? {} : { audience: request.audience }),
    };
    const expiresAt = now + request.accessSeconds * 1000;
    const accessToken = this.#accessValue(request, now, expiresAt);
    this.#tokens.set(accessToken, { ...common, value: accessToken, kind: 'access', expiresAt });
    if (request.refreshSeconds === undefined) return { accessToken, familyId };
    const refreshToken =
      request.style === 'keliweb' ? `def50200${randomBytes(160).toString('hex')}` : base64url(randomBytes(32));
    this.#tokens.set(refreshToken, {
      ...common,
      value: refreshToken,
      kind: 'refresh',
      expiresAt: now + request.refreshSeconds * 1000,
      pairedAccess: accessToken,
    });
    return { accessToken, refreshToken, familyId };
  }

  /**
   * Spends a refresh token: on success it can never be used again and the access token
   * issued with it is revoked at once (thephpleague/oauth2-server behaviour). A spent
   * token presented again revokes its whole family. A `scope` wider than the one first
   * granted is refused before the token is spent (RFC 6749 §6).
   */
  spendRefreshToken(target: SandboxTarget, clientId: string, token: string, scope?: string): RefreshCheck {
    const record = this.#tokens.get(token);
    if (record === undefined || record.kind !== 'refresh' || record.target !== target)
      return { ok: false, reason: 'unknown' };
    if (record.clientId !== clientId) return { ok: false, reason: 'other_client' };
    if (record.spent) {
      this.revokeFamily(record.familyId);
      return { ok: false, reason: 'reuse' };
    }
    if (record.revoked) return { ok: false, reason: 'revoked' };
    if (this.#now() >= record.expiresAt) return { ok: false, reason: 'expired' };
    if (scope !== undefined) {
      const granted = new Set((record.scope ?? '').split(' '));
      if (!scope.split(' ').every((item) => granted.has(item))) return { ok: false, reason: 'scope' };
    }
    record.spent = true;
    if (record.pairedAccess !== undefined) {
      const access = this.#tokens.get(record.pairedAccess);
      if (access !== undefined) access.revoked = true;
    }
    return {
      ok: true,
      familyId: record.familyId,
      ...(record.scope === undefined ? {} : { scope: record.scope }),
      ...(record.audience === undefined ? {} : { audience: record.audience }),
    };
  }

  /** Revokes every access and refresh token of a family. */
  revokeFamily(familyId: string): void {
    for (const record of this.#tokens.values()) {
      if (record.familyId === familyId) record.revoked = true;
    }
  }

  /** Whether `token` is an access token issued here, neither expired nor revoked. */
  isValidAccessToken(token: string): boolean {
    const record = this.#tokens.get(token);
    return record !== undefined && record.kind === 'access' && this.#active(record);
  }

  /**
   * What the ledger knows of a token. An unknown token is only `{ active: false }`; a
   * known one names its target, kind and expiry even when inactive, to help debugging.
   * @see https://datatracker.ietf.org/doc/html/rfc7662#section-2.2
   */
  introspect(token: string): IntrospectionResult {
    const record = this.#tokens.get(token);
    if (record === undefined) return { active: false };
    return {
      active: this.#active(record),
      target: record.target,
      token_kind: record.kind,
      exp: Math.floor(record.expiresAt / 1000),
      client_id: record.clientId,
      ...(record.scope === undefined ? {} : { scope: record.scope }),
      ...(record.audience === undefined ? {} : { aud: record.audience }),
    };
  }

  #active(record: TokenRecord): boolean {
    return !record.revoked && !record.spent && this.#now() < record.expiresAt;
  }

  /**
   * Keliweb and Klikoo send JWTs (RS256 with a `jti`, as Laravel Passport does); their
   * signature here is random bytes, since nobody verifies it. OAuth 2.0 tokens are opaque.
   */
  #accessValue(request: IssueRequest, now: number, expiresAt: number): string {
    if (request.style === 'oauth2') return base64url(randomBytes(32));
    const jti = randomBytes(40).toString('hex');
    const header = { typ: 'JWT', alg: 'RS256', jti };
    const payload = {
      aud: request.clientId,
      jti,
      iat: Math.floor(now / 1000),
      nbf: Math.floor(now / 1000),
      exp: Math.floor(expiresAt / 1000),
      // A stable user id per client, as Passport's numeric `sub`; never the username.
      sub: String(createHash('sha256').update(request.clientId).digest().readUInt32BE(0) % 100_000),
      scopes: [],
    };
    return [base64url(JSON.stringify(header)), base64url(JSON.stringify(payload)), base64url(randomBytes(256))].join(
      '.',
    );
  }
}
