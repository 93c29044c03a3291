/**
 * The AWS Lambda runtime: an EventBridge schedule invokes {@link handler}, which runs one
 * pass and reports it three ways: a JSON summary in the log, CloudWatch Embedded Metric
 * Format lines on stdout, and the invocation's outcome. When any provider is not ok the
 * invocation fails, so Lambda's `Errors` metric, an alarm on it and the on-failure
 * destination catch it; otherwise it returns the pass summary.
 *
 * The config is loaded once per container, at the first invocation (see
 * `lambda-config.ts` for where from; `store.kind: file` is refused, as a function's disk
 * does not outlive it); the rotator and its store client are kept for the
 * container's later invocations, so connections are reused. A config that fails to load
 * is not kept: the next invocation tries again, and picks up a corrected secret.
 *
 * A container kept warm is a runner that outlives its passes, as the daemon is: its first
 * invocation reads every provider, and a later one reads only the providers that may be
 * due by what the container last read, except every `TOKEN_ROTATOR_FULL_CHECK_SECONDS`
 * (600 by default), when it reads them all again (see `full-check.ts`).
 *
 * Bundled by `scripts/bundle-lambda.mjs` into `dist-lambda/index.mjs`. Nothing here may
 * import the CLI, the demo or the sandbox: they stay out of the bundle.
 *
 * @see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html
 * @see https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html
 */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { LoadedConfig } from '../config/load.js';
import type { PassSummary } from '../engine/pass.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import { WEBHOOK_SETTLE_MS } from '../observability/webhooks.js';
import type { Rotator } from '../rotator.js';
import { emfReport, openRotator, reportedPass, resolveLogLevel, runtimeLogger } from './door.js';
import { FULL_CHECK_ENV, FULL_CHECK_RULE, FullChecks, fullCheckEveryMs } from './full-check.js';
import { errorOutput, type PassOutput, passOutput } from './json-output.js';
import { assertLambdaStore, type ConfigSource, loadLambdaConfig, type SecretReader } from './lambda-config.js';

/** Options of {@link createHandler}; the defaults are what Lambda needs. */
export interface LambdaHandlerOptions {
  /** Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where the default `config.yaml` is looked for; default the bundle's directory. */
  readonly bundleDir?: string;
  readonly readSecret?: SecretReader;
  /** Where EMF lines go; default stdout. */
  readonly metricsOut?: NodeJS.WritableStream;
  /** Where log lines go; default stderr. */
  readonly logDestination?: NodeJS.WritableStream;
  /**
   * Lets `store.kind: file` through, for tests that run the handler in process against a
   * temporary directory. A deployed function never sets it: its disk does not outlive the
   * execution environment, and the file store is refused at the cold start.
   */
  readonly allowFileStore?: boolean;
}

/**
 * The invocation failed because a provider is not ok. The message names each such
 * provider with its status and failure class, never an error's text, so it is safe in
 * the Lambda console, the on-failure destination's record and alarms.
 */
export class PassFailedError extends Error {
  readonly failures: readonly {
    readonly provider: string;
    readonly status: string;
    readonly class?: string;
    readonly code?: string;
  }[];

  constructor(summary: PassSummary) {
    const failed = summary.outcomes.filter((outcome) => !outcome.ok);
    const list = failed.map((o) => `${o.provider} (${o.status}${o.error ? `, ${o.error.class} ${o.error.code}` : ''})`);
    super(`token-rotator pass failed for ${failed.length} of ${summary.outcomes.length} providers: ${list.join(', ')}`);
    this.name = 'PassFailedError';
    this.failures = failed.map((o) => ({
      provider: o.provider,
      status: o.status,
      ...(o.error ? { class: o.error.class, code: o.error.code } : {}),
    }));
  }
}

/**
 * Time kept back from the invocation's deadline: one provider call still in flight when
 * waiting stops (`request_timeout_seconds`), then its two store writes.
 */
export function reserveMs(policy: LoadedConfig['policy']): number {
  return policy.request_timeout_seconds * 1000 + 10_000;
}

interface Runtime {
  readonly rotator: Rotator;
  readonly policy: LoadedConfig['policy'];
  /** Which of this execution environment's passes read every provider. */
  readonly fullChecks: FullChecks;
}

