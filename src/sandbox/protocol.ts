/**
 * The shapes every token protocol module shares: one request in, one reply out, and the
 * state a grant reads and changes.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { MediaType } from './body.js';
import type { TokenLedger } from './tokens.js';
import type { SandboxClient, SandboxStats, SandboxTarget } from './types.js';

/** An HTTP answer, fully built before it is written (so a fault can delay or drop it). */
export interface Reply {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** A JSON reply. */
export function jsonReply(status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): Reply {
  return { status, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(value) };
}

/** One request to a token endpoint, its body already read within the size cap. */
export interface Exchange {
  readonly target: SandboxTarget;
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly media: MediaType | undefined;
  readonly body: Buffer;
}

/** Facts about a grant worth recording; never secret values. */
export interface GrantNotes {
  clientAuth?: 'body' | 'basic';
  scope?: string;
  audience?: string;
}

/** What a protocol module answers, and what it noted on the way. */
export interface Outcome {
  readonly reply: Reply;
  readonly notes: GrantNotes;
}

/** Lifetimes in seconds, defaults applied. */
export interface ResolvedLifetime {
  readonly accessSeconds: number;
  readonly refreshSeconds: number;
}

/** The counters a grant may bump. `rejected` and `faultsInjected` are the server's. */
export type GrantCounter = keyof Pick<SandboxStats, 'issued' | 'obtained' | 'refreshed' | 'reuseDetected'>;

/** The sandbox state a protocol module works with. */
export interface Environment {
  readonly ledger: TokenLedger;
  readonly now: () => number;
  /** The client registered for `target` under `clientId`. */
  client(target: SandboxTarget, clientId: string): SandboxClient | undefined;
  lifetime(target: SandboxTarget): ResolvedLifetime;
  count(target: SandboxTarget, counter: GrantCounter): void;
}

/** The variants of a `malformed` fault. */
export type MalformedVariant = 'not_json' | 'missing_access_token' | 'wrong_types';

/** One vendor protocol: its grants and the shape of its failures. */
export interface Protocol {
  /** Performs the grant the request asks for and builds the answer. */
  handle(exchange: Exchange, env: Environment): Promise<Outcome>;
  /** A failure in this protocol's error format (405, 413, 429, an injected 5xx). */
  error(status: number, message: string): Reply;
  /** A 200 whose body a careful client must refuse. */
  malformed(variant: MalformedVariant, target: SandboxTarget, env: Environment): Reply;
  /** A 200 that carries an error. */
  errorIn200(): Reply;
}

/** Constant-time comparison of two secrets, as a real server would do it. */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b) && given === expected;
}

/**
 * The RFC 6749 §5.2 error code that fits an HTTP status the sandbox answers outside a
 * grant (wrong method, body too large, an injected failure).
 */
export function oauthErrorCode(status: number): string {
  if (status === 401) return 'invalid_client';
  if (status === 429) return 'temporarily_unavailable';
  if (status >= 500) return status === 503 ? 'temporarily_unavailable' : 'server_error';
  return 'invalid_request';
}

/** Headers RFC 6749 §5.1 requires on a token response. */
export const NO_STORE: Readonly<Record<string, string>> = { 'cache-control': 'no-store', pragma: 'no-cache' };
