/**
 * Importing a refresh token (issue 14): `token-rotator import PROVIDER` puts a refresh
 * token got elsewhere (an authorization-code flow the rotator cannot run) into the
 * provider's state record, and rotation continues from it by refresh.
 *
 * The import is a compare-and-set of the state record, like a lease: it never overwrites a
 * record another runner holds a live lease on (that runner may be spending the previous
 * refresh token), and a concurrent write makes it read again. When the input also
 * carries a current access token, it becomes the next generation and is published.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 * @see docs/import.md
 */
import { ConflictError, ErrorCodes, RotatorError } from '../errors.js';
import { fingerprint } from '../observability/fingerprint.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore } from '../stores/contract.js';
import { publishBehind } from './publish.js';
import { emptyState, recordPaths, type StateRecord } from './records.js';
import { readState, type WriteRetryOptions } from './records-io.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** What an import brings: a refresh token, and optionally the access token issued with it. */
export interface ImportedTokens {
  readonly refreshToken: string;
  readonly accessToken?: { readonly value: string; readonly tokenType: string; readonly expiresAt: number };
}

/**
 * The input could not be read as tokens. Its message never quotes the input: it may be
 * a token with a typo.
 */
export class ImportInputError extends Error {
  override readonly name = 'ImportInputError';
}

/** Fields of the JSON form; any other is refused, so a misspelt one is not silently dropped. */
const JSON_FIELDS = new Set(['refresh_token', 'access_token', 'token_type', 'expires_at', 'expires_in']);

/** A token as it may appear in input: printable ASCII without spaces (RFC 6749 §A.17 allows VSCHAR). */
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

function tokenField(value: unknown, field: string): string {
  if (typeof value !== 'string' || !TOKEN_PATTERN.test(value))
    throw new ImportInputError(`${field} must be a non-empty string of printable characters without spaces`);
  return value;
}

/**
 * Reads standard input's text as tokens. Two forms:
 * - a bare refresh token, alone on its line (surrounding blank space ignored);
 * - a JSON object `{"refresh_token": "…", "access_token": "…", "token_type": "Bearer",
 *   "expires_at": "2026-01-01T00:00:00Z" | "expires_in": 3600}` where everything but
 *   `refresh_token` is optional, but an access token needs its expiry (`expires_in`
 *   counts from `now`) and an expiry needs the access token.
 * @throws {ImportInputError} naming what is wrong, never quoting the input.
 * @example parseImportInput('def50200abc…\n', Date.now()) // { refreshToken: 'def50200abc…' }
 */
