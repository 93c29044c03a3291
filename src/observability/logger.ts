/**
 * The logger: pino JSON lines on stderr (stdout belongs to command output such as
 * `token-rotator get`). Secrets are kept out by design (the code logs fingerprints,
 * never values) and, as a second line of defence, by replacing the value of any field named
 * like a secret ({@link redacted}).
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

/** What a secret field's value is replaced with. */
export const CENSOR = '[redacted]';

const SECRET_KEYS: ReadonlySet<string> = new Set(REDACTED_KEYS);

/** How deep {@link redacted} looks: pino's `redact` paths went three levels down. */
const MAX_REDACT_DEPTH = 8;

/**
 * `value` with the value of every field named in {@link REDACTED_KEYS}, at any depth up to
 * {@link MAX_REDACT_DEPTH} in objects and arrays, replaced by {@link CENSOR}. The input is
 * never changed: what holds such a field is copied, the rest shared. One look-up per key,
 * where pino's `redact` matched each of its 51 path patterns against every value logged,
 * about 30 µs a line (issue 13).
 */
export function redacted<T>(value: T, depth = 0): T {
  if (value === null || typeof value !== 'object' || depth >= MAX_REDACT_DEPTH || ArrayBuffer.isView(value))
    return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const checked = redacted(item, depth + 1);
      if (checked !== item) {
        copy ??= value.slice();
        copy[i] = checked;
      }
    }
    return (copy ?? value) as T;
  }
  const fields = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const item = fields[key];
    const checked = SECRET_KEYS.has(key) && item !== undefined ? CENSOR : redacted(item, depth + 1);
    if (checked !== item) {
      copy ??= { ...fields };
      copy[key] = checked;
    }
  }
  return (copy ?? value) as T;
}

/**
 * A log call's object as written: a real Error under `err` serialised by pino's standard
 * serializer (a plain `{ class, code, message }` is kept as it is: the serializer would turn
 * it into `{"type":"Object","stack":""}`), then {@link redacted}.
 */
function logged(object: Record<string, unknown>): Record<string, unknown> {
  const err = object['err'];
  return redacted(err instanceof Error ? { ...object, err: pino.stdSerializers.err(err) } : object);
}

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; default stderr. */
  readonly destination?: NodeJS.WritableStream;
}

/** Creates the process logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const logger = pino(
    {
      name: 'token-rotator',
      level: options.level ?? 'info',
      base: { pid: process.pid },
      // Every line redacted on its way out (see redacted).
      formatters: { log: logged },
      // What logged() made of an Error passes through; pino's own serializer would turn it
      // into `{"type":"Object","stack":""}` again.
      serializers: { err: (value: unknown) => (value instanceof Error ? pino.stdSerializers.err(value) : value) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
  // pino applies no formatter to a child's bindings: they are redacted here, for every
  // descendant (a child inherits `child` from its parent).
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, childOptions) {
    return child.call(this, redacted(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

/** A logger that discards everything, for library use and unit tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
