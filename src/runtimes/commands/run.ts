/** `token-rotator run`: one pass, its summary on stdout, optionally its metrics pushed to a Pushgateway. */
import { describeError } from '../../errors.js';
import type { Logger } from '../../observability/logger.js';
import type { RotatorMetrics } from '../../observability/metrics.js';
import {
  PUSHGATEWAY_ENV,
  PUSHGATEWAY_INSTANCE_ENV,
  passExitCode,
  prometheusReport,
  reportedPass,
  stopOnSignals,
} from '../door.js';
import { formatSummary } from '../format.js';
import { jsonLine, passOutput } from '../json-output.js';
import { packageVersion } from '../version.js';
import { type CommandContext, text, texts, UsageError } from './contract.js';

/** Runs one pass over the selected providers; exits 0 when each is fresh or rotated, 1 otherwise. */
export async function run(ctx: CommandContext): Promise<number> {
  const dryRun = ctx.values['dry-run'] === true;
  const pushgateway = pushgatewayOption(
    text(ctx.values['pushgateway']),
    text(ctx.values['pushgateway-instance']),
    ctx.io.env,
  );
  const { loaded, logger, rotator } = await ctx.open();
  const stop = stopOnSignals({
    announce: (signal) => logger.warn({ signal }, 'finishing the calls in flight, then exiting'),
  });
  const providers = texts(ctx.values['provider']);
  // prom-client (and what it loads) only for a run that pushes its metrics.
  const push = pushgateway === undefined || dryRun ? undefined : await import('../../observability/metrics.js');
  const metrics =
    push === undefined
      ? undefined
      : new push.RotatorMetrics({
          mode: 'push',
          providers: providers ?? loaded.providerNames,
          version: packageVersion(),
          gapSeconds: rotator.gapSeconds,
        });
  try {
    const pass = () =>
      rotator.pass({
        ...(providers ? { providers } : {}),
        force: ctx.values['force'] === true,
        dryRun,
        signal: stop.signal,
      });
    const summary = await (metrics ? reportedPass(pass, prometheusReport(metrics)) : pass());
    ctx.io.stdout.write(ctx.values['json'] ? jsonLine(passOutput(summary)) : `${formatSummary(summary)}\n`);
    return passExitCode(summary);
  } finally {
    if (push && metrics && pushgateway) await pushPassMetrics(push, metrics, pushgateway, logger);
    stop.dispose();
    await rotator.close();
  }
}

/** Where `run` pushes its metrics: the flags, else the environment; checked before anything runs. */
function pushgatewayOption(
  flag: string | undefined,
  instanceFlag: string | undefined,
  env: NodeJS.ProcessEnv,
): { url: string; instance?: string } | undefined {
  const url = flag ?? (env[PUSHGATEWAY_ENV]?.trim() || undefined);
  if (url === undefined) {
    if (instanceFlag !== undefined) throw new UsageError('--pushgateway-instance needs --pushgateway');
    return undefined;
  }
  try {
    if (!/^https?:$/.test(new URL(url).protocol)) throw new TypeError('not http(s)');
  } catch {
    throw new UsageError(`--pushgateway must be an http(s) URL, e.g. http://pushgateway:9091`);
  }
  const instance = instanceFlag ?? env[PUSHGATEWAY_INSTANCE_ENV]?.trim();
  return { url, ...(instance ? { instance } : {}) };
}

/** Pushes a pass's metrics; a failure is logged, never thrown: the pass's exit code stands. */
async function pushPassMetrics(
  { PUSH_FAILED, pushMetrics, pushUrl }: typeof import('../../observability/metrics.js'),
  metrics: RotatorMetrics,
  push: { url: string; instance?: string },
  logger: Logger,
) {
  const group = pushUrl(push.url, push.instance).href;
  try {
    await pushMetrics(metrics, push);
    logger.info({ pushgateway: group }, 'pushed the pass metrics');
  } catch (error) {
    logger.warn(
      { pushgateway: group, err: { class: 'metrics', code: PUSH_FAILED, message: describeError(error) } },
      'could not push the pass metrics; the exit code is the pass',
    );
  }
}
