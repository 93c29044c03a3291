/** Per-target counters of what the sandbox did. */

import type { SandboxStats, SandboxTarget } from './types.js';
import { SANDBOX_TARGETS } from './types.js';

function zero(): SandboxStats {
  return { issued: 0, obtained: 0, refreshed: 0, reuseDetected: 0, rejected: 0, faultsInjected: 0 };
}

/** Counters kept per target; totals are summed on read. */
export class StatsBook {
  readonly #byTarget = new Map<SandboxTarget, SandboxStats>(SANDBOX_TARGETS.map((target) => [target, zero()]));

  /** Adds one to a counter of `target`. */
  count(target: SandboxTarget, counter: keyof SandboxStats): void {
    const stats = this.#byTarget.get(target);
    if (stats !== undefined) stats[counter] += 1;
  }

  /** A copy of the counters of `target`, or of all targets summed. */
  read(target?: SandboxTarget): SandboxStats {
    const total = zero();
    for (const [name, stats] of this.#byTarget) {
      if (target !== undefined && name !== target) continue;
      for (const key of Object.keys(total) as (keyof SandboxStats)[]) total[key] += stats[key];
    }
    return total;
  }
}
