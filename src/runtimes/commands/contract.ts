/**
 * What the CLI hands a command and what a command module gives back. `cli.ts` parses the
 * arguments and prints the usage text with nothing but this file loaded; a command's
 * module (one file per command in this folder) is imported only when that command runs.
 * So everything here is light: types, an error class and two option readers.
 */
import type { LoadedConfig } from '../../config/load.js';
import type { Logger } from '../../observability/logger.js';
import type { Rotator } from '../../rotator.js';
import type { LogLevelSources } from '../door.js';

/** Where the CLI reads and writes; injectable for tests. */
export interface CliIO {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly env: NodeJS.ProcessEnv;
}

/** A parsed option's value, as `parseArgs` gives it for options declared at run time. */
export type OptionValue = string | boolean | (string | boolean)[] | undefined;

/** What a command runs with: its parsed arguments, where to write, and how to open the config. */
export interface CommandContext {
  readonly values: Readonly<Record<string, OptionValue>>;
  readonly positionals: readonly string[];
  readonly io: CliIO;
  /** `--log-level` and the environment, already checked to give a valid level. */
  readonly levels: Omit<LogLevelSources, 'config'>;
  /** Loads the config and opens a rotator on it, with a logger at the runtime's level. */
  open(): Promise<Opened>;
}

/** What a command works with once the config is loaded. */
export interface Opened {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly rotator: Rotator;
}

/** A command's module: `commands/<name>.ts`, imported by `cli.ts` when the command runs. */
export interface CommandModule {
  /** Runs the command and returns the exit code; a thrown error is reported by `cli.ts`. */
  run(context: CommandContext): Promise<number>;
}

/**
 * A command line the command cannot use (a missing argument, a malformed option value):
 * the CLI prints the message and the command's usage and exits 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The value of a string option, when given. */
export function text(value: OptionValue): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The values of a repeatable string option, when given. */
export function texts(value: OptionValue): string[] | undefined {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : undefined;
}
