/**
 * The long-running runtime: passes on a node-cron schedule, never overlapping, until
 * SIGTERM or SIGINT; then it stops scheduling, lets the pass in flight finish (its
 * leases are released as each provider completes, and a provider waiting for another
 * runner's lease stops waiting), closes its listener and resolves.
 *
 * With `listen`, it serves `/healthz`, `/readyz` and `/metrics` (see `http.ts`); every
 * pass feeds the metrics, and readiness fails while draining.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { PassSummary } from '../engine/pass.js';
import type { Logger } from '../observability/logger.js';
import { RotatorMetrics } from '../observability/metrics.js';
import type { Rotator } from '../rotator.js';
import { startOpsServer, type ListenAddress, type OpsServer } from './http.js';
import { createReadiness, type ReadinessCheck } from './readiness.js';

/** Options for {@link runDaemon}. */
export interface DaemonOptions {
  readonly rotator: Rotator;
  readonly schedule: string;
  readonly timezone?: string | undefined;
  readonly logger: Logger;
  /** Run one pass at start instead of waiting for the first tick (default true). */
  readonly passAtStart?: boolean;
  /** Called after every pass (the demo prints its table here). */
  readonly onPass?: (summary: PassSummary) => void;
  /** Resolves the daemon when aborted; default: SIGTERM and SIGINT. */
  readonly stop?: AbortSignal;
  readonly providers?: readonly string[];
  /** Serve `/healthz`, `/readyz` and `/metrics` here (default: no listener). */
  readonly listen?: ListenAddress;
  /** The metrics passes feed (default: a new registry). */
  readonly metrics?: RotatorMetrics;
}

/** Binds the ops listener, if asked; a bind failure throws before any pass runs. */
async function startListener(options: DaemonOptions, metrics: RotatorMetrics): Promise<{ server: OpsServer; readiness: ReadinessCheck } | undefined> {
  if (options.listen === undefined) return undefined;
  const { rotator, logger } = options;
  const readiness = createReadiness({ metrics, gapSeconds: rotator.gapSeconds, probeStore: () => rotator.heartbeat(), logger });
  const server = await startOpsServer(options.listen, { metrics: () => metrics.render(), readiness: () => readiness.check() }, logger);
  logger.info({ url: server.url }, 'serving /healthz, /readyz and /metrics');
  return { server, readiness };
}

/** Runs passes until stopped. Resolves once the last pass has finished. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { rotator, logger } = options;
  const metrics = options.metrics ?? new RotatorMetrics();
  const listener = await startListener(options, metrics);
  try {
    await schedulePasses(options, metrics, () => listener?.readiness.shuttingDown());
  } finally {
    if (listener !== undefined) {
      await listener.server.close();
      logger.info('ops listener closed');
    }
  }
  logger.info('daemon stopped');
}

/** Runs passes on the schedule until a stop signal, then waits for the pass in flight. */
async function schedulePasses(options: DaemonOptions, metrics: RotatorMetrics, onShutdown: () => void): Promise<void> {
  const { rotator, logger } = options;
  const shutdown = new AbortController();
  shutdown.signal.addEventListener('abort', onShutdown, { once: true });
  let inFlight: Promise<unknown> = Promise.resolve();

  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, 'shutting down after the pass in flight');
    shutdown.abort();
  };
  const stopSignals = options.stop === undefined;
  if (stopSignals) {
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  } else {
    options.stop!.addEventListener('abort', () => shutdown.abort(), { once: true });
  }

  const runOnce = async () => {
    if (shutdown.signal.aborted) return;
    try {
      const summary = await rotator.pass({
        signal: shutdown.signal,
        ...(options.providers ? { providers: options.providers } : {}),
      });
      metrics.observePass(summary, Date.now());
      options.onPass?.(summary);
    } catch (error) {
      metrics.observePassError();
      logger.error({ err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'pass failed');
    }
  };
  const tracked = () => {
    const pass = runOnce();
    inFlight = pass;
    return pass;
  };

  const task: ScheduledTask = createTask(options.schedule, tracked, {
    noOverlap: true,
    name: 'token-rotator',
    ...(options.timezone ? { timezone: options.timezone } : {}),
  });
  logger.info({ schedule: options.schedule, gapSeconds: rotator.gapSeconds }, 'daemon started');
  if (options.passAtStart !== false) await tracked();
  if (!shutdown.signal.aborted) await task.start();

  await new Promise<void>((resolve) => {
    if (shutdown.signal.aborted) resolve();
    else shutdown.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  await task.stop();
  await inFlight;
  await task.destroy();
  if (stopSignals) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
