/**
 * The `token-rotator` command line. Exit codes: 0 every provider fresh or rotated,
 * 1 a provider failed (or, for `get`, no token), 2 a config or usage error — reported
 * before any store or provider is touched.
 *
 * This file holds the usage text, the options and the exit codes, and imports nothing
 * heavy: each command's implementation is `commands/<name>.ts`, imported only once the
 * command's arguments parse, so `--help`, `--version` and a usage error load a handful
 * of modules instead of the config loader, the stores, zod, yaml, pino and the AWS SDK.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { LOG_LEVELS } from '../common/log-levels.js';
import { DEFAULT_CONFIG_PATH } from '../config/default-path.js';
import { ConfigError, describeError, RotatorError } from '../errors.js';
import { type CliIO, type CommandContext, type CommandModule, text, UsageError } from './commands/contract.js';
import { EXIT, PUSHGATEWAY_ENV, PUSHGATEWAY_INSTANCE_ENV } from './names.js';
import { packageVersion } from './version.js';

export type { CliIO };
export { EXIT, packageVersion };

const common = {
  config: { type: 'string', short: 'c' },
  help: { type: 'boolean', short: 'h' },
  'log-level': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

/** A command: its usage text and options, here; its implementation, imported when it runs. */
interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: ParseArgsConfig['options'];
  readonly positionals?: number;
  /** Its secrets come on standard input: an extra argument may be one, so it is never quoted back. */
  readonly secretsOnStdin?: boolean;
  /**
   * It runs until stopped and is idle between passes: V8's young generation is kept at its
   * initial size (`heap.ts`), set before any of its modules load.
   */
  readonly longRunning?: boolean;
  /** Imports `commands/<name>.ts`, only once the arguments are known to be valid. */
  load(): Promise<CommandModule>;
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
    load: () => import('./commands/run.js'),
  },
  daemon: {
    summary: 'run passes on the config schedule until SIGTERM or SIGINT',
    usage: `token-rotator daemon [--provider NAME]... [--listen HOST:PORT]

Runs a pass at start and then on policy.schedule (cron syntax, no overlap). On SIGTERM or
SIGINT it finishes the pass in flight, releasing its leases, and exits 0.

  -p, --provider NAME only this provider (repeatable)
      --listen H:P    serve GET /healthz (alive), /readyz (store reachable, a pass
                      within twice the schedule gap; an expired token is left to
                      /metrics) and /metrics (Prometheus) on HOST:PORT, e.g.
                      127.0.0.1:9464 or [::1]:9464`,
    options: { provider: { type: 'string', short: 'p', multiple: true }, listen: { type: 'string' } },
    longRunning: true,
    load: () => import('./commands/daemon.js'),
  },
  status: {
    summary: 'show each provider: time to expiry, last method, last error',
    usage: `token-rotator status [--json]

Reads the store only. Exits 1 when a provider has no valid token, or when no pass was
recorded within twice the schedule gap (the dead-man signal: is the scheduler running?);
each problem is also a line on stderr.

      --json          print one object: {schema, providers, last_pass, problems, ok}`,
    options: { json: { type: 'boolean' } },
    load: () => import('./commands/status.js'),
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
    load: () => import('./commands/validate.js'),
  },
  get: {
    summary: 'print the current access token of a provider (for scripts)',
    usage: `token-rotator get PROVIDER

Prints the provider's current access token and a newline on stdout. Exits 1 when there
is no valid token.`,
    options: {},
    positionals: 1,
    load: () => import('./commands/get.js'),
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
    load: () => import('./commands/prune.js'),
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
    load: () => import('./commands/sandbox.js'),
  },
  demo: {
    summary: 'watch it work: sandbox providers, short lifetimes, the daemon and a live table',
    usage: `token-rotator demo [--dir DIR]

Starts the sandbox with 45-60 s tokens, writes a config to DIR (default
.token-rotator/demo) and runs the daemon every 5 s on the embedded file store, printing
the status table after each pass: refreshes, re-authentications and the sandbox's
counters. Ctrl-C stops it.`,
    options: { dir: { type: 'string' } },
    longRunning: true,
    load: () => import('./commands/demo.js'),
  },
  import: {
    summary: 'store a refresh token read from standard input, to rotate by refresh from it',
    usage: `token-rotator import PROVIDER < TOKEN_FILE

Reads a refresh token from standard input (never from the command line) and stores it
in PROVIDER's state record, taking the state's compare-and-set as a lease would; the
next pass refreshes from it. The input is the bare token on one line, or a JSON object
{"refresh_token", "access_token", "token_type", "expires_at" | "expires_in"} where all but
refresh_token are optional: an access token given is published at once. Exits 0 once
stored, 2 for a usage or input problem, 1 when another runner holds the lease or the
store fails. Only fingerprints of the tokens are printed or logged. See docs/import.md.`,
    options: {},
    positionals: 1,
    secretsOnStdin: true,
    load: () => import('./commands/import.js'),
  },
  revoke: {
    summary: 'decommission a provider: revoke its tokens (RFC 7009), then remove its records',
    usage: `token-rotator revoke PROVIDER [--remove-only]

Takes PROVIDER's lease, revokes its current refresh and access tokens at the provider's
revocation_url (RFC 7009), then removes its records: state/PROVIDER and tokens/PROVIDER
from the store, tokens/PROVIDER from its publish_to stores. Prints what it revoked (by
fingerprint) and removed. Remove the provider from the config afterwards, or the next
pass obtains a new token. Exits 0 once done; 2 for an unknown provider, or one without a
revocation_url unless --remove-only (nothing done); 1 when another runner holds the lease,
a store cannot remove records, or a revocation fails (nothing removed: the tokens are
still valid) or a removal fails (the message says what was done). See docs/revocation.md.

      --remove-only   remove the records without revoking anything (the tokens stay
                      valid until they expire)`,
    options: { 'remove-only': { type: 'boolean' } },
    positionals: 1,
    load: () => import('./commands/revoke.js'),
  },
  schema: {
    summary: 'print the JSON Schema of the config file',
    usage: `token-rotator schema

Prints the JSON Schema of the config, for editors (yaml-language-server, VS Code).`,
    options: {},
    load: () => import('./commands/schema.js'),
  },
};

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
      throw new UsageError(
        command.secretsOnStdin
          ? 'unexpected argument (tokens are read from standard input, never from the command line)'
          : `unexpected argument "${parsed.positionals[command.positionals ?? 0]}"`,
      );
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
  // The door (log level, config path, rotator) and the command's module are loaded only now,
  // with the arguments known to be valid: they pull in the config code, pino and the stores.
  let door: typeof import('./door.js') | undefined;
  let path = '';
  try {
    if (command.longRunning) (await import('./heap.js')).tuneHeapForDaemon();
    door = await import('./door.js');
    const { configPath, openRotator, resolveLogLevel, runtimeLogger } = door;
    path = configPath(text(values['config']), io.env);
    // A level pino does not know is a usage error, reported before any config or store is read.
    resolveLogLevel(levels);
    const context: CommandContext = {
      values,
      positionals: parsed.positionals,
      io,
      levels,
      async open() {
        const { loadConfig } = await import('../config/load.js');
        const loaded = await loadConfig(path, io.env);
        const logger = runtimeLogger(levels, io.stderr);
        return { loaded, logger, rotator: await openRotator(loaded, logger, levels) };
      },
    };
    const { run } = await command.load();
    return await run(context);
  } catch (error) {
    if (door !== undefined && error instanceof door.LogLevelError) {
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
