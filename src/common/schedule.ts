/**
 * Facts about a cron schedule (node-cron syntax, optional seconds field) that the engine's
 * policy and a store's sizing both need: the longest gap between two runs, and the runs in
 * a day. Computed by {@link CronSchedule} (node-cron's semantics, without its scheduler), so
 * no runtime loads node-cron.
 */
import { CronSchedule } from './cron.js';

/**
 * The longest interval, in seconds, between two consecutive runs of a cron schedule,
 * measured over its next `samples` runs after `from`.
 * @throws {Error} when `schedule` is not a valid cron expression.
 */
export function scheduleGapSeconds(schedule: string, timezone?: string, samples = 400, from = new Date()): number {
  const runs = new CronSchedule(schedule, timezone).nextRuns(samples, from).map((d) => d.getTime());
  let gap = 0;
  runs.reduce((previous, run) => {
    gap = Math.max(gap, (run - previous) / 1000);
    return run;
  });
  return gap;
}

/**
 * The runs of a cron schedule within 24 hours of its first run after `from`, counted up to
 * `cap` (a schedule that runs more often reports `cap`; counting is linear in the runs).
 * @example passesPerDay('*\/5 * * * *') // 288
 * @throws {Error} when `schedule` is not a valid cron expression.
 */
export function passesPerDay(schedule: string, timezone?: string, cap = 1000, from = new Date()): number {
  const runs = new CronSchedule(schedule, timezone).nextRuns(cap + 1, from).map((d) => d.getTime());
  const first = runs[0];
  if (first === undefined) return 0;
  const end = first + 86_400_000;
  return Math.min(cap, runs.filter((t) => t < end).length);
}
