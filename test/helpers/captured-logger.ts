import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/observability/logger.js';

/** A debug logger whose JSON lines a test can read back, parsed or as text. */
export function captureLogs(): { logger: Logger; lines: () => Record<string, any>[]; text: () => string } {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString());
      callback();
    },
  });
  return {
    logger: createLogger({ level: 'debug', destination }),
    lines: () =>
      raw.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((line) => JSON.parse(line) as Record<string, any>),
    text: () => raw.join(''),
  };
}
