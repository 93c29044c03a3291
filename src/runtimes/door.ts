/**
 * The one door every runtime goes through: `token-rotator run`, the daemon, the demo and
 * the Lambda handler differ in how they are started and where they report, not in how
 * they choose a log level, find a config, open a rotator, stop on a signal or read a
 * pass. Each of those is one small function here, so the runtimes cannot drift apart.
 *
 * Nothing here imports the CLI, the demo or the sandbox: the Lambda bundle includes it.
 */
import { DEFAULT_CONFIG_PATH, type LoadedConfig } from '../config/load.js';
import type { PassSummary } from '../engine/pass.js';
import { ConfigError } from '../errors.js';
import { type PassMetricsOptions, passMetrics, writeEmf } from '../observability/emf.js';
import { createLogger, isLogLevel, LOG_LEVELS, type Logger, type LogLevel } from '../observability/logger.js';
import type { RotatorMetrics } from '../observability/metrics.js';
import { createRotator, type Rotator } from '../rotator.js';
import { EXIT } from './names.js';

export { EXIT, PUSHGATEWAY_ENV, PUSHGATEWAY_INSTANCE_ENV } from './names.js';

// ─── The log level ───────────────────────────────────────────────────────────────────

/** The environment variable that sets the log level, below `--log-level` and above the config. */
export const LOG_LEVEL_ENV = 'TOKEN_ROTATOR_LOG_LEVEL';

/** Where a log level may come from, in order of precedence. */
export interface LogLevelSources {
  /** `--log-level`, as given on the command line (an empty value is invalid, not unset). */
  readonly flag?: string | undefined;
  /** The environment; {@link LOG_LEVEL_ENV} counts as unset when empty or blank. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /** The config's `log_level` (the schema has already checked it). */
  readonly config?: LogLevel | undefined;
}

/**
 * A log level that is not one of {@link LOG_LEVELS}. A config error, so the CLI exits 2
 * and the Lambda refuses the invocation, both before any store is touched. The message
 * names where the level came from and the valid levels; it repeats the value only when
 * it is a short word, so a secret pasted into the wrong variable is never echoed.
 */
export class LogLevelError extends ConfigError {
  /** `--log-level`, `TOKEN_ROTATOR_LOG_LEVEL` or `log_level`. */
  readonly source: string;

  constructor(source: string, value: string) {
    const what = /^[A-Za-z]{1,16}$/.test(value) ? `"${value}" is not a log level` : 'not a log level';
    // The message is the one line: `--log-level: "verbose" is not a log level; use one of fatal, …`.
    super([{ path: source, message: `${what}; use one of ${LOG_LEVELS.join(', ')}` }]);
    this.name = 'LogLevelError';
    this.source = source;
  }
}