export function parseImportInput(text: string, now: number): ImportedTokens {
  const trimmed = text.trim();
  if (trimmed === '') throw new ImportInputError('standard input is empty: pipe the refresh token in');
  if (!trimmed.startsWith('{')) {
    if (trimmed.includes('\n')) throw new ImportInputError('expected one refresh token on one line, or a JSON object');
    return { refreshToken: tokenField(trimmed, 'the refresh token') };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new ImportInputError('standard input starts with "{" but is not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new ImportInputError('expected a JSON object');
  const record = parsed as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !JSON_FIELDS.has(key));
  if (unknown.length > 0)
    throw new ImportInputError(`unknown field(s) ${unknown.join(', ')} (known: ${[...JSON_FIELDS].join(', ')})`);
  const refreshToken = tokenField(record['refresh_token'], 'refresh_token');
  const { access_token: access, expires_at: at, expires_in: within, token_type: type } = record;
  if (access === undefined) {
    if (at !== undefined || within !== undefined || type !== undefined)
      throw new ImportInputError('expires_at, expires_in and token_type go with an access_token');
    return { refreshToken };
  }
  const value = tokenField(access, 'access_token');
  if (at !== undefined && within !== undefined) throw new ImportInputError('give expires_at or expires_in, not both');
  let expiresAt: number;
  if (typeof within === 'number' && Number.isFinite(within) && within > 0) expiresAt = now + within * 1000;
  else if (within !== undefined) throw new ImportInputError('expires_in must be a positive number of seconds');
  else if (typeof at === 'string' && /^\d{4}-\d\d-\d\dT/.test(at) && !Number.isNaN(Date.parse(at)))
    expiresAt = Date.parse(at);
  else if (at !== undefined) throw new ImportInputError('expires_at must be an ISO 8601 date-time');
  else throw new ImportInputError('an access_token needs expires_at or expires_in');
  if (expiresAt <= now) throw new ImportInputError('the access token has already expired');
  if (type !== undefined && (typeof type !== 'string' || type.trim() === ''))
    throw new ImportInputError('token_type must be a non-empty string');
  const tokenType = typeof type === 'string' ? (type.toLowerCase() === 'bearer' ? 'Bearer' : type) : 'Bearer';
  return { refreshToken, accessToken: { value, tokenType, expiresAt } };
}

/** Options of {@link importTokens}. */
export interface ImportOptions {
  /** The provider's name in config. */
  readonly provider: string;
  readonly store: SecretStore;
  readonly tokens: ImportedTokens;
  /** This runner, as leases name runners: only a lease of another holder blocks the import. */
  readonly holder: string;
  readonly now: () => number;
  /** Bound to the provider. */
  readonly logger: Logger;
  readonly writeRetry?: WriteRetryOptions | undefined;
}

/** What an import wrote. */
export interface ImportResult {
  /** The state record's generation after the import (raised by one when an access token was imported). */
  readonly generation: number;
  /** True when the imported access token was published as the provider's public record. */
  readonly published: boolean;
}

/** Rounds against concurrent writers of the state record before giving up. */
const IMPORT_ATTEMPTS = 5;

/**
 * The state record after importing `tokens` into `state`: the refresh token replaced (its
 * expiry unknown), failures and back-off cleared, any expired lease dropped; with an
 * access token, a new generation holding it. Pure.
 */
export function importedState(state: StateRecord, tokens: ImportedTokens, now: number): StateRecord {
  const { lease: _lease, refresh_expires_at: _expiry, refresh_token: _old, ...kept } = state;
  const access = tokens.accessToken;
  return {
    ...kept,
    refresh_token: tokens.refreshToken,
    failures: { consecutive: 0 },
    ...(access === undefined
      ? {}
      : {
          generation: state.generation + 1,
          token: {
            access_token: access.value,
            token_type: access.tokenType,
            issued_at: iso(now),
            expires_at: iso(access.expiresAt),
          },
        }),
  };
}

/**
 * Writes imported tokens into the provider's state record by compare-and-set, then
 * publishes the imported access token, if any.
 * @throws {RotatorError} `LEASE_BUSY` while another runner holds a live lease (nothing is written).
 * @throws {StoreError} when the store fails, the state record has another layout, or
 *   concurrent writers kept winning.
 */
export async function importTokens(options: ImportOptions): Promise<ImportResult> {
  const { provider, store, tokens, logger } = options;
  const path = recordPaths.state(provider);
  for (let attempt = 1; ; attempt++) {
    const read = await readState(store, provider);
    const state = read.record ?? emptyState(provider);
    const t = options.now();
    const lease = state.lease;
    if (lease !== undefined && Date.parse(lease.expires_at) > t && lease.holder !== options.holder) {
      throw new RotatorError(
        ErrorCodes.LEASE_BUSY,
        `another runner (${lease.holder}) holds the lease of ${provider} until ${lease.expires_at}; nothing was imported, try again once it is released`,
      );
    }
    const next = importedState(state, tokens, t);
    try {
      await store.write(path, JSON.parse(JSON.stringify(next)) as Record<string, unknown>, read.version);
    } catch (error) {
      if (error instanceof ConflictError && attempt < IMPORT_ATTEMPTS) continue;
      throw error;
    }
    logger.info(
      {
        refresh_token_fp: fingerprint(tokens.refreshToken),
        ...(tokens.accessToken ? { access_token_fp: fingerprint(tokens.accessToken.value) } : {}),
        generation: next.generation,
      },
      'imported refresh token',
    );
    const published =
      tokens.accessToken === undefined
        ? false
        : await publishBehind(next, { provider, store, logger, writeRetry: options.writeRetry });
    return { generation: next.generation, published };
  }
}
