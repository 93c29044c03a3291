/** Waiting that a shutdown can cut short. */
import { setTimeout as wait } from 'node:timers/promises';

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once if it already has); never
 * rejects, so a caller that stops waiting on shutdown simply goes on.
 */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return wait(ms, undefined, { signal }).catch(() => undefined);
}
