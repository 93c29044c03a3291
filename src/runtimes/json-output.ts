/**
 * What `token-rotator run --json`, `status --json` and `validate --json` print (and what the
 * Lambda returns for a pass): one object each, with a
 * `schema` version, snake_case keys (as the records, the config and the log lines have)
 * and problems in the error shape every output shares, `{class, code, message}`. These
 * layouts are a public interface, documented in the README: scripts and monitoring parse
 * them. A new key may be added within a schema version; renaming or removing one bumps it.
 *
 * Nothing here holds a token: a row says when a token expires, never what it is, and a
 * problem's message is an error's message, which never quotes a secret (see `errors.ts`).
 */

import { outcomeError } from '../engine/outcome.js';
import { type PassCounts, type PassSummary, passCounts } from '../engine/pass.js';
import type { Heartbeat } from '../engine/records.js';
import type { Outcome, OutcomeStatus } from '../engine/rotate.js';
import { ConfigError, describeError, type ErrorCode, ErrorCodes, RotatorError } from '../errors.js';
import { lastPassProblem } from '../observability/heartbeat.js';
import type { ProviderStatus } from '../rotator.js';

/** The version of the JSON outputs' layouts; bumped when a key is renamed or removed. */
export const OUTPUT_SCHEMA = 1;

/**
 * What a problem is about: `config` (the config file or a reference is wrong), `store` (the
 * store could not be reached or misbehaved), `token` (a provider has no valid token),
 * `scheduler` (no pass was recorded recently: is the scheduler running?).
 */
export type ProblemClass = 'config' | 'store' | 'token' | 'scheduler';

/** A problem, in the error shape every JSON output and log line shares. */
export interface Problem {
  readonly class: ProblemClass;
  readonly code: ErrorCode;
  readonly message: string;
}

/** A `validate` problem: a {@link Problem} and the config field it is about (`""`: the file as a whole). */
export interface ValidateProblem extends Problem {
  readonly path: string;
}

/** The last failed rotation of a provider, as its state record keeps it. */
export interface FailureOutput {
  readonly class: string;
  readonly code: string;
  readonly message: string;
}

/** One provider row of `status --json`: every key present, `null` when there is nothing to say. */
export interface ProviderStatusOutput {
  readonly provider: string;
  readonly kind: string;
  readonly expires_at: string | null;
  /** Negative once the token has expired; `null` when there is no token. */
  readonly seconds_to_expiry: number | null;
  readonly generation: number | null;
  /** The generation of the public record, the one consumers read. */
  readonly published: number | null;
  readonly last_method: string | null;
  readonly last_success_at: string | null;
  /** The last failure, while the provider has not rotated successfully since. */
  readonly last_error: FailureOutput | null;
  readonly next_attempt_at: string | null;
  readonly lease_holder: string | null;
  readonly has_refresh_token: boolean;
}

/** The last pass any runner recorded on the store (the heartbeat record `runner/heartbeat`). */
export interface LastPassOutput {
  readonly finished_at: string;
  /** How long ago it finished, at the time of the status. */
  readonly age_seconds: number;
  /** Whether every provider was left fresh or rotated. */
  readonly ok: boolean;
  readonly duration_ms: number;
  /** The runner that ran it (`host:pid:random`). */
  readonly holder: string;
}

/** What `token-rotator status --json` prints. */
export interface StatusOutput {
  readonly schema: typeof OUTPUT_SCHEMA;
  readonly providers: readonly ProviderStatusOutput[];
  /** `null` when no pass was ever recorded on this store. */
  readonly last_pass: LastPassOutput | null;
  /** Why `status` exits 1; empty when it exits 0. */
  readonly problems: readonly Problem[];
  readonly ok: boolean;
}

/** What `token-rotator validate --json` prints for a valid config. */
export interface ValidOutput {
  readonly schema: typeof OUTPUT_SCHEMA;
  readonly valid: true;
  /** The config file's path, as given. */
  readonly config: string;
  /** How many providers it configures. */
  readonly providers: number;
  /** The store's kind (`file`, `vault`, `aws`, …). */
  readonly store: string;
  /** The longest gap between two scheduled passes, in seconds. */
  readonly gap_seconds: number;
}

/** What `token-rotator validate --json` prints when the config or the store fails. */
export interface InvalidOutput {
  readonly schema: typeof OUTPUT_SCHEMA;
  readonly valid: false;
  readonly problems: readonly ValidateProblem[];
}

/** One provider's outcome in {@link PassOutput}: every key present, `null` when there is nothing to say. */
export interface OutcomeOutput {
  readonly provider: string;
  /** `fresh`, `rotated`, `repaired`, `would-rotate`, `busy`, `backoff`, `paced` or `failed`. */
  readonly status: OutcomeStatus;
  /** True when the provider is left with a valid token and nothing failed. */
  readonly ok: boolean;
  /** `obtain` or `refresh`: how the stored token was got. */
  readonly method: string | null;
  /** Why it was rotated: `missing`, `due`, `forced` or `abandoned-refresh`. */
  readonly reason: string | null;
  readonly expires_at: string | null;
  readonly generation: number | null;
  readonly error: FailureOutput | null;
  readonly duration_ms: number;
}

/** What `token-rotator run --json` prints and the Lambda returns: one pass. */
export interface PassOutput {
  readonly schema: typeof OUTPUT_SCHEMA;
  readonly started_at: string;
  readonly duration_ms: number;
  /** True when every provider was left with a valid token and none failed (`run` exits 0). */
  readonly ok: boolean;
  readonly counts: PassCounts;
  readonly outcomes: readonly OutcomeOutput[];
}

