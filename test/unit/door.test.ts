/**
 * The runtime door's pure parts: which log level wins, what a pass means for an exit code
 * and for metrics, and how SIGTERM/SIGINT stop a runtime. Signals come from an emitter
 * standing in for `process`, so nothing here signals the test runner itself.
 */
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/schema.js';
import type { PassSummary } from '../../src/engine/pass.js';
import { ConfigError, ErrorCodes, RotatorError } from '../../src/errors.js';
import { LOG_LEVELS } from '../../src/observability/logger.js';
import { RotatorMetrics } from '../../src/observability/metrics.js';
import {
  configPath,
  EXIT,
  emfReport,
  errorCode,
  LogLevelError,
  passExitCode,
  prometheusReport,
  reportedPass,
  resolveLogLevel,
  SIGNAL_EXIT,
  stopOnSignals,
  untilAborted,
} from '../../src/runtimes/door.js';

const VALID_LEVELS = /fatal, error, warn, info, debug, trace, silent/;

function summary(ok: boolean): PassSummary {
  return {
    startedAt: '2026-03-01T00:00:00.000Z',
    durationMs: 1500,
    ok,
    counts: {
      fresh: 0,
      rotated: ok ? 1 : 0,
      repaired: 0,
      'would-rotate': 0,
      busy: 0,
      backoff: 0,
      paced: 0,
      failed: ok ? 0 : 1,
    },
    outcomes: [
      ok
        ? {
            provider: 'klikoo',
            status: 'rotated',
            ok: true,
            method: 'obtain',
            reason: 'due',
            expiresAt: '2026-03-01T00:15:00.000Z',
            generation: 2,
            durationMs: 10,
          }
        : {
            provider: 'klikoo',
            status: 'failed',
            ok: false,
            method: 'obtain',
            reason: 'due',
            durationMs: 10,
            error: { class: 'retryable', code: 'PROVIDER_RETRYABLE', message: 'token endpoint unreachable' },
          },
    ],
  };
}

/** Throws unless `run` throws a LogLevelError; returns it. */
function levelError(run: () => unknown): LogLevelError {
  try {
    run();
  } catch (error) {
    if (error instanceof LogLevelError) return error;
    throw error;
  }
  throw new Error('expected a LogLevelError');
}

describe('resolveLogLevel', () => {
  it('prefers --log-level, then TOKEN_ROTATOR_LOG_LEVEL, then the config, then info', () => {
    const env = { TOKEN_ROTATOR_LOG_LEVEL: 'debug' };

    expect(resolveLogLevel({ flag: 'trace', env, config: 'warn' })).toBe('trace');
    expect(resolveLogLevel({ env, config: 'warn' })).toBe('debug');
    expect(resolveLogLevel({ env: {}, config: 'warn' })).toBe('warn');
    expect(resolveLogLevel({ env: {} })).toBe('info');
    expect(resolveLogLevel({})).toBe('info');
  });

  it('treats an empty or blank TOKEN_ROTATOR_LOG_LEVEL as unset, as a deployment template leaves it', () => {
    expect(resolveLogLevel({ env: { TOKEN_ROTATOR_LOG_LEVEL: '' }, config: 'error' })).toBe('error');
    expect(resolveLogLevel({ env: { TOKEN_ROTATOR_LOG_LEVEL: '  ' }, config: 'error' })).toBe('error');
  });

  it('refuses a --log-level pino does not know, naming the flag and the valid levels', () => {
    const error = levelError(() => resolveLogLevel({ flag: 'verbose', env: {} }));

    expect(error).toBeInstanceOf(ConfigError);
    expect(error.code).toBe(ErrorCodes.CONFIG_INVALID);
    expect(error.source).toBe('--log-level');
    expect(error.message).toMatch(/^--log-level: "verbose" is not a log level; use one of /);
    expect(error.message).toMatch(VALID_LEVELS);
  });

  it('refuses an empty --log-level: a flag given empty is a mistake, not a default', () => {
    expect(levelError(() => resolveLogLevel({ flag: '', config: 'info' })).source).toBe('--log-level');
  });

  it('refuses an invalid TOKEN_ROTATOR_LOG_LEVEL even when the config has a valid one', () => {
    const error = levelError(() => resolveLogLevel({ env: { TOKEN_ROTATOR_LOG_LEVEL: 'verbose' }, config: 'info' }));

    expect(error.source).toBe('TOKEN_ROTATOR_LOG_LEVEL');
    expect(error.issues).toEqual([{ path: 'TOKEN_ROTATOR_LOG_LEVEL', message: expect.stringMatching(VALID_LEVELS) }]);
  });

  it('reads only the source that wins: a valid flag overrides an invalid environment level', () => {
    expect(resolveLogLevel({ flag: 'warn', env: { TOKEN_ROTATOR_LOG_LEVEL: 'verbose' } })).toBe('warn');
  });

  it('is case-sensitive, as pino is', () => {
    expect(levelError(() => resolveLogLevel({ flag: 'INFO' })).message).toMatch(/"INFO" is not a log level/);
  });

  it('never repeats a value that is not a short word, in case a secret was pasted into the variable', () => {
    const pasted = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc';

    const error = levelError(() => resolveLogLevel({ env: { TOKEN_ROTATOR_LOG_LEVEL: pasted } }));

    expect(error.message).toBe(`TOKEN_ROTATOR_LOG_LEVEL: not a log level; use one of ${LOG_LEVELS.join(', ')}`);
    expect(JSON.stringify(error)).not.toContain(pasted);
  });

  it('accepts exactly the levels the config schema accepts for log_level', () => {
    const schema = configJsonSchema() as { properties: { log_level: { enum: string[] } } };

    expect([...LOG_LEVELS]).toEqual(schema.properties.log_level.enum);
    for (const level of LOG_LEVELS) expect(resolveLogLevel({ flag: level })).toBe(level);
  });
});

