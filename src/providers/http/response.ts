/**
 * Reading a token endpoint's answer for the `http` kind: JSON pointers (RFC 6901), the
 * success condition, the mapping to a {@link TokenSet} and the classification of a
 * refusal. A malformed answer is a permanent {@link ProviderError}, never a token.
 * @see https://www.rfc-editor.org/rfc/rfc6901
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.1 (the default mapping)
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-5.2 (the default error codes)
 */
import { type FailureClass, ProviderError } from '../../errors.js';
import type { TokenSet } from '../contract.js';

/** A JSON pointer as config writes it: `""` (the whole document) or `/a/b/0`, with `~0` and `~1` escapes. */
export const JSON_POINTER = /^(\/([^~/]|~[01])*)*$/;

/** Whether `pointer` is a well-formed JSON pointer (RFC 6901 §3). */
export function isJsonPointer(pointer: string): boolean {
  return JSON_POINTER.test(pointer);
}

/**
 * The value `pointer` designates in `document`, or `undefined` when there is none. An
 * array is indexed by a decimal index without leading zeros (RFC 6901 §4); `-` and any
 * other token designate nothing.
 * @throws {TypeError} when `pointer` is not a JSON pointer.
 */
export function resolvePointer(document: unknown, pointer: string): unknown {
  if (!isJsonPointer(pointer)) throw new TypeError('not a JSON pointer (RFC 6901): "" or /a/b');
  if (pointer === '') return document;
  let current: unknown = document;
  for (const raw of pointer.slice(1).split('/')) {
    const token = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(current)) {
      if (!/^(0|[1-9]\d*)$/.test(token)) return undefined;
      current = current[Number(token)];
    } else if (current !== null && typeof current === 'object') {
      current = Object.hasOwn(current, token) ? (current as Record<string, unknown>)[token] : undefined;
    } else {
      return undefined;
    }
    if (current === undefined) return undefined;
  }
  return current;
}

/** When an answer is a success. */
export interface SuccessCondition {
  /** HTTP statuses that may carry a token (default `[200]`). */
  readonly status: readonly number[];
  /** For a wrapped answer: the member that says whether it succeeded. */
  readonly pointer?: string | undefined;
  /** The member must be exactly this (a string, number or boolean). */
  readonly equals?: string | number | boolean | undefined;
  /** The member must be a string that starts with this. */
  readonly startsWith?: string | undefined;
}

/** Whether an answer meets the success condition. */
export function isSuccess(status: number, body: unknown, condition: SuccessCondition): boolean {
  if (!condition.status.includes(status)) return false;
  if (condition.pointer === undefined) return true;
  const value = resolvePointer(body, condition.pointer);
  if (condition.equals !== undefined && value !== condition.equals) return false;
  if (condition.startsWith !== undefined && !(typeof value === 'string' && value.startsWith(condition.startsWith)))
    return false;
  return true;
}

/** Where a token's parts are in a successful answer. */
export interface ResponseMapping {
  readonly accessToken: string;
  readonly tokenType: string;
  /** Exactly one of `expiresIn` and `expiresAt`. */
  readonly expiresIn?: string | undefined;
  /** An absolute expiry: Unix seconds or an ISO 8601 date. */
  readonly expiresAt?: string | undefined;
  readonly refreshToken: string;
  readonly refreshExpiresIn: string;
}

/** The RFC 6749 §5.1 members, the default mapping. */
export const RFC6749_MAPPING: ResponseMapping = {
  accessToken: '/access_token',
  tokenType: '/token_type',
  expiresIn: '/expires_in',
  refreshToken: '/refresh_token',
  refreshExpiresIn: '/refresh_expires_in',
};

/** Lifetimes used when the answer does not give them. */
export interface MappingDefaults {
  /** The access token's lifetime when the answer has no `expires_in` (or `expires_at`). */
  readonly lifetimeSeconds: number;
  /** The refresh token's lifetime when the answer does not say. */
  readonly refreshLifetimeSeconds?: number | undefined;
  /** Whether refresh tokens are kept: only when the profile can use them. */
  readonly keepRefreshToken: boolean;
}

function malformed(status: number, what: string): ProviderError {
  return new ProviderError('permanent', `malformed token response (HTTP ${status}): ${what}`, {
    status,
    reason: 'malformed_response',
  });
}

/** Seconds until an `expires_at` value (Unix seconds or an ISO 8601 date), or `undefined` when it is neither. */
function secondsUntil(value: unknown, now: Date): number | undefined {
  const at =
    typeof value === 'number'
      ? value * 1000
      : typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value)
        ? Date.parse(value)
        : Number.NaN;
  if (!Number.isFinite(at)) return undefined;
  return Math.floor((at - now.getTime()) / 1000);
}

/**
 * Maps a successful answer to a token. No token (`access_token` absent, not a string or
 * empty), a lifetime that is not a positive number, or a `token_type` or `refresh_token`
 * that is not a string makes the answer malformed. Messages name the pointer, never a value.
 * @throws {ProviderError} permanent, reason `malformed_response`.
 */