/** An outcome with snake_case keys and every key present. */
export function outcomeOutput(outcome: Outcome): OutcomeOutput {
  return {
    provider: outcome.provider,
    status: outcome.status,
    ok: outcome.ok,
    method: outcome.method ?? null,
    reason: outcome.reason ?? null,
    expires_at: outcome.expiresAt ?? null,
    generation: outcome.generation ?? null,
    error: outcome.error
      ? { class: outcome.error.class, code: outcome.error.code, message: outcome.error.message }
      : null,
    duration_ms: outcome.durationMs,
  };
}

/**
 * The object `run --json` prints and the Lambda returns for a pass.
 * @example passOutput(await rotator.pass()) // { schema: 1, started_at: '…', duration_ms: 812, ok: true, counts: {…}, outcomes: [...] }
 */
export function passOutput(summary: PassSummary): PassOutput {
  return {
    schema: OUTPUT_SCHEMA,
    started_at: summary.startedAt,
    duration_ms: summary.durationMs,
    ok: summary.ok,
    counts: passCounts(summary),
    outcomes: summary.outcomes.map(outcomeOutput),
  };
}

/** A status row with snake_case keys and every key present. */
export function providerStatusOutput(row: ProviderStatus): ProviderStatusOutput {
  return {
    provider: row.provider,
    kind: row.kind,
    expires_at: row.expiresAt ?? null,
    seconds_to_expiry: row.secondsToExpiry ?? null,
    generation: row.generation ?? null,
    published: row.published ?? null,
    last_method: row.lastMethod ?? null,
    last_success_at: row.lastSuccessAt ?? null,
    last_error: row.lastFailure
      ? { class: row.lastFailure.class, code: row.lastFailure.code, message: row.lastFailure.message }
      : null,
    next_attempt_at: row.nextAttemptAt ?? null,
    lease_holder: row.leaseHolder ?? null,
    has_refresh_token: row.hasRefreshToken,
  };
}

/**
 * The problems that make `status` exit 1: each provider without a valid token (none, or
 * past expiry) and, when no pass finished within twice the schedule gap, the dead-man
 * signal. The CLI prints each message on stderr too.
 */
export function statusProblems(
  rows: readonly ProviderStatus[],
  heartbeat: Heartbeat | undefined,
  gapSeconds: number,
  nowMs: number,
): Problem[] {
  const problems: Problem[] = rows
    .filter((row) => (row.secondsToExpiry ?? 0) <= 0)
    .map((row) => ({
      class: 'token',
      code: ErrorCodes.TOKEN_UNAVAILABLE,
      message: `provider ${row.provider} has no valid token`,
    }));
  const overdue = lastPassProblem(heartbeat && Date.parse(heartbeat.last_pass_at), gapSeconds, nowMs);
  if (overdue !== undefined) problems.push({ class: 'scheduler', code: ErrorCodes.PASS_OVERDUE, message: overdue });
  return problems;
}

/**
 * The object `status --json` prints.
 * @example
 * statusOutput(await rotator.status(), await rotator.heartbeat(), rotator.gapSeconds, Date.now());
 * // { schema: 1, providers: [...], last_pass: {...}, problems: [], ok: true }
 */
export function statusOutput(
  rows: readonly ProviderStatus[],
  heartbeat: Heartbeat | undefined,
  gapSeconds: number,
  nowMs: number,
): StatusOutput {
  const problems = statusProblems(rows, heartbeat, gapSeconds, nowMs);
  return {
    schema: OUTPUT_SCHEMA,
    providers: rows.map(providerStatusOutput),
    last_pass:
      heartbeat === undefined
        ? null
        : {
            finished_at: heartbeat.last_pass_at,
            age_seconds: Math.round((nowMs - Date.parse(heartbeat.last_pass_at)) / 1000),
            ok: heartbeat.last_pass_ok,
            duration_ms: heartbeat.duration_ms,
            holder: heartbeat.holder,
          },
    problems,
    ok: problems.length === 0,
  };
}

/** The object `validate --json` prints for a valid config. */
export function validOutput(facts: {
  readonly config: string;
  readonly providers: number;
  readonly store: string;
  readonly gapSeconds: number;
}): ValidOutput {
  return {
    schema: OUTPUT_SCHEMA,
    valid: true,
    config: facts.config,
    providers: facts.providers,
    store: facts.store,
    gap_seconds: facts.gapSeconds,
  };
}

/**
 * The object `validate --json` prints for what `validate` threw: one problem per field of
 * a ConfigError (class `config`, exit 2), else one for the store (class `store`, path
 * `store`, exit 1), the error's own code kept when it has one.
 */
export function invalidOutput(error: unknown): InvalidOutput {
  const problems: ValidateProblem[] =
    error instanceof ConfigError
      ? error.issues.map((issue) => ({ class: 'config', code: error.code, message: issue.message, path: issue.path }))
      : [
          {
            class: 'store',
            code: error instanceof RotatorError ? error.code : ErrorCodes.STORE_UNAVAILABLE,
            message: describeError(error),
            path: 'store',
          },
        ];
  return { schema: OUTPUT_SCHEMA, valid: false, problems };
}

/**
 * Any error in the shape outputs and log lines share (`err` in a log line): a config
 * error is class `config`; anything else is classified as a rotation's failure is
 * (provider classes, `lease`, else `store`). The message never quotes a secret.
 */
export function errorOutput(error: unknown): FailureOutput {
  if (error instanceof ConfigError) return { class: 'config', code: error.code, message: describeError(error) };
  const { class: errorClass, code, message } = outcomeError(error);
  return { class: errorClass, code, message };
}

/** Pretty-printed JSON and a newline, as the CLI writes every JSON output. */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
