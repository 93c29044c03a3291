/**
 * The long-running runtime: passes on a node-cron schedule, never overlapping, until its
 * stop signal is aborted (the door's SIGTERM/SIGINT, see `door.ts`); then it stops
 * scheduling, lets the pass in flight finish (its leases are released as each provider
 * completes, and a provider waiting for another runner's lease stops waiting), closes
 * its listener and resolves.
 *
 * Passes read only the providers that may be due by what the daemon last read of them
 * (see `PassOptions.onlyPossiblyDue`); every {@link FULL_CHECK_EVERY_MS} one pass reads them
 * all, to find a record changed behind its back.
 *
 * With `listen`, it serves `/healthz`, `/readyz` and `/metrics` (see `http.ts`); every
 * pass feeds the metrics, and readiness fails while draining.
 */
import { createTask, type ScheduledTask } from 'node-cron';
import type { PassSummary } from '../engine/pass.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { RotatorMetrics } from '../observability/metrics.js';
import type { Rotator } from '../rotator.js';
import { errorCode, type PassReport, prometheusReport, reportedPass, untilAborted } from './door.js';
import { type ListenAddress, type OpsServer, startOpsServer } from './http.js';
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
  /** Aborting it stops the daemon after the pass in flight (the door's `stopOnSignals`). */
  readonly stop: AbortSignal;
  readonly providers?: readonly string[];
  /** Serve `/healthz`, `/readyz` and `/metrics` here (default: no listener). */
  readonly listen?: ListenAddress;
  /** The metrics passes feed (default: a new registry, built from the two options below). */
  readonly metrics?: RotatorMetrics;
  /** Every configured provider, whose failure series the default metrics start at 0 (default: `providers`). */
  readonly configuredProviders?: readonly string[];
  /** The package version, for `token_rotator_build_info`. */
  readonly version?: string;
  /** How often a pass reads every provider (default {@link FULL_CHECK_EVERY_MS}); 0: every pass. */
  readonly fullCheckEveryMs?: number;
  /** The clock the full checks are timed by (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * How often the daemon's pass reads every selected provider, fresh or not: 10 minutes.
 * Between full checks a pass reads only the providers that may be due by what the daemon
 * last read (their token's renewal point, or anything but `fresh`), so an idle pass costs
 * next to nothing whatever the number of providers (issue 13). A full check is what finds
 * a record changed behind the daemon's back: a public record deleted or damaged (then
 * republished), a state record deleted (a new token obtained), a lease taken by another
 * runner. Another runner's rotation needs no full check: it only moves the renewal point
 * later. Ten minutes bounds how long such a change goes unseen to about two passes of the
 * default five-minute schedule, while a schedule of seconds (or a minute) reads fresh
 * providers once in many passes.
 */
export const FULL_CHECK_EVERY_MS = 10 * 60 * 1000;

/** The daemon's metrics, unless the caller brought its own: per process, with the schedule gap the alert rules read. */
function daemonMetrics(options: DaemonOptions): RotatorMetrics {
  if (options.metrics !== undefined) return options.metrics;
  const providers = options.providers ?? options.configuredProviders;
  return new RotatorMetrics({
    gapSeconds: options.rotator.gapSeconds,
    ...(providers ? { providers } : {}),
    ...(options.version ? { version: options.version } : {}),
  });
}

/** Binds the ops listener, if asked; a bind failure throws before any pass runs. */
async function startListener(
  options: DaemonOptions,
  metrics: RotatorMetrics,
): Promise<{ server: OpsServer; readiness: ReadinessCheck } | undefined> {
  if (options.listen === undefined) return undefined;
  const { rotator, logger } = options;
  const readiness = createReadiness({
    metrics,
    gapSeconds: rotator.gapSeconds,
    probeStore: () => rotator.heartbeat(),
    logger,
  });
  const server = await startOpsServer(
    options.listen,
    { metrics: (format) => metrics.render(Date.now(), format), readiness: () => readiness.check() },
    logger,
  );
  logger.info({ url: server.url }, 'serving /healthz, /readyz and /metrics');
  return { server, readiness };
}

/**
 * The daemon's check before it starts: a config error (a wrong reference, a bad
 * schedule, a provider that cannot be built) throws, so the process exits 2 and a human
 * fixes it. Anything else (the store not answering a `${store:…}` reference) is an
 * outage: it is logged and the daemon starts anyway, unready, and retries each pass,
 * rather than exiting and crash-looping under a supervisor.
 * @throws {ConfigError} when the config is wrong.
 */
export async function checkAtStart(rotator: Pick<Rotator, 'check'>, logger: Logger): Promise<void> {
  try {
    await rotator.check();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    logger.warn(
      { err: { message: error instanceof Error ? error.message : String(error), code: errorCode(error) } },
      'could not check the config at start (the store did not answer); starting, retrying each pass',
    );
  }
}

/** Runs passes until stopped. Resolves once the last pass has finished. */
export async function runDaemon(options: DaemonOptions): Promise<void> {
  const { logger } = options;
  const metrics = daemonMetrics(options);
  const listener = await startListener(options, metrics);
  try {
    await schedulePasses(options, prometheusReport(metrics), () => listener?.readiness.shuttingDown());
  } finally {
    if (listener !== undefined) {
      await listener.server.close();
      logger.info('ops listener closed');
    }
  }
  logger.info('daemon stopped');
}

/** Runs passes on the schedule until the stop signal, then waits for the pass in flight. */
async function schedulePasses(options: DaemonOptions, report: PassReport, onShutdown: () => void): Promise<void> {
  const { rotator, logger, stop } = options;
  // Readiness fails from the signal on, while the pass in flight is still finishing.
  if (stop.aborted) onShutdown();
  else stop.addEventListener('abort', onShutdown, { once: true });
  let inFlight: Promise<unknown> = Promise.resolve();
  const now = options.now ?? Date.now;
  const fullCheckEveryMs = options.fullCheckEveryMs ?? FULL_CHECK_EVERY_MS;
  /** When the last full pass that ran started; until one has, every pass is full. */
  let lastFullCheck: number | undefined;

  const runOnce = async () => {
    if (stop.aborted) return;
    const startedAt = now();
    const full = lastFullCheck === undefined || startedAt - lastFullCheck >= fullCheckEveryMs;
    try {
      const summary = await reportedPass(
        () =>
          rotator.pass({
            signal: stop,
            isolateReferences: true,
            ...(options.providers ? { providers: options.providers } : {}),
            ...(full ? {} : { onlyPossiblyDue: true }),
          }),
        report,
      );
      if (full) lastFullCheck = startedAt;
      options.onPass?.(summary);
    } catch (error) {
      logger.error(
        { err: { message: error instanceof Error ? error.message : String(error), code: errorCode(error) } },
        'pass failed',
      );
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
  logger.info({ schedule: options.schedule, gap_seconds: rotator.gapSeconds }, 'daemon started');
  if (options.passAtStart !== false) await tracked();
  if (!stop.aborted) await task.start();

  await untilAborted(stop);
  await task.stop();
  await inFlight;
  await task.destroy();
}