/** {@link FULL_CHECK_ENV} as a {@link FullChecks}; an invalid value is a config error naming it. */
function fullChecksOf(env: NodeJS.ProcessEnv): FullChecks {
  try {
    return new FullChecks(fullCheckEveryMs(env));
  } catch {
    throw new ConfigError([{ path: FULL_CHECK_ENV, message: FULL_CHECK_RULE }]);
  }
}

function describeSource(source: ConfigSource): string {
  if (source.kind === 'env') return `environment variable ${source.name}`;
  if (source.kind === 'file') return `file ${source.path}`;
  return `secret ${source.id}`;
}

/** Runs `task` with a signal that aborts `reserve` ms before the invocation's deadline. */
async function withDeadline<T>(
  context: Context,
  reserve: number,
  task: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), Math.max(0, context.getRemainingTimeInMillis() - reserve));
  try {
    return await task(controller.signal);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Builds a handler. Lambda uses {@link handler}; tests build their own with injected
 * streams and environment.
 * @example
 * export const handler = createHandler({ env: { ...process.env, TOKEN_ROTATOR_CONFIG_SECRET: 'token-rotator/config' } });
 */
export function createHandler(
  options: LambdaHandlerOptions = {},
): (event: ScheduledEvent, context: Context) => Promise<PassOutput> {
  const env = options.env ?? process.env;
  // `info` until the cold start has checked TOKEN_ROTATOR_LOG_LEVEL and read the config.
  const logger: Logger = runtimeLogger({}, options.logDestination);
  const metricsOut = options.metricsOut ?? process.stdout;
  let runtime: Promise<Runtime> | undefined;

  async function start(): Promise<Runtime> {
    // An invalid level is refused, not ignored: a typo in the deployment's parameter
    // fails every invocation (the Errors alarm) instead of silently logging at another level.
    logger.level = resolveLogLevel({ env });
    const fullChecks = fullChecksOf(env);
    const { loaded, source } = await loadLambdaConfig({
      env,
      bundleDir: options.bundleDir ?? dirname(fileURLToPath(import.meta.url)),
      ...(options.readSecret ? { readSecret: options.readSecret } : {}),
    });
    // Before the store exists: a refused config writes nothing.
    if (!options.allowFileStore) assertLambdaStore(loaded);
    const rotator = await openRotator(loaded, logger, { env });
    logger.info({ source: describeSource(source), store: loaded.store.kind }, 'lambda cold start: config loaded');
    return { rotator, policy: loaded.policy, fullChecks };
  }

  function ready(): Promise<Runtime> {
    runtime ??= start().catch((error: unknown) => {
      runtime = undefined;
      if (error instanceof ConfigError) logger.error({ code: error.code, issues: error.issues }, 'invalid config');
      else logger.error({ err: errorOutput(error) }, 'lambda cold start failed');
      throw error;
    });
    return runtime;
  }

  return async function rotateHandler(event: ScheduledEvent, context: Context): Promise<PassOutput> {
    const { rotator, policy, fullChecks } = await ready();
    const log = logger.child({ request_id: context.awsRequestId });
    const startedAt = Date.now();
    const full = fullChecks.due(startedAt);
    log.debug({ event_id: event.id, scheduled_time: event.time, full_check: full }, 'scheduled pass');

    const report = emfReport(metricsOut, { service: context.functionName, requestId: context.awsRequestId });
    let summary: PassSummary;
    try {
      summary = await withDeadline(context, reserveMs(policy), (signal) =>
        reportedPass(() => rotator.pass({ signal, ...(full ? {} : { onlyPossiblyDue: true }) }), report),
      );
      if (full) fullChecks.ran(startedAt);
    } catch (error) {
      log.error({ err: errorOutput(error) }, 'pass could not run');
      throw error;
    }
    // Lambda freezes the runtime once the handler returns: the pass's webhooks are sent
    // now, within a bound that leaves a second of the invocation.
    await rotator.settle(Math.min(WEBHOOK_SETTLE_MS, Math.max(0, context.getRemainingTimeInMillis() - 1000)));

    const { schema: _schema, ...pass } = passOutput(summary);
    log.info(pass, 'lambda pass summary');
    if (!summary.ok) throw new PassFailedError(summary);
    return passOutput(summary);
  };
}

/** The function Lambda invokes (`handler: dist-lambda/index.handler`). */
export const handler = createHandler();
