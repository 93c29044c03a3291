/** `token-rotator daemon`: passes on the config's schedule until SIGTERM or SIGINT. */
import { checkAtStart, runDaemon } from '../daemon.js';
import { EXIT, stopOnSignals } from '../door.js';
import { type ListenAddress, parseListen } from '../listen.js';
import { packageVersion } from '../version.js';
import { type CommandContext, text, texts, UsageError } from './contract.js';

/** Runs the daemon until a signal stops it, then exits 0. */
export async function run(ctx: CommandContext): Promise<number> {
  const listen = listenOption(text(ctx.values['listen']));
  const fullCheckEveryMs = fullCheckOption(ctx.io.env[FULL_CHECK_ENV]);
  const { loaded, logger, rotator } = await ctx.open();
  const providers = texts(ctx.values['provider']);
  const stop = stopOnSignals({
    announce: (signal) => logger.info({ signal }, 'shutting down after the pass in flight'),
  });
  try {
    await checkAtStart(rotator, logger);
    await runDaemon({
      rotator,
      logger,
      stop: stop.signal,
      schedule: loaded.policy.schedule,
      timezone: loaded.policy.timezone,
      ...(providers ? { providers } : {}),
      ...(listen ? { listen } : {}),
      configuredProviders: loaded.providerNames,
      ...(fullCheckEveryMs === undefined ? {} : { fullCheckEveryMs }),
      version: packageVersion(),
    });
  } finally {
    stop.dispose();
    await rotator.close();
  }
  return EXIT.ok;
}

/**
 * The environment variable that sets how often, in seconds, a daemon pass reads every
 * provider (default 600; 0: every pass), for operators who want a record changed or a
 * credential file removed behind the daemon's back noticed sooner, at the cost of idle passes.
 */
export const FULL_CHECK_ENV = 'TOKEN_ROTATOR_FULL_CHECK_SECONDS';

/** Validates {@link FULL_CHECK_ENV} before anything else runs: a whole number of seconds, or unset. */
function fullCheckOption(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,9}$/.test(value))
    throw new UsageError(`${FULL_CHECK_ENV} must be a whole number of seconds (0: every pass)`);
  return Number(value) * 1000;
}

/** Validates `--listen` before anything else runs. */
function listenOption(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  try {
    return parseListen(value);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}
