/**
 * The dead-man signal. Every pass, whatever runs it (`token-rotator run`, the daemon, the
 * Lambda), records when it finished in one small store record, `runner/heartbeat`.
 * `token-rotator status` and the daemon's `/readyz` fail when no pass has finished within
 * twice the schedule's longest gap, so a scheduler that silently stopped (a suspended
 * CronJob, a disabled EventBridge rule, a wedged daemon) is caught before tokens expire.
 *
 * The heartbeat is exactly one compare-and-set write per pass (the AWS store keeps a
 * version budget) and never fails a pass: a conflict is retried a couple of times, then
 * given up; a store error is logged.
 *
 * @see https://en.wikipedia.org/wiki/Dead_man%27s_switch
 */
import { z } from 'zod';
import { ConflictError, describeError } from '../errors.js';
import type { SecretStore } from '../stores/contract.js';
import type { Logger } from './logger.js';

/** Record path of the heartbeat, beside `tokens/` and `state/`. */
export const HEARTBEAT_PATH = 'runner/heartbeat';

/** The heartbeat record: when the last pass finished, whether it was ok, who ran it and how long it took. */
export const heartbeatSchema = z.object({
  last_pass_at: z.iso.datetime({ offset: true }),
  last_pass_ok: z.boolean(),
  /** The runner's lease holder id (`host:pid:random`). */
  holder: z.string(),
  duration_ms: z.number().int().nonnegative(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** A heartbeat as read: `invalid` when a record exists but does not have the layout. */
export interface HeartbeatRead {
  readonly heartbeat: Heartbeat | undefined;
  readonly version: string | null;
  readonly invalid: boolean;
}

/** Reads the heartbeat; a record of another layout reads as absent (it is overwritten by the next pass). */
export async function readHeartbeat(store: SecretStore): Promise<HeartbeatRead> {
  const stored = await store.read(HEARTBEAT_PATH);
  if (stored === undefined) return { heartbeat: undefined, version: null, invalid: false };
  const parsed = heartbeatSchema.safeParse(stored.value);
  return parsed.success
    ? { heartbeat: parsed.data, version: stored.version, invalid: false }
    : { heartbeat: undefined, version: stored.version, invalid: true };
}

/**
 * Writes `heartbeat` by compare-and-set, unless the record already holds a later pass
 * (another runner's). Retries a conflict up to `attempts` times in all, then gives up.
 * Never throws: returns true when it wrote.
 */
export async function recordHeartbeat(store: SecretStore, heartbeat: Heartbeat, logger: Logger, attempts = 3): Promise<boolean> {
  try {
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const current = await readHeartbeat(store);
      if (current.heartbeat !== undefined && Date.parse(current.heartbeat.last_pass_at) > Date.parse(heartbeat.last_pass_at)) return false;
      try {
        await store.write(HEARTBEAT_PATH, { ...heartbeat }, current.version);
        return true;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
      }
    }
    logger.debug({ path: HEARTBEAT_PATH }, 'heartbeat not recorded: other runners kept writing it');
    return false;
  } catch (error) {
    logger.warn({ err: { message: describeError(error), code: (error as { code?: string }).code } }, 'could not record the heartbeat');
    return false;
  }
}

/** How old the last pass may be before the dead-man signal fires: twice the schedule's longest gap. */
export function maxPassAgeSeconds(gapSeconds: number): number {
  return 2 * gapSeconds;
}

/**
 * The dead-man verdict: a sentence saying what is wrong, or `undefined` when a pass
 * finished within twice the schedule gap of `nowMs`.
 *
 * @example
 * lastPassProblem(undefined, 300, Date.now()); // 'no pass has been recorded: …'
 */
export function lastPassProblem(lastPassAtMs: number | undefined, gapSeconds: number, nowMs: number): string | undefined {
  const limit = maxPassAgeSeconds(gapSeconds);
  if (lastPassAtMs === undefined) {
    return `no pass has been recorded: no runner (run, daemon or Lambda) has finished a pass against this store`;
  }
  const age = Math.round((nowMs - lastPassAtMs) / 1000);
  if (age <= limit) return undefined;
  return `the last pass finished ${age} s ago, more than ${limit} s (twice the schedule gap of ${gapSeconds} s): is the scheduler running?`;
}

/**
 * One line for `token-rotator status`: when the last pass finished, how it went, how
 * long it took and which runner ran it.
 *
 * @example
 * describeLastPass(heartbeat, Date.now()); // 'last pass: 2026-03-01T00:00:00.000Z (12 s ago), ok, 340 ms, by host:4711:9f3a'
 */
export function describeLastPass(heartbeat: Heartbeat | undefined, nowMs: number): string {
  if (heartbeat === undefined) return 'last pass: none recorded';
  const age = Math.round((nowMs - Date.parse(heartbeat.last_pass_at)) / 1000);
  return `last pass: ${heartbeat.last_pass_at} (${age} s ago), ${heartbeat.last_pass_ok ? 'ok' : 'a provider failed'}, ${heartbeat.duration_ms} ms, by ${heartbeat.holder}`;
}
