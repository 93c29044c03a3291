import { Writable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { lazyChild } from '../../src/observability/lazy-child.js';
import { createLogger, type LogLevel } from '../../src/observability/logger.js';

/** A logger at `level` whose lines a test reads back, with a spy on its `child`. */
function logger(level: LogLevel) {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      raw.push(chunk.toString());
      callback();
    },
  });
  const parent = createLogger({ level, destination });
  const child = vi.spyOn(parent, 'child');
  const lines = () =>
    raw
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { parent, child, lines };
}

describe('lazyChild', () => {
  it('makes no child while lines are below the level, and writes none', () => {
    const { parent, child, lines } = logger('info');
    const log = lazyChild(parent, { provider: 'klikoo' });

    log.debug({ outcome: 'fresh' }, 'provider fresh');
    log.trace('nothing');

    expect(child).not.toHaveBeenCalled();
    expect(lines()).toEqual([]);
  });

  it('makes the child once, at the first line its level writes, and every line carries the bindings', () => {
    const { parent, child, lines } = logger('info');
    const log = lazyChild(parent, { provider: 'klikoo' });

    log.info({ outcome: 'rotated' }, 'provider rotated');
    log.warn({ attempt: 2 }, 'retrying');

    expect(child).toHaveBeenCalledTimes(1);
    expect(lines()).toMatchObject([
      { level: 30, provider: 'klikoo', outcome: 'rotated', msg: 'provider rotated' },
      { level: 40, provider: 'klikoo', attempt: 2, msg: 'retrying' },
    ]);
  });

  it('writes a debug line through the child when the parent enables debug', () => {
    const { parent, lines } = logger('debug');

    lazyChild(parent, { provider: 'keliweb' }).debug({ outcome: 'fresh' }, 'provider fresh');

    expect(lines()).toMatchObject([{ level: 20, provider: 'keliweb', msg: 'provider fresh' }]);
  });

  it('hands anything else to the child: its own children and bindings', () => {
    const { parent, lines } = logger('info');
    const log = lazyChild(parent, { provider: 'klikoo' });

    expect(log.bindings()).toMatchObject({ provider: 'klikoo' });
    log.child({ attempt: 1 }).error('failed');

    expect(lines()).toMatchObject([{ level: 50, provider: 'klikoo', attempt: 1, msg: 'failed' }]);
  });

  it('still redacts what a line carries', () => {
    const { parent, lines } = logger('info');

    lazyChild(parent, { provider: 'klikoo' }).info({ refresh_token: 'do-not-log' }, 'oops');

    expect(JSON.stringify(lines())).not.toContain('do-not-log');
  });
});
