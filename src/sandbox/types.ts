/**
 * The sandbox's public types: what a test or an operator passes in and reads back.
 * Kept apart from the server so every protocol module can share them without cycles.
 */

/** The token endpoints the sandbox speaks, one token space each. */
export const SANDBOX_TARGETS = ['keliweb-api-v2', 'keliweb-fatture', 'klikoo', 'oauth2'] as const;

/** One of {@link SANDBOX_TARGETS}. */
export type SandboxTarget = (typeof SANDBOX_TARGETS)[number];

/** Whether `value` names a {@link SandboxTarget}. */
export function isSandboxTarget(value: unknown): value is SandboxTarget {
  return typeof value === 'string' && (SANDBOX_TARGETS as readonly string[]).includes(value);
}

/** A client registered with the sandbox: one per target it may call. */
export interface SandboxClient {
  target: SandboxTarget;
  clientId: string;
  clientSecret: string;
  /** Keliweb: required (the account e-mail). OAuth 2.0: enables the password grant. */
  username?: string;
  /** Goes with {@link SandboxClient.username}. */
  password?: string;
  /** Klikoo: the SPKI PEM public key the `Open-Api-Signature` is verified with. */
  publicKeyPem?: string;
  /** OAuth 2.0 only: answer every grant with a refresh token (default `false`). */
  issueRefreshToken?: boolean;
}

/** Lifetimes of the tokens of one target, in seconds. */
export interface SandboxLifetime {
  accessSeconds?: number;
  refreshSeconds?: number;
}

/** How to start a sandbox. */
export interface SandboxOptions {
  /** Port to listen on, always on 127.0.0.1; `0` (the default) picks a free one. */
  port?: number;
  clients: SandboxClient[];
  /**
   * Overrides the defaults: Keliweb 3600 s access / 864000 s (10 days) refresh, Klikoo
   * 900 s, OAuth 2.0 3600 s / 86400 s.
   */
  lifetimes?: Partial<Record<SandboxTarget, SandboxLifetime>>;
  /** Clock in milliseconds, `Date.now` by default; tests inject one to expire tokens. */
  now?: () => number;
}

/** Counters of one target, or of all summed. */
export interface SandboxStats {
  /** Successful token issuances (every grant that answered with a token). */
  issued: number;
  /** Successful password, client-credentials and Klikoo grants. */
  obtained: number;
  /** Successful refresh grants. */
  refreshed: number;
  /** Spent refresh tokens presented again (each revoked a whole token family). */
  reuseDetected: number;
  /** 4xx answers that were not injected faults. */
  rejected: number;
  /** Requests a fault was applied to. */
  faultsInjected: number;
}

/** Which requests a fault applies to and how many times. */
export interface FaultScope {
  /** Only requests to this target; any target when absent. */
  target?: SandboxTarget;
  /** How many matching requests the fault consumes (default 1). */
  count?: number;
}

/**
 * A failure to inject into the token endpoints. Faults apply in the order they were
 * injected; each consumes one matching request until its `count` is used up.
 *
 * - `latency`: wait `ms`; `phase: 'after'` performs the grant first (tokens issued or
 *   spent) and delays only the answer.
 * - `status`: answer `status` (400–599) with a small HTML or JSON body; no grant.
 * - `rate_limit`: 429 with `Retry-After: retryAfterSeconds`; no grant.
 * - `malformed`: 200 with a broken body; no grant.
 * - `error_in_200`: 200 carrying an error (Klikoo `401012000` without data, OAuth
 *   `{"error":"invalid_request"}`); no grant.
 * - `drop`: destroy the socket without an answer; `phase: 'after'` performs the grant
 *   first (a spent refresh token whose answer was lost).
 */
export type Fault = FaultScope &
  (
    | { type: 'latency'; ms: number; phase?: 'before' | 'after' }
    | { type: 'status'; status: number }
    | { type: 'rate_limit'; retryAfterSeconds: number }
    | { type: 'malformed'; variant: 'not_json' | 'missing_access_token' | 'wrong_types' }
    | { type: 'error_in_200' }
    | { type: 'drop'; phase?: 'before' | 'after' }
  );

/** The kind of a {@link Fault}. */
export type FaultType = Fault['type'];

/** One request the sandbox received. Holds no secret value: no body, no header values but the media type. */
export interface RecordedRequest {
  /** Milliseconds on the sandbox clock when the request was answered or dropped. */
  readonly at: number;
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The token endpoint's target; absent for control endpoints and unknown paths. */
  readonly target?: SandboxTarget;
  /** The media type of `Content-Type`, lower case, without parameters. */
  readonly contentType?: string;
  /** `grant_type` as sent, when the body could be read. */
  readonly grantType?: string;
  /** How the OAuth 2.0 client authenticated, when it did. */
  readonly clientAuth?: 'body' | 'basic';
  /** OAuth 2.0 `scope` as sent (not a secret). */
  readonly scope?: string;
  /** OAuth 2.0 `audience` as sent (not a secret). */
  readonly audience?: string;
  /** The fault applied to this request, if any. */
  readonly fault?: FaultType;
  /** The HTTP status answered; `null` when the connection was dropped. */
  readonly status: number | null;
}

/** What {@link Sandbox.introspect} and `POST /_sandbox/introspect` answer (RFC 7662 in spirit). */
export interface IntrospectionResult {
  readonly active: boolean;
  readonly target?: SandboxTarget;
  readonly token_kind?: 'access' | 'refresh';
  /** Expiry in Unix seconds. */
  readonly exp?: number;
  readonly client_id?: string;
  readonly scope?: string;
  readonly aud?: string;
}

/** A running sandbox. */
export interface Sandbox {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The base URL a provider of `target` is configured with. */
  baseUrl(target: SandboxTarget): string;
  /** The token endpoint of `target`. */
  tokenUrl(target: SandboxTarget): string;
  /** Whether `accessToken` is an access token issued here, not expired and not revoked. */
  isValid(accessToken: string): boolean;
  /** What the sandbox knows of any token it issued (access or refresh). */
  introspect(token: string): IntrospectionResult;
  /** Every access and refresh token issued so far, so tests can prove none leaked. */
  issuedTokens(): string[];
  /** Counters of `target`, or of all targets summed. */
  stats(target?: SandboxTarget): SandboxStats;
  /**
   * Queues a fault for the token endpoints.
   * @throws {TypeError} when the fault is not well formed.
   */
  injectFault(fault: Fault): void;
  /** Drops every queued fault. */
  clearFaults(): void;
  /** Every request received, in the order answered. */
  readonly requests: readonly RecordedRequest[];
  /** Closes the server and every open socket, keep-alive ones included. */
  close(): Promise<void>;
}
