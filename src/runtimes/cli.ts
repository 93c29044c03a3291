/**
 * The `token-rotator` command line. Exit codes: 0 every provider fresh or rotated,
 * 1 a provider failed (or, for `get`, no token), 2 a config or usage error — reported
 * before any store or provider is touched.
 */
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DEFAULT_CONFIG_PATH, type LoadedConfig, loadConfig } from '../config/load.js';
import { configJsonSchema } from '../config/schema.js';
import { ConfigError, describeError, RotatorError } from '../errors.js';
import { describeLastPass } from '../observability/heartbeat.js';
import { LOG_LEVELS, type Logger } from '../observability/logger.js';
import { PUSH_FAILED, pushMetrics, pushUrl, RotatorMetrics } from '../observability/metrics.js';
import { createTokenReader } from '../reader.js';
import type { Rotator } from '../rotator.js';
import type { RecordPruner, SecretStore } from '../stores/contract.js';
import { checkAtStart, runDaemon } from './daemon.js';
import { runDemo, runSandboxCommand } from './demo.js';
import {
  configPath,
  EXIT,
  LogLevelError,
  type LogLevelSources,
  openRotator,
  PUSHGATEWAY_ENV,
  PUSHGATEWAY_INSTANCE_ENV,
  passExitCode,
  prometheusReport,
  reportedPass,
  resolveLogLevel,
  runtimeLogger,
  stopOnSignals,
} from './door.js';
import { formatStatus, formatSummary } from './format.js';
import { type ListenAddress, parseListen } from './http.js';
import { invalidOutput, jsonLine, passOutput, statusOutput, statusProblems, validOutput } from './json-output.js';

export { EXIT };

class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A parsed option's value, as `parseArgs` gives it for options declared at run time. */
type OptionValue = string | boolean | (string | boolean)[] | undefined;

/** The value of a string option, when given. */
function text(value: OptionValue): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The values of a repeatable string option, when given. */
function texts(value: OptionValue): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}

const common = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  'log-level': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: ParseArgsConfig['options'];
  readonly positionals?: number;
  run(context: Context): Promise<number>;
}

interface Context {
  readonly values: Readonly<Record<string, OptionValue>>;
  readonly positionals: readonly string[];
  readonly io: CliIO;
  /** `--log-level` and the environment, already checked to give a valid level. */
  readonly levels: Omit<LogLevelSources, 'config'>;
  /** Loads the config and opens a rotator on it, with a logger at the runtime's level. */
  open(): Promise<Opened>;
}

/** What a command works with once the config is loaded. */
interface Opened {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly rotator: Rotator;
}

/** Where the CLI reads and writes; injectable for tests. */
export interface CliIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

const CONFIG_HELP = `  -c, --config PATH   config file (default: $TOKEN_ROTATOR_CONFIG or ${DEFAULT_CONFIG_PATH})
      --log-level L   ${LOG_LEVELS.join('|')}
                      (default: $TOKEN_ROTATOR_LOG_LEVEL, else the config's log_level, else info)
  -h, --help          this help`;

