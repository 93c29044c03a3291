/**
 * The exit codes and environment variable names the runtimes share with the CLI's help,
 * in a module of their own so that `--help` quotes them without loading the door.
 */

/** Exit codes of the CLI: 0 ok, 1 a provider failed (or no token), 2 a config or usage error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** The Pushgateway `run` pushes its metrics to when `--pushgateway` is not given. */
export const PUSHGATEWAY_ENV = 'TOKEN_ROTATOR_PUSHGATEWAY';

/**
 * The `instance` label of `run`'s pushes when `--pushgateway-instance` is not given
 * (default: none). Keep it stable across runs: every push replaces its group.
 */
export const PUSHGATEWAY_INSTANCE_ENV = 'TOKEN_ROTATOR_PUSHGATEWAY_INSTANCE';
