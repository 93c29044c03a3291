/**
 * Full checks, for the runners that outlive a pass: the daemon, and a Lambda execution
 * environment kept warm between invocations. Their passes read only the providers that
 * may be due by what the runner last read of them (`PassOptions.onlyPossiblyDue`); every
 * {@link FULL_CHECK_EVERY_MS} one pass reads them all. `token-rotator run` starts afresh
 * each time and always reads every provider.
 */

/**
 * How often a pass reads every selected provider, fresh or not: 10 minutes. Between full
 * checks a pass reads only the providers that may be due by what the runner last read
 * (their token's renewal point, or anything but `fresh`), so an idle pass costs next to
 * nothing whatever the number of providers (issue 13). A full check is what finds a record
 * changed behind the runner's back: a public record deleted or damaged (then republished),
 * a state record deleted (a new token obtained), a lease taken by another runner. Another
 * runner's rotation needs no full check: it only moves the renewal point later. Ten minutes
 * bounds how long such a change goes unseen to about two passes of the default five-minute
 * schedule, while a schedule of seconds (or a minute) reads fresh providers once in many
 * passes.
 */
export const FULL_CHECK_EVERY_MS = 10 * 60 * 1000;

/**
 * The environment variable that sets how often, in seconds, a pass reads every provider
 * (default 600; 0: every pass), for operators who want a record changed or a credential
 * file removed behind the runner's back noticed sooner, at the cost of idle passes.
 */
export const FULL_CHECK_ENV = 'TOKEN_ROTATOR_FULL_CHECK_SECONDS';

/** What {@link FULL_CHECK_ENV} must hold, as error messages say it after its name. */
export const FULL_CHECK_RULE = 'must be a whole number of seconds (0: every pass)';

/**
 * {@link FULL_CHECK_ENV} in ms, or `undefined` when it is unset or empty (a deployment
 * template may leave it empty).
 * @throws {RangeError} when it is not a whole number of seconds; the message names the variable.
 */
export function fullCheckEveryMs(env: NodeJS.ProcessEnv): number | undefined {
  const value = env[FULL_CHECK_ENV];
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value)) throw new RangeError(`${FULL_CHECK_ENV} ${FULL_CHECK_RULE}`);
  return Number(value) * 1000;
}

/**
 * When the next pass must read every provider: the first pass, then the first to start
 * {@link FullChecks.everyMs} or more after the last full pass that ran started.
 */
export class FullChecks {
  /** When the last full pass that ran started; until one has, every pass is full. */
  #last: number | undefined;

  constructor(readonly everyMs: number = FULL_CHECK_EVERY_MS) {}

  /** Whether a pass starting at `startedAt` (epoch ms) must read every provider. */
  due(startedAt: number): boolean {
    return this.#last === undefined || startedAt - this.#last >= this.everyMs;
  }

  /** Records that a full pass started at `startedAt` ran; one that threw is not recorded. */
  ran(startedAt: number): void {
    this.#last = startedAt;
  }
}
