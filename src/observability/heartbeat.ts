/**
 * The dead-man verdict: pure functions over the heartbeat record that every pass writes
 * (`engine/heartbeat.ts` reads and records it; its layout is in `engine/records.ts`).
 * `token-rotator status` and the daemon's `/readyz` fail when no pass has finished within
 * twice the schedule's longest gap, so a scheduler that silently stopped (a suspended
 * CronJob, a disabled EventBridge rule, a wedged daemon) is caught before tokens expire.
 *
 * @see https://en.wikipedia.org/wiki/Dead_man%27s_switch
 */
import type { Heartbeat } from '../engine/records.js';

/** Re-exported for code that judged and located the heartbeat here before the layout moved to the records module. */
export { HEARTBEAT_PATH, type Heartbeat } from '../engine/records.js';

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
export function lastPassProblem(
  lastPassAtMs: number | undefined,
  gapSeconds: number,
  nowMs: number,
): string | undefined {
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