describe('configPath', () => {
  it('prefers --config, then TOKEN_ROTATOR_CONFIG, then token-rotator.yaml', () => {
    expect(configPath('/etc/a.yaml', { TOKEN_ROTATOR_CONFIG: '/etc/b.yaml' })).toBe('/etc/a.yaml');
    expect(configPath(undefined, { TOKEN_ROTATOR_CONFIG: '/etc/b.yaml' })).toBe('/etc/b.yaml');
    expect(configPath(undefined, {})).toBe('token-rotator.yaml');
  });
});

describe('passExitCode', () => {
  it('is 0 when every provider is fresh or rotated and 1 when any is not', () => {
    expect(passExitCode(summary(true))).toBe(EXIT.ok);
    expect(passExitCode(summary(false))).toBe(EXIT.failed);
    expect([EXIT.ok, EXIT.failed, EXIT.usage]).toEqual([0, 1, 2]);
  });
});

describe('reportedPass', () => {
  it('feeds a pass that ran to the Prometheus metrics and hands the summary on', async () => {
    const metrics = new RotatorMetrics();
    const failed = summary(false);

    const result = await reportedPass(
      async () => failed,
      prometheusReport(metrics, () => 1_000_000),
    );

    expect(result).toBe(failed);
    expect(metrics.passes('failed')).toBe(1);
    expect(metrics.passes('error')).toBe(0);
    expect(metrics.lastPassMs).toBe(1_000_000);
  });

  it('counts a pass that could not run as an error and rethrows the same error', async () => {
    const metrics = new RotatorMetrics();
    const cause = new RotatorError(ErrorCodes.STORE_UNAVAILABLE, 'store down');

    const thrown = await reportedPass(() => Promise.reject(cause), prometheusReport(metrics)).catch(
      (error: unknown) => error,
    );

    expect(thrown).toBe(cause);
    expect(metrics.passes('error')).toBe(1);
    expect(metrics.passes('ok') + metrics.passes('failed')).toBe(0);
    expect(metrics.lastPassMs).toBeUndefined();
  });

  it('writes a pass that ran as EMF lines, and nothing for a pass that could not run', async () => {
    const out = new PassThrough();
    let written = '';
    out.on('data', (chunk: Buffer) => (written += chunk.toString()));
    const report = emfReport(out, { service: 'rotate', requestId: 'req-1', now: Date.parse('2026-03-01T00:00:00Z') });

    await reportedPass(async () => summary(true), report);
    const afterRan = written;
    await reportedPass(() => Promise.reject(new Error('store down')), report).catch(() => undefined);

    const lines = afterRan
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      Service: 'rotate',
      Provider: 'klikoo',
      Rotations: 1,
      Failures: 0,
      SecondsToExpiry: 900,
      RequestId: 'req-1',
    });
    expect(lines[1]).toMatchObject({ Service: 'rotate', PassDuration: 1500 });
    expect(written).toBe(afterRan);
  });
});

describe('errorCode', () => {
  it('is the string code of a rotator or Node error, and undefined otherwise', () => {
    expect(errorCode(new RotatorError(ErrorCodes.LEASE_BUSY, 'busy'))).toBe('LEASE_BUSY');
    expect(errorCode(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
    expect(errorCode(Object.assign(new Error('odd'), { code: 7 }))).toBeUndefined();
    expect(errorCode('text')).toBeUndefined();
  });
});

describe('stopOnSignals', () => {
  function harness() {
    const source = new EventEmitter();
    const announced: string[] = [];
    const exits: number[] = [];
    const stop = stopOnSignals({
      source,
      announce: (signal) => announced.push(signal),
      exit: (code) => exits.push(code),
    });
    return { source, announced, exits, stop };
  }

  it('aborts its signal at the first SIGTERM and announces it once, without exiting', async () => {
    const { source, announced, exits, stop } = harness();

    source.emit('SIGTERM', 'SIGTERM');
    await untilAborted(stop.signal);

    expect(stop.signal.aborted).toBe(true);
    expect(announced).toEqual(['SIGTERM']);
    expect(exits).toEqual([]);
  });

  it('exits at once with 143 at a second SIGTERM and 130 at a second SIGINT', () => {
    const term = harness();
    term.source.emit('SIGINT', 'SIGINT');
    term.source.emit('SIGTERM', 'SIGTERM');
    const int = harness();
    int.source.emit('SIGTERM', 'SIGTERM');
    int.source.emit('SIGINT', 'SIGINT');

    expect(term.exits).toEqual([143]);
    expect(int.exits).toEqual([130]);
    expect(SIGNAL_EXIT).toEqual({ SIGINT: 130, SIGTERM: 143 });
    expect(term.announced).toEqual(['SIGINT']);
  });

  it('removes its listeners when disposed, so a later signal reaches whoever listens next', () => {
    const { source, exits, stop } = harness();
    expect(source.listenerCount('SIGTERM') + source.listenerCount('SIGINT')).toBe(2);

    stop.dispose();
    stop.dispose();
    source.emit('SIGTERM', 'SIGTERM');

    expect(source.listenerCount('SIGTERM') + source.listenerCount('SIGINT')).toBe(0);
    expect(stop.signal.aborted).toBe(false);
    expect(exits).toEqual([]);
  });

  it('listens on process by default, and leaves it as it found it', () => {
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];

    const stop = stopOnSignals();
    const during = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    stop.dispose();

    expect(during).toEqual([before[0]! + 1, before[1]! + 1]);
    expect([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]).toEqual(before);
  });
});
