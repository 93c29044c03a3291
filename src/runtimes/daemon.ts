/**
 * The long-running runtime: passes on a cron schedule, never overlapping, until its
 * stop signal is aborted (the door's SIGTERM/SIGINT, see `door.ts`); then it stops
 * scheduling, lets the pass in flight finish (its leases are released as each provider
 * completes, and a provider waiting for another runner's lease stops waiting), closes
 * its listener and resolves.
 *
 * Passes read only the providers that may be due by what the daemon last read of them
 * (see `PassOptions.onlyPossiblyDue`); every `FULL_CHECK_EVERY_MS` one pass reads them all,
 * to find a record changed behind its back (see `full-check.ts`).
 *
 * With `listen`, it serves `/healthz`, `/readyz` and `/metrics` (see `http.ts`); every
 * pass feeds the metrics, and readiness fails while draining.
 */
import { CronSchedule } from '../common/cron.js';
import type { PassSummary } from '../engine/pass.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { RotatorMetrics } from '../observability/metrics.js';
import type { Rotator } from '../rotator.js';
import { errorCode, type PassReport, prometheusReport, reportedPass } from './door.js';
import { FullChecks } from './full-check.js';
import type { OpsServer } from './http.js';
import type { ListenAddress } from './listen.js';
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
  /** How often a pass reads every provider (default `FULL_CHECK_EVERY_MS`, see `full-check.ts`); 0: every pass. */
  readonly fullCheckEveryMs?: number;
  /** The clock the full checks are timed by (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * The daemon's metrics: the caller's, else, when there is a listener to serve them, a
 * registry per process with the schedule gap the alert rules read. Without either there is
 * none: nothing would ever read it, and feeding it is not free (prom-client's event-loop
 * monitor wakes the process every 10 ms, ~8 ms of CPU a second, and a pass sets gauges for
 * every provider; issue 13). prom-client (and the OpenTelemetry API it loads) is imported
 * only then.
 */
async function daemonMetrics(options: DaemonOptions): Promise<RotatorMetrics | undefined> {
  if (options.metrics !== undefined) return options.metrics;
  if (options.listen === undefined) return undefined;
  const providers = options.providers ?? options.configuredProviders;
  const { RotatorMetrics } = await import('../observability/metrics.js');
  return new RotatorMetrics({
    gapSeconds: options.rotator.gapSeconds,
    ...(providers ? { providers } : {}),
    ...(options.version ? { version: options.version } : {}),
  });
}

/** The report of a daemon without metrics: a pass's outcome is in its logs and its heartbeat. */
const UNREPORTED: PassReport = { ran: () => undefined, couldNotRun: () => undefined };

/** Binds the ops listener, if asked; a bind failure throws before any pass runs. */
async function startListener(
  options: DaemonOptions,
  metrics: RotatorMetrics,
): Promise<{ server: OpsServer; readiness: ReadinessCheck } | undefined> {
  if (options.listen === undefined) return undefined;
  const { rotator, logger } = options;
  const { startOpsServer } = await import('./http.js');
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
  const metrics = await daemonMetrics(options);
  const listener = metrics === undefined ? undefined : await startListener(options, metrics);
  try {
    const report = metrics === undefined ? UNREPORTED : prometheusReport(metrics);
    await schedulePasses(options, report, () => listener?.readiness.shuttingDown());
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
  const now = options.now ?? Date.now;
  const fullChecks = new FullChecks(options.fullCheckEveryMs);

  const runOnce = async () => {
    if (stop.aborted) return;
    const startedAt = now();
    const full = fullChecks.due(startedAt);
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
      if (full) fullChecks.ran(startedAt);
      options.onPass?.(summary);
    } catch (error) {
      logger.error(
        { err: { message: error instanceof Error ? error.message : String(error), code: errorCode(error) } },
        'pass failed',
      );
    }
  };
  const cron = new CronSchedule(options.schedule, options.timezone);
  logger.info({ schedule: options.schedule, gap_seconds: rotator.gapSeconds }, 'daemon started');
  if (options.passAtStart !== false) await runOnce();
  await runOnSchedule(cron, runOnce, stop);
}

/**
 * setTimeout's longest delay, 2^31 - 1 ms (about 24.8 days): a longer one fires at once
 * (Node warns and uses 1 ms), so a longer wait is taken in pieces.
 */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves `true` once the wall clock has reached `schedule`'s next run after now, or
 * `false` as soon as `stop` is aborted (the timer is then cleared). One timer at a time,
 * ref'd so that it keeps the process alive. A timer that fires while the wall clock is
 * still before that run (a wait longer than {@link MAX_TIMER_MS}, taken in pieces, or the
 * clock set back meanwhile) looks the next run up again from now and waits for it: a
 * clock set back an hour does not leave an hour without passes.
 */
function nextRunReached(schedule: CronSchedule, stop: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (stop.aborted) {
      resolve(false);
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    let at = schedule.nextRun(new Date()).getTime();
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    const arm = () => {
      const now = Date.now();
      if (now >= at) {
        stop.removeEventListener('abort', onAbort);
        resolve(true);
        return;
      }
      timer = setTimeout(wake, Math.min(at - now, MAX_TIMER_MS));
    };
    const wake = () => {
      if (Date.now() < at) at = schedule.nextRun(new Date()).getTime();
      arm();
    };
    stop.addEventListener('abort', onAbort, { once: true });
    arm();
  });
}

/**
 * Runs `run` at every run of `schedule` until `stop` is aborted; resolves once it is and
 * the run in flight, if any, has finished. Never two runs at once: the next run is looked
 * up when one ends, from the time it ends, so a run of the schedule that falls while one
 * is in flight is skipped, as node-cron's `noOverlap` did (issue 13 replaced node-cron's
 * scheduler with this timer). A timer that fires late (the event loop was busy, the
 * machine slept) still runs: for tokens that expire, a late pass beats a skipped one.
 * @example await runOnSchedule(new CronSchedule('*\/5 * * * *', 'Europe/Rome'), pass, stop.signal);
 */
export async function runOnSchedule(
  schedule: CronSchedule,
  run: () => Promise<void>,
  stop: AbortSignal,
): Promise<void> {
  while (await nextRunReached(schedule, stop)) await run();
}
