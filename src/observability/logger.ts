/**
 * The logger: pino JSON lines on stderr (stdout belongs to command output such as
 * `token-rotator get`). Secrets are kept out by design (the code logs fingerprints,
 * never values) and by pino `redact` as a second line of defence.
 */
import { type Logger, pino } from 'pino';

export type { Logger };

import type { LogLevel } from '../common/log-levels.js';

export { isLogLevel, LOG_LEVELS, type LogLevel } from '../common/log-levels.js';

/** Field names that hold secrets anywhere in a log object; pino replaces their values. */
export const REDACTED_KEYS = [
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'client_secret',
  'clientSecret',
  'password',
  'private_key',
  'privateKey',
  'tls_key',
  'tlsKey',
  'client_assertion',
  'token',
  'secret',
  'authorization',
  'Authorization',
  'Open-Api-Signature',
] as const;

const REDACT_PATHS = REDACTED_KEYS.flatMap((key) => {
  const safe = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
  const dotted = safe.startsWith('[') ? safe : `.${safe}`;
  return [safe, `*${dotted}`, `*.*${dotted}`];
});

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; default stderr. */
  readonly destination?: NodeJS.WritableStream;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'token-rotator',
      level: options.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: { pid: process.pid },
      // pino's `err` serializer turns a plain `{ class, code, message }` into
      // `{"type":"Object","stack":""}`; only a real Error needs serializing.
      serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that discards everything, for library use and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
