/** `token-rotator daemon`: passes on the config's schedule until SIGTERM or SIGINT. */
import { checkAtStart, runDaemon } from '../daemon.js';
import { EXIT, stopOnSignals } from '../door.js';
import { type ListenAddress, parseListen } from '../http.js';
import { packageVersion } from '../version.js';
import { type CommandContext, text, texts, UsageError } from './contract.js';

/** Runs the daemon until a signal stops it, then exits 0. */
export async function run(ctx: CommandContext): Promise<number> {
  const listen = listenOption(text(ctx.values['listen']));
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
      version: packageVersion(),
    });
  } finally {
    stop.dispose();
    await rotator.close();
  }
  return EXIT.ok;
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
