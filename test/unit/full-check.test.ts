import { describe, expect, it } from 'vitest';
import { FULL_CHECK_EVERY_MS, FullChecks, fullCheckEveryMs } from '../../src/runtimes/full-check.js';

describe('FullChecks', () => {
  it('makes the first pass full, then the first to start the interval or more after the last full one that ran', () => {
    const checks = new FullChecks(60_000);

    expect(checks.due(1_000)).toBe(true);
    checks.ran(1_000);
    expect(checks.due(1_000)).toBe(false);
    expect(checks.due(60_999)).toBe(false);
    expect(checks.due(61_000)).toBe(true);
    checks.ran(61_500);
    expect(checks.due(62_000)).toBe(false);
  });

  it('keeps a pass full until one is recorded as having run', () => {
    const checks = new FullChecks(60_000);

    expect(checks.due(0)).toBe(true);
    expect(checks.due(5_000)).toBe(true);
  });

  it('makes every pass full with an interval of 0, and waits 10 minutes by default', () => {
    const every = new FullChecks(0);
    every.ran(0);
    const byDefault = new FullChecks();
    byDefault.ran(0);

    expect(every.due(0)).toBe(true);
    expect(byDefault.everyMs).toBe(FULL_CHECK_EVERY_MS);
    expect(byDefault.due(FULL_CHECK_EVERY_MS - 1)).toBe(false);
    expect(byDefault.due(FULL_CHECK_EVERY_MS)).toBe(true);
  });
});

describe('fullCheckEveryMs', () => {
  it('reads TOKEN_ROTATOR_FULL_CHECK_SECONDS as whole seconds; unset or empty is the default', () => {
    expect(fullCheckEveryMs({})).toBeUndefined();
    expect(fullCheckEveryMs({ TOKEN_ROTATOR_FULL_CHECK_SECONDS: '' })).toBeUndefined();
    expect(fullCheckEveryMs({ TOKEN_ROTATOR_FULL_CHECK_SECONDS: '0' })).toBe(0);
    expect(fullCheckEveryMs({ TOKEN_ROTATOR_FULL_CHECK_SECONDS: '600' })).toBe(600_000);
  });

  it.each(['soon', '10m', '-1', '1.5', ' 60', '1e3', '1234567890'])('refuses %j, naming the variable', (value) => {
    expect(() => fullCheckEveryMs({ TOKEN_ROTATOR_FULL_CHECK_SECONDS: value })).toThrow(
      new RangeError('TOKEN_ROTATOR_FULL_CHECK_SECONDS must be a whole number of seconds (0: every pass)'),
    );
  });
});