const envValue = (env: NodeJS.ProcessEnv | undefined, name: string): string | undefined => {
  const value = env?.[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
};

/**
 * The log level of a runtime: `--log-level`, else `TOKEN_ROTATOR_LOG_LEVEL`, else the
 * config's `log_level`, else `info`. Only the source that wins is read; it must be a
 * pino level, or this throws.
 * @throws {LogLevelError} when the winning source is not one of {@link LOG_LEVELS}.
 * @example
 * resolveLogLevel({ flag: undefined, env: { TOKEN_ROTATOR_LOG_LEVEL: 'debug' }, config: 'warn' }); // 'debug'
 */
export function resolveLogLevel(sources: LogLevelSources): LogLevel {
  const candidates: readonly [string, string | undefined][] = [
    ['--log-level', sources.flag],
    [LOG_LEVEL_ENV, envValue(sources.env, LOG_LEVEL_ENV)],
    ['log_level', sources.config],
  ];
  for (const [source, value] of candidates) {
    if (value === undefined) continue;
    if (!isLogLevel(value)) throw new LogLevelError(source, value);
    return value;
  }
  return 'info';
}

// ─── The config and the rotator ──────────────────────────────────────────────────────

/** The environment variable that names the CLI's config file (in Lambda it holds the text itself). */
export const CONFIG_PATH_ENV = 'TOKEN_ROTATOR_CONFIG';

/**
 * The config file of a CLI command: `--config`, else `TOKEN_ROTATOR_CONFIG`, else
 * `token-rotator.yaml` in the working directory. The Lambda has no command line and
 * chooses among its own sources (`lambda-config.ts`).
 */
export function configPath(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  return flag ?? env[CONFIG_PATH_ENV] ?? DEFAULT_CONFIG_PATH;
}

/**
 * A logger for a runtime, at the level known before the config is read (the flag or
 * the environment, else `info`); {@link openRotator} settles it once the config is.
 * @throws {LogLevelError} for an invalid flag or environment level.
 */
export function runtimeLogger(sources: Omit<LogLevelSources, 'config'>, destination?: NodeJS.WritableStream): Logger {
  return createLogger({ level: resolveLogLevel(sources), ...(destination ? { destination } : {}) });
}

/**
 * Sets `logger` to the runtime's level, now that the config's `log_level` is known, and
 * builds the rotator on it. Builds no store connection yet: nothing is touched until
 * the rotator is used.
 * @throws {LogLevelError} for an invalid flag or environment level.
 */
export function openRotator(
  loaded: LoadedConfig,
  logger: Logger,
  sources: Omit<LogLevelSources, 'config'>,
): Promise<Rotator> {
  logger.level = resolveLogLevel({ ...sources, config: loaded.logLevel });
  return createRotator(loaded, { logger });
}

// ─── Signals ─────────────────────────────────────────────────────────────────────────

/** The exit code of a process that a second signal ends at once: 128 + the signal's number. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/** The signals that stop a runtime. */
export type StopSignalName = keyof typeof SIGNAL_EXIT;

const STOP_SIGNALS: readonly StopSignalName[] = ['SIGTERM', 'SIGINT'];

/** What {@link stopOnSignals} listens on; `process` unless a test gives an emitter. */
export interface SignalSource {
  on(event: StopSignalName, listener: (signal: StopSignalName) => void): unknown;
  off(event: StopSignalName, listener: (signal: StopSignalName) => void): unknown;
}

/** Options of {@link stopOnSignals}. */
export interface StopOnSignalsOptions {
  /** Called once, at the first signal, to say what happens next (a log line). */
  readonly announce?: (signal: StopSignalName) => void;
  /** Default `process`. */
  readonly source?: SignalSource;
  /** How a second signal ends the process; default `process.exit`. */
  readonly exit?: (code: number) => void;
}

/** The stop request of a runtime. */
export interface StopRequest {
  /** Aborted at the first SIGTERM or SIGINT: stop waiting, let the calls in flight finish. */
  readonly signal: AbortSignal;
  /** Removes the listeners; safe to call more than once. */
  dispose(): void;
}

/**
 * Listens for SIGTERM (a deploy, a CronJob's deadline, systemd) and SIGINT (Ctrl-C). The
 * first aborts {@link StopRequest.signal}: the runtime stops waiting for leases and
 * retries, lets the calls in flight finish and their results be written, and exits
 * with the pass's own code (`run`) or 0 (daemon, demo). A second signal exits at once
 * with 130 (SIGINT) or 143 (SIGTERM); a lease abandoned mid-call is recovered by the next
 * pass, which re-authenticates.
 * @example
 * const stop = stopOnSignals({ announce: (signal) => logger.warn({ signal }, 'finishing the calls in flight, then exiting') });
 * try { await rotator.pass({ signal: stop.signal }); } finally { stop.dispose(); }
 */
export function stopOnSignals(options: StopOnSignalsOptions = {}): StopRequest {
  const source: SignalSource = options.source ?? process;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const controller = new AbortController();
  const onSignal = (signal: StopSignalName) => {
    if (controller.signal.aborted) {
      exit(SIGNAL_EXIT[signal]);
      return;
    }
    options.announce?.(signal);
    controller.abort();
  };
  for (const name of STOP_SIGNALS) source.on(name, onSignal);
  let disposed = false;
  return {
    signal: controller.signal,
    dispose() {
      if (disposed) return;
      disposed = true;
      for (const name of STOP_SIGNALS) source.off(name, onSignal);
    },
  };
}

/** Resolves once `signal` is aborted (at once if it already is). */
export function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/**
 * The `code` of an error, when it has a string one: a token-rotator error's stable code
 * or a Node errno code. Never its message, which may quote a server's answer.
 */
export function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    ? error.code
    : undefined;
}

// ─── What a pass means ───────────────────────────────────────────────────────────────

/** The exit code of `token-rotator run` for a pass: 0 when every provider is fresh or rotated, 1 when any is not. */
export function passExitCode(summary: Pick<PassSummary, 'ok'>): typeof EXIT.ok | typeof EXIT.failed {
  return summary.ok ? EXIT.ok : EXIT.failed;
}

/** Where a long-lived runtime reports each pass. */
export interface PassReport {
  /** A pass that ran, whatever its providers' outcomes. */
  ran(summary: PassSummary): void;
  /** A pass that could not run at all (a reference or the store failed before any provider). */
  couldNotRun(error: unknown): void;
}

/**
 * The Prometheus report of the daemon (scraped) and of `run --pushgateway` (pushed):
 * counters, the duration histogram and the last pass time
 * ({@link RotatorMetrics.observePass}), or `passes_total{result="error"}`.
 */
export function prometheusReport(metrics: RotatorMetrics, now: () => number = Date.now): PassReport {
  return {
    ran: (summary) => metrics.observePass(summary, now()),
    couldNotRun: () => metrics.observePassError(),
  };
}

/**
 * The Lambda's report: Embedded Metric Format lines on `out`. A pass that could not run
 * writes none: the invocation fails, and Lambda's `Errors` metric counts it.
 */
export function emfReport(out: NodeJS.WritableStream, options: PassMetricsOptions): PassReport {
  return {
    ran: (summary) => writeEmf(passMetrics(summary, options), out),
    couldNotRun: () => undefined,
  };
}

/** Runs `pass` and reports it to `report` either way; the summary or the error goes on to the caller. */
export async function reportedPass(pass: () => Promise<PassSummary>, report: PassReport): Promise<PassSummary> {
  let summary: PassSummary;
  try {
    summary = await pass();
  } catch (error) {
    report.couldNotRun(error);
    throw error;
  }
  report.ran(summary);
  return summary;
}
