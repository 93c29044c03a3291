/**
 * The errors token-rotator throws. One base, {@link RotatorError}, with a stable
 * `code` per subclass; every code is listed in {@link ErrorCodes} and documented in the
 * README. No error message or enumerable property ever holds a token or credential:
 * messages name fields and fingerprints, never values.
 */

/** Stable error codes, one per failure kind. */
export const ErrorCodes = {
  /** The configuration file is missing, unparsable or does not match the schema. */
  CONFIG_INVALID: 'CONFIG_INVALID',
  /**
   * A `${env:…}`, `${file:…}` or `${store:…}` reference is wrong: an unset variable, an
   * unreadable file, a key missing from a record the store returned. A store that could
   * not answer is `STORE_UNAVAILABLE` instead: an outage, not a config error.
   */
  CONFIG_REFERENCE: 'CONFIG_REFERENCE',
  /** A compare-and-set write lost: the record changed since it was read. */
  STORE_CONFLICT: 'STORE_CONFLICT',
  /** The store could not be reached or failed to read or write. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /**
   * The store's write budget for a record (AWS: versions of a secret per 24 hours) is spent:
   * the engine waits before writing it again.
   */
  STORE_BUDGET_SPENT: 'STORE_BUDGET_SPENT',
  /** A stored record does not have the expected layout. */
  STORE_RECORD_INVALID: 'STORE_RECORD_INVALID',
  /** A provider call failed in a way a later attempt may not (network, timeout, 5xx, 429). */
  PROVIDER_RETRYABLE: 'PROVIDER_RETRYABLE',
  /** A refresh was refused (`invalid_grant`): the refresh token is dead, re-authenticate. */
  PROVIDER_REAUTHENTICATE: 'PROVIDER_REAUTHENTICATE',
  /** A provider call failed in a way repeating it cannot fix (bad credentials, malformed body). */
  PROVIDER_PERMANENT: 'PROVIDER_PERMANENT',
  /** Another runner holds the provider's lease and did not release it in time. */
  LEASE_BUSY: 'LEASE_BUSY',
  /** The reader found no usable token for a provider. */
  TOKEN_UNAVAILABLE: 'TOKEN_UNAVAILABLE',
  /**
   * No pass was recorded on the store within twice the schedule gap, or none ever: the
   * dead-man signal of `token-rotator status` (is the scheduler running?).
   */
  PASS_OVERDUE: 'PASS_OVERDUE',
} as const;

/** One of {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Base of every error token-rotator throws. */
export class RotatorError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RotatorError';
    this.code = code;
  }
}

/** One problem found in a configuration, with the dotted path of the field. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/**
 * The configuration is unusable. `issues` names each field (`providers.klikoo.private_key:
 * required`); the CLI prints them and exits 2 before any store or provider is touched.
 */
export class ConfigError extends RotatorError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options?: { cause?: unknown; code?: ErrorCode }) {
    super(
      options?.code ?? ErrorCodes.CONFIG_INVALID,
      issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('\n'),
      options,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Options of a {@link StoreError}. */
export interface StoreErrorOptions {
  readonly cause?: unknown;
  readonly code?: ErrorCode;
  /**
   * Whether repeating the same call may succeed (a network error, a timeout, a 5xx, throttling):
   * true by default. Backends set it to false for what repeating cannot fix (permission denied,
   * a missing mount, an invalid path, a record too large), and the engine does not retry those.
   */
  readonly retryable?: boolean;
}

/** A store failed. `StoreError` itself means the store is unavailable or misbehaved. */
export class StoreError extends RotatorError {
  /** False when repeating the call cannot help; see {@link StoreErrorOptions.retryable}. */
  readonly retryable: boolean;

  constructor(message: string, options?: StoreErrorOptions) {
    super(options?.code ?? ErrorCodes.STORE_UNAVAILABLE, message, options);
    this.name = 'StoreError';
    this.retryable = options?.retryable ?? true;
  }
}

/** A compare-and-set write found another version than the one it expected. */
export class ConflictError extends StoreError {
  readonly path: string;

  constructor(path: string, options?: { cause?: unknown }) {
    super(`record ${path} changed since it was read (compare-and-set conflict)`, {
      ...options,
      code: ErrorCodes.STORE_CONFLICT,
      retryable: false,
    });
    this.name = 'ConflictError';
    this.path = path;
  }
}

/**
 * How a provider failure should be handled.
 * - `retryable`: the same call may succeed later (network error, timeout, 5xx, 429).
 * - `reauthenticate`: the refresh token is dead; obtain a new token with the credentials.
 * - `permanent`: repeating the call cannot help (wrong credentials, malformed response).
 */
export type FailureClass = 'retryable' | 'reauthenticate' | 'permanent';

const codeOfClass: Record<FailureClass, ErrorCode> = {
  retryable: ErrorCodes.PROVIDER_RETRYABLE,
  reauthenticate: ErrorCodes.PROVIDER_REAUTHENTICATE,
  permanent: ErrorCodes.PROVIDER_PERMANENT,
};

/** Details a provider error may carry; none of them is ever a secret. */
export interface ProviderErrorDetails {
  /** HTTP status, when the server answered. */
  readonly status?: number;
  /** The OAuth `error` code or the vendor's response code, when the server gave one. */
  readonly reason?: string;
  /** Milliseconds the server asked us to wait (`Retry-After`). */
  readonly retryAfterMs?: number;
  /**
   * True when the request may have reached the server without an answer reaching us
   * (timeout, dropped connection): a refresh token sent in it may already be spent.
   */
  readonly ambiguous?: boolean;
  readonly cause?: unknown;
}

/** A token endpoint call failed; `failureClass` says what to do about it. */
export class ProviderError extends RotatorError {
  readonly failureClass: FailureClass;
  readonly status: number | undefined;
  readonly reason: string | undefined;
  readonly retryAfterMs: number | undefined;
  readonly ambiguous: boolean;

  constructor(failureClass: FailureClass, message: string, details: ProviderErrorDetails = {}) {
    super(codeOfClass[failureClass], message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProviderError';
    this.failureClass = failureClass;
    this.status = details.status;
    this.reason = details.reason;
    this.retryAfterMs = details.retryAfterMs;
    this.ambiguous = details.ambiguous ?? false;
  }
}

/** The reader could not return a usable token. */
export class TokenUnavailableError extends RotatorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(ErrorCodes.TOKEN_UNAVAILABLE, message, options);
    this.name = 'TokenUnavailableError';
  }
}

/** Wraps anything thrown into a message safe to log: our own errors keep theirs. */
export function describeError(error: unknown): string {
  if (error instanceof RotatorError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