export function mapToken(
  status: number,
  body: unknown,
  mapping: ResponseMapping,
  defaults: MappingDefaults,
  now: Date,
): TokenSet {
  const accessToken = resolvePointer(body, mapping.accessToken);
  if (typeof accessToken !== 'string' || accessToken === '')
    throw malformed(status, `no access token at ${mapping.accessToken || '(the whole answer)'}`);

  const tokenType = resolvePointer(body, mapping.tokenType);
  if (tokenType !== undefined && (typeof tokenType !== 'string' || tokenType === ''))
    throw malformed(status, `${mapping.tokenType} is not a token type`);

  let expiresIn = defaults.lifetimeSeconds;
  if (mapping.expiresAt !== undefined) {
    const value = resolvePointer(body, mapping.expiresAt);
    if (value !== undefined) {
      const seconds = secondsUntil(value, now);
      if (seconds === undefined)
        throw malformed(status, `${mapping.expiresAt} is neither Unix seconds nor an ISO date`);
      if (seconds <= 0) throw malformed(status, `${mapping.expiresAt} is not in the future`);
      expiresIn = seconds;
    }
  } else if (mapping.expiresIn !== undefined) {
    const value = resolvePointer(body, mapping.expiresIn);
    if (value !== undefined) {
      if (typeof value !== 'number' || !Number.isFinite(value) || !(value >= 1))
        throw malformed(status, `${mapping.expiresIn} is not a positive number of seconds`);
      expiresIn = Math.floor(value);
    }
  }

  const token: { -readonly [K in keyof TokenSet]: TokenSet[K] } = {
    accessToken,
    tokenType: tokenType === undefined || tokenType.toLowerCase() === 'bearer' ? 'Bearer' : tokenType,
    expiresIn,
  };
  if (!defaults.keepRefreshToken) return token;

  const refreshToken = resolvePointer(body, mapping.refreshToken);
  if (refreshToken === undefined || refreshToken === '') return token;
  if (typeof refreshToken !== 'string') throw malformed(status, `${mapping.refreshToken} is not a string`);
  token.refreshToken = refreshToken;
  const refreshExpiresIn = resolvePointer(body, mapping.refreshExpiresIn);
  if (refreshExpiresIn !== undefined) {
    if (typeof refreshExpiresIn !== 'number' || !Number.isFinite(refreshExpiresIn) || !(refreshExpiresIn >= 1))
      throw malformed(status, `${mapping.refreshExpiresIn} is not a positive number of seconds`);
    token.refreshExpiresIn = Math.floor(refreshExpiresIn);
  } else if (defaults.refreshLifetimeSeconds !== undefined) {
    token.refreshExpiresIn = defaults.refreshLifetimeSeconds;
  }
  return token;
}

/** How a refusal is classified, by the error code the answer carries. */
export interface ErrorClassification {
  /** Where the error code is (RFC 6749: `/error`). */
  readonly pointer: string;
  /** Codes that mean "try later". */
  readonly retryable: readonly string[];
  /** Codes that mean, on a refresh, "the refresh token is dead: re-authenticate". */
  readonly reauthenticate: readonly string[];
}

/** RFC 6749 §5.2 and §4.1.2.1, as the `oauth2` kind reads them. */
export const RFC6749_ERRORS: ErrorClassification = {
  pointer: '/error',
  retryable: ['temporarily_unavailable', 'server_error', 'slow_down'],
  reauthenticate: ['invalid_grant'],
};

/** An error code that is safe to repeat in a message: a short token, never free text. */
const CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

/**
 * The error for an answer that is not a success. The code at `classification.pointer`
 * (a string or a number) chooses the class: a retryable code is retryable; a
 * re-authenticate code is `reauthenticate` on a refresh and permanent otherwise (the
 * credentials themselves were refused); anything else, or no code, is permanent.
 * Transport failures, 5xx and 429 never get here: the shared transport classified them.
 * The message carries the status and the code when it looks like one, never free text
 * from the answer, which might echo what was sent.
 */
export function classifyRefusal(
  status: number,
  body: unknown,
  classification: ErrorClassification,
  call: 'obtain' | 'refresh',
): ProviderError {
  const raw = body === undefined ? undefined : resolvePointer(body, classification.pointer);
  const code = typeof raw === 'number' ? String(raw) : typeof raw === 'string' ? raw : undefined;
  const safe = code !== undefined && CODE.test(code) ? code : undefined;
  const failureClass: FailureClass =
    safe !== undefined && classification.retryable.includes(safe)
      ? 'retryable'
      : safe !== undefined && call === 'refresh' && classification.reauthenticate.includes(safe)
        ? 'reauthenticate'
        : 'permanent';
  const what = call === 'refresh' ? 'the refresh request' : 'the token request';
  const described = safe === undefined ? (code === undefined ? 'no error code' : 'an unreadable error code') : safe;
  return new ProviderError(failureClass, `token endpoint refused ${what}: HTTP ${status}, ${described}`, {
    status,
    ...(safe === undefined ? {} : { reason: safe }),
  });
}
