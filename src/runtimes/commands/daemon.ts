/** `token-rotator daemon`: passes on the config's schedule until SIGTERM or SIGINT. */
import { checkAtStart, runDaemon } from '../daemon.js';
import { EXIT, stopOnSignals } from '../door.js';
import { fullCheckEveryMs } from '../full-check.js';
import { type ListenAddress, parseListen } from '../listen.js';
import { packageVersion } from '../version.js';
import { type CommandContext, text, texts, UsageError } from './contract.js';

/** Runs the daemon until a signal stops it, then exits 0. */
export async function run(ctx: CommandContext): Promise<number> {
  const listen = listenOption(text(ctx.values['listen']));
  const fullCheckMs = fullCheckOption(ctx.io.env);
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
      ...(fullCheckMs === undefined ? {} : { fullCheckEveryMs: fullCheckMs }),
      version: packageVersion(),
    });
  } finally {
    stop.dispose();
    await rotator.close();
  }
  return EXIT.ok;
}

/** Validates `TOKEN_ROTATOR_FULL_CHECK_SECONDS` before anything else runs: a whole number of seconds, or unset. */
function fullCheckOption(env: NodeJS.ProcessEnv): number | undefined {
  try {
    return fullCheckEveryMs(env);
  } catch (error) {
    throw new UsageError((error as RangeError).message);
  }
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
