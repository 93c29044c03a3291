import { lastPassProblem } from '../observability/heartbeat.js';
import type { Logger } from '../observability/logger.js';
import type { RotatorMetrics } from '../observability/metrics.js';
import { errorCode } from './door.js';
import { errorOutput } from './json-output.js';

/** A readiness verdict, as `/readyz` serves it. */
export interface Readiness {
  readonly ready: boolean;
  /** Why it is not ready; empty when ready. */
  readonly reasons: readonly string[];
}

/** Options for {@link createReadiness}. */
export interface ReadinessOptions {
  /** Where the time the last pass finished comes from. */
  readonly metrics: RotatorMetrics;
  /** The schedule's longest gap between passes, in seconds. */
  readonly gapSeconds: number;
  /** A cheap store read (the daemon reads the heartbeat); throwing or hanging means unreachable. */
  readonly probeStore: () => Promise<unknown>;
  readonly logger: Logger;
  readonly now?: () => number;
  /** How long the store may take to answer (default 2000 ms). */
  readonly storeTimeoutMs?: number;
  /** How long a store check result is reused (default 5000 ms). */
  readonly cacheMs?: number;
}

/** Readiness of a daemon; {@link ReadinessCheck.shuttingDown} makes it fail for good. */
export interface ReadinessCheck {
  check(): Promise<Readiness>;
  /** From now on the daemon is draining: not ready. */
  shuttingDown(): void;
}

/** Resolves to the probe's outcome, or to a timeout problem once `ms` have passed. */
async function withTimeout(probe: () => Promise<unknown>, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`the store did not answer within ${ms} ms`), ms);
  });
  try {
    return await Promise.race([probe().then(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Builds the daemon's readiness check. */
export function createReadiness(options: ReadinessOptions): ReadinessCheck {
  const now = options.now ?? Date.now;
  const timeoutMs = options.storeTimeoutMs ?? 2000;
  const cacheMs = options.cacheMs ?? 5000;
  let draining = false;
  let cached: { at: number; problem: string | undefined } | undefined;
  let pending: Promise<string | undefined> | undefined;

  const storeProblem = async (): Promise<string | undefined> => {
    if (cached !== undefined && now() - cached.at < cacheMs) return cached.problem;
    // Concurrent probes share one store read.
    pending ??= withTimeout(options.probeStore, timeoutMs)
      .catch((error: unknown) => {
        const code = errorCode(error);
        options.logger.warn({ err: errorOutput(error) }, 'readiness: store check failed');
        return `the store could not be read${code === undefined ? '' : ` (${code})`}`;
      })
      .then((problem) => {
        cached = { at: now(), problem };
        pending = undefined;
        return problem;
      });
    return pending;
  };

  return {
    async check() {
      if (draining) return { ready: false, reasons: ['shutting down'] };
      const reasons: string[] = [];
      const store = await storeProblem();
      if (store !== undefined) reasons.push(store);
      // A token past expiry is deliberately not a reason: see the module's comment.
      const last = options.metrics.lastPassMs;
      if (last === undefined) reasons.push('no pass has finished yet');
      else {
        const problem = lastPassProblem(last, options.gapSeconds, now());
        if (problem !== undefined) reasons.push(problem);
      }
      return { ready: reasons.length === 0, reasons };
    },
    shuttingDown() {
      draining = true;
    },
  };
}