const commands: Record<string, Command> = {
  run: {
    summary: 'run one pass: rotate every provider that is missing or due',
    usage: `token-rotator run [--provider NAME]... [--force] [--dry-run] [--json]
                  [--pushgateway URL [--pushgateway-instance NAME]]

Rotates every provider whose token is missing or due, then exits:
0 when every provider is fresh or rotated, 1 when any failed, 2 on a config error.

  -p, --provider NAME only this provider (repeatable)
      --force         rotate even fresh tokens and ignore back-off
      --dry-run       decide and report, call nothing, write nothing (and push nothing)
      --json          print the pass as one object:
                      {schema, started_at, duration_ms, ok, counts, outcomes}
      --pushgateway URL
                      after the pass, push its metrics to this Prometheus Pushgateway
                      (default: $${PUSHGATEWAY_ENV}), replacing the group
                      job="token-rotator"; a failed push is logged and leaves the
                      exit code alone
      --pushgateway-instance NAME
                      the group's instance label (default: $${PUSHGATEWAY_INSTANCE_ENV},
                      else none); keep it the same from run to run`,
    options: {
      provider: { type: 'string', short: 'p', multiple: true },
      force: { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      json: { type: 'boolean' },
      pushgateway: { type: 'string' },
      'pushgateway-instance': { type: 'string' },
    },
    async run(ctx) {
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
      const metrics =
        pushgateway === undefined || dryRun
          ? undefined
          : new RotatorMetrics({
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
        if (metrics && pushgateway) await pushPassMetrics(metrics, pushgateway, logger);
        stop.dispose();
        await rotator.close();
      }
    },
  },
  daemon: {
    summary: 'run passes on the config schedule until SIGTERM or SIGINT',
    usage: `token-rotator daemon [--provider NAME]... [--listen HOST:PORT]

Runs a pass at start and then on policy.schedule (node-cron, no overlap). On SIGTERM or
SIGINT it finishes the pass in flight, releasing its leases, and exits 0.

  -p, --provider NAME only this provider (repeatable)
      --listen H:P    serve GET /healthz (alive), /readyz (store reachable, a pass
                      within twice the schedule gap; an expired token is left to
                      /metrics) and /metrics (Prometheus) on HOST:PORT, e.g.
                      127.0.0.1:9464 or [::1]:9464`,
    options: { provider: { type: 'string', short: 'p', multiple: true }, listen: { type: 'string' } },
    async run(ctx) {
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
    },
  },
  status: {
    summary: 'show each provider: time to expiry, last method, last error',
    usage: `token-rotator status [--json]

Reads the store only. Exits 1 when a provider has no valid token, or when no pass was
recorded within twice the schedule gap (the dead-man signal: is the scheduler running?);
each problem is also a line on stderr.

      --json          print one object: {schema, providers, last_pass, problems, ok}`,
    options: { json: { type: 'boolean' } },
    async run(ctx) {
      const { rotator } = await ctx.open();
      try {
        const [rows, heartbeat] = await Promise.all([rotator.status(), rotator.heartbeat()]);
        const now = Date.now();
        const problems = statusProblems(rows, heartbeat, rotator.gapSeconds, now);
        ctx.io.stdout.write(
          ctx.values['json']
            ? jsonLine(statusOutput(rows, heartbeat, rotator.gapSeconds, now))
            : `${formatStatus(rows)}\n${describeLastPass(heartbeat, now)}\n`,
        );
        for (const problem of problems) ctx.io.stderr.write(`token-rotator status: ${problem.message}\n`);
        return problems.length === 0 ? EXIT.ok : EXIT.failed;
      } finally {
        await rotator.close();
      }
    },
  },
  validate: {
    summary: 'check the config, its references and the schedule, then exit',
    usage: `token-rotator validate [--json]

Parses the config, resolves every reference (reading \${store:…} ones from the store),
builds every provider and checks that policy.schedule can keep each token fresh.
Exits 0 when all is well, 2 naming each problem otherwise, 1 when the store cannot be
reached. Calls no provider.

      --json          also print the verdict as one object on stdout:
                      {schema, valid: true, config, providers, store, gap_seconds} or
                      {schema, valid: false, problems: [{class, code, message, path}]}`,
    options: { json: { type: 'boolean' } },
    async run(ctx) {
      const json = ctx.values['json'] === true;
      try {
        const { loaded, rotator } = await ctx.open();
        try {
          const config = await rotator.check();
          const facts = {
            config: loaded.path,
            providers: Object.keys(config.providers).length,
            store: loaded.store.kind,
            gapSeconds: rotator.gapSeconds,
          };
          ctx.io.stdout.write(
            json
              ? jsonLine(validOutput(facts))
              : `${facts.config}: valid (${facts.providers} providers, store ${facts.store}, passes at most ${facts.gapSeconds} s apart)\n`,
          );
          return EXIT.ok;
        } finally {
          await rotator.close();
        }
      } catch (error) {
        // The verdict on stdout; main() still writes the usual lines on stderr and picks the exit code.
        if (json) ctx.io.stdout.write(jsonLine(invalidOutput(error)));
        throw error;
      }
    },
  },
  get: {
    summary: 'print the current access token of a provider (for scripts)',
    usage: `token-rotator get PROVIDER

Prints the provider's current access token and a newline on stdout. Exits 1 when there
is no valid token.`,
    options: {},
    positionals: 1,
    async run(ctx) {
      const name = ctx.positionals[0];
      if (name === undefined) throw new UsageError('get needs a PROVIDER');
      const { rotator } = await ctx.open();
      try {
        const token = await createTokenReader({ store: rotator.store, refreshMarginSeconds: 0 }).get(name);
        ctx.io.stdout.write(`${token.accessToken}\n`);
        return EXIT.ok;
      } finally {
        await rotator.close();
      }
    },
  },
  prune: {
    summary: 'remove what an earlier release of the store left behind',
    usage: `token-rotator prune [--dry-run]

Removes records an earlier release of the store kept and this one no longer reads or
writes, each only once the record it held exists in the current layout (AWS: the rings
of release 0.1, see the README). Lists each name removed and each kept with the reason.
Calls no provider. A store with nothing of the kind says so and exits 0.

      --dry-run       list what would be removed, remove nothing`,
    options: { 'dry-run': { type: 'boolean' } },
    async run(ctx) {
      const { rotator } = await ctx.open();
      try {
        const store = rotator.store;
        if (!isPruner(store)) {
          ctx.io.stdout.write(`the ${store.kind} store keeps nothing an earlier release left behind\n`);
          return EXIT.ok;
        }
        const dryRun = ctx.values['dry-run'] === true;
        const report = await store.prune({ dryRun });
        const verb = dryRun ? 'would remove' : 'removed';
        for (const name of report.removed) ctx.io.stdout.write(`${verb} ${name}\n`);
        for (const { name, reason } of report.kept) ctx.io.stdout.write(`kept ${name}: ${reason}\n`);
        ctx.io.stdout.write(`${report.removed.length} ${verb}, ${report.kept.length} kept\n`);
        return EXIT.ok;
      } finally {
        await rotator.close();
      }
    },
  },
  sandbox: {
    summary: "serve the vendors' token endpoints locally, with a ready config, to rehearse",
    usage: `token-rotator sandbox [--port N] [--dir DIR] [--short]

Starts the provider sandbox (Keliweb API v2 and Fatture, Klikoo, generic OAuth 2.0) on
127.0.0.1 with freshly generated demo credentials, writes a config for it to
DIR/token-rotator.yaml (credentials in DIR/secrets, mode 0600) and serves until Ctrl-C.

      --port N        port to listen on (default: a free one)
      --dir DIR       where to write the config (default: .token-rotator/sandbox)
      --short         short token lifetimes and a 5-second schedule, to watch rotations`,
    options: { port: { type: 'string' }, dir: { type: 'string' }, short: { type: 'boolean' } },
    async run(ctx) {
      const port = Number(ctx.values['port'] ?? '0');
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be a port number');
      await runSandboxCommand({
        port,
        dir: text(ctx.values['dir']) ?? '.token-rotator/sandbox',
        short: ctx.values['short'] === true,
        out: ctx.io.stdout,
      });
      return EXIT.ok;
    },
  },
  demo: {
    summary: 'watch it work: sandbox providers, short lifetimes, the daemon and a live table',
    usage: `token-rotator demo [--dir DIR]

Starts the sandbox with 45-60 s tokens, writes a config to DIR (default
.token-rotator/demo) and runs the daemon every 5 s on the embedded file store, printing
the status table after each pass: refreshes, re-authentications and the sandbox's
counters. Ctrl-C stops it.`,
    options: { dir: { type: 'string' } },
    async run(ctx) {
      await runDemo({
        dir: text(ctx.values['dir']) ?? '.token-rotator/demo',
        out: ctx.io.stdout,
        err: ctx.io.stderr,
        isTTY: 'isTTY' in ctx.io.stdout && ctx.io.stdout.isTTY === true,
        levels: ctx.levels,
      });
      return EXIT.ok;
    },
  },
  schema: {
    summary: 'print the JSON Schema of the config file',
    usage: `token-rotator schema

Prints the JSON Schema of the config, for editors (yaml-language-server, VS Code).`,
    options: {},
    async run(ctx) {
      ctx.io.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
      return EXIT.ok;
    },
  },
};

/** True when the store can remove an earlier release's leftovers. */
function isPruner(store: SecretStore): store is SecretStore & RecordPruner {
  return typeof (store as Partial<RecordPruner>).prune === 'function';
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
async function pushPassMetrics(metrics: RotatorMetrics, push: { url: string; instance?: string }, logger: Logger) {
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

/** Validates `--listen` before anything else runs. */
function listenOption(value: string | undefined): ListenAddress | undefined {
  if (value === undefined) return undefined;
  try {
    return parseListen(value);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * The package's version, read from the `package.json` two folders above this file: the
 * package root, whether this runs as `dist/runtimes/cli.js` (a checkout, the container
 * image, an installed package, where npm always ships `package.json`) or as the source.
 * @throws {Error} when that file cannot be read or names no version.
 */
export function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version?: unknown;
  };
  if (typeof manifest.version !== 'string') throw new Error('package.json names no version');
  return manifest.version;
}

function mainHelp(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  return `token-rotator: keeps API access tokens fresh in a store

Usage: token-rotator COMMAND [options]

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
  .join('\n')}

Options:
  -V, --version  print the version (package.json's) and exit
  -h, --help     this help

Run 'token-rotator COMMAND --help' for a command's options.
Exit codes: 0 ok, 1 a provider failed, 2 config or usage error.`;
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(`${mainHelp()}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`token-rotator: unknown command "${name}"\n\n${mainHelp()}\n`);
    return EXIT.usage;
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...rest],
      options: { ...common, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.positionals.length > (command.positionals ?? 0)) {
      throw new UsageError(`unexpected argument "${parsed.positionals[command.positionals ?? 0]}"`);
    }
  } catch (error) {
    io.stderr.write(
      `token-rotator ${name}: ${error instanceof Error ? error.message : String(error)}\n\nUsage: ${command.usage}\n${CONFIG_HELP}\n`,
    );
    return EXIT.usage;
  }
  const { values } = parsed;
  if (values['help']) {
    io.stdout.write(`Usage: ${command.usage}\n${CONFIG_HELP}\n`);
    return EXIT.ok;
  }
  const levels = { flag: text(values['log-level']), env: io.env };
  const path = configPath(text(values['config']), io.env);
  try {
    // A level pino does not know is a usage error, reported before any config or store is read.
    resolveLogLevel(levels);
    const context: Context = {
      values,
      positionals: parsed.positionals,
      io,
      levels,
      async open() {
        const loaded = await loadConfig(path, io.env);
        const logger = runtimeLogger(levels, io.stderr);
        return { loaded, logger, rotator: openRotator(loaded, logger, levels) };
      },
    };
    return await command.run(context);
  } catch (error) {
    if (error instanceof LogLevelError) {
      io.stderr.write(`token-rotator ${name}: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof ConfigError) {
      io.stderr.write(
        `token-rotator ${name}: invalid config ${path}\n${error.issues.map((i) => `  ${i.path ? `${i.path}: ` : ''}${i.message}`).join('\n')}\n`,
      );
      return EXIT.usage;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`token-rotator ${name}: ${error.message}\n\nUsage: ${command.usage}\n`);
      return EXIT.usage;
    }
    const code = error instanceof RotatorError ? ` [${error.code}]` : '';
    io.stderr.write(`token-rotator ${name}: ${describeError(error)}${code}\n`);
    return EXIT.failed;
  }
}
