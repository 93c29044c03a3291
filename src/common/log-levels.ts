/**
 * The log levels, apart from the logger so that what only names them (the config schema,
 * the CLI's help) does not load pino.
 */

/**
 * The levels a logger accepts, most severe first; `silent` logs nothing. The config's
 * `log_level`, `--log-level` and `TOKEN_ROTATOR_LOG_LEVEL` take exactly these.
 * @see https://getpino.io/#/docs/api?id=level-string
 */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Whether `value` names a level; narrows it to {@link LogLevel}. */
export function isLogLevel(value: string): value is LogLevel {
  return LOG_LEVELS.some((level) => level === value);
}
