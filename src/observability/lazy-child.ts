/**
 * A child logger made only when it is used (see {@link lazyChild}). Type-only imports: the
 * engine uses it without loading pino itself.
 */
import type { Logger } from './logger.js';

/** pino's methods that write a line at their level. */
const LINE_METHODS: ReadonlySet<PropertyKey> = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);

function discard(): void {}

/**
 * `parent.child(bindings)`, made only when a line is written at a level `parent` enables
 * (or when anything else of it is used). pino serialises (and redacts) a child's bindings
 * when it is made: about 20 µs, paid by every provider of every pass although a fresh
 * provider writes no line at the default level (issue 13).
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  const made = () => {
    child ??= parent.child(bindings);
    return child;
  };
  return new Proxy(parent, {
    get(_target, property) {
      if (child === undefined && LINE_METHODS.has(property) && !parent.isLevelEnabled(property as string))
        return discard;
      const logger = made();
      const value: unknown = Reflect.get(logger, property, logger);
      return typeof value === 'function' ? value.bind(logger) : value;
    },
  });
}
