/**
 * The daemon loop above the rotator: it stops on the door's stop signal (not on process
 * signals of its own), lets the pass in flight finish, and reports every pass through
 * the door's Prometheus report. The rotator is a scripted stand-in; the real one, under
 * real signals, is proven in test/e2e/daemon*.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RotatorMetrics } from '../../src/observability/metrics.js';
import type { PassOptions, Rotator } from '../../src/rotator.js';
import { runDaemon } from '../../src/runtimes/daemon.js';
import { MemoryStore } from '../helpers/memory-store.js';

const ok: PassSummary = {
  startedAt: '2026-03-01T00:00:00.000Z',
  durationMs: 5,
  ok: true,
  counts: { fresh: 1, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 },
  outcomes: [{ provider: 'api', status: 'fresh', ok: true, expiresAt: '2099-01-01T00:00:00.000Z', durationMs: 1 }],
};

/** A rotator whose passes run `script` in turn, recording the options each got. */
function scriptedRotator(
  script: readonly ((options: PassOptions) => Promise<PassSummary>)[],
): Rotator & { readonly calls: PassOptions[] } {
  const calls: PassOptions[] = [];
  return {
    calls,
    store: new MemoryStore(),
    gapSeconds: 3600,
    async pass(options = {}) {
      calls.push(options);
      const step = script[calls.length - 1];
      if (step === undefined) throw new Error('no more passes scripted');
      return step(options);
    },
    status: async () => [],
    heartbeat: async () => undefined,
    check: () => Promise.reject(new Error('not used')),
    settle: async () => ({ abandoned: 0 }),
    close: async () => undefined,
  };
}

describe('runDaemon', () => {
  it('runs a pass at start, then on the stop signal lets the pass in flight finish and resolves', async () => {
    const stop = new AbortController();
    let finished = false;
    const rotator = scriptedRotator([
      async () => {
        stop.abort(); // a SIGTERM while the first pass is at the vendor
        await new Promise((resolve) => setTimeout(resolve, 50));
        finished = true;
        return ok;
      },
    ]);
    const metrics = new RotatorMetrics();
    const seen: PassSummary[] = [];

    await runDaemon({
      rotator,
      logger: silentLogger(),
      schedule: '0 0 1 1 *',
      stop: stop.signal,
      metrics,
      providers: ['api'],
      onPass: (s) => seen.push(s),
    });

    expect(finished).toBe(true);
    expect(rotator.calls).toHaveLength(1);
    expect(rotator.calls[0]?.signal).toBe(stop.signal);
    expect(rotator.calls[0]?.providers).toEqual(['api']);
    expect(seen).toEqual([ok]);
    expect(metrics.passes('ok')).toBe(1);
  });

  it('runs no pass when stopped before it starts', async () => {
    const stop = new AbortController();
    stop.abort();
    const rotator = scriptedRotator([]);

    await runDaemon({ rotator, logger: silentLogger(), schedule: '0 0 1 1 *', stop: stop.signal });

    expect(rotator.calls).toHaveLength(0);
  });

  it('counts a pass that could not run as an error and runs the next one on schedule', async () => {
    const stop = new AbortController();
    const rotator = scriptedRotator([
      () => Promise.reject(Object.assign(new Error('store unreachable'), { code: 'STORE_UNAVAILABLE' })),
      async () => {
        stop.abort();
        return ok;
      },
    ]);
    const metrics = new RotatorMetrics();

    await runDaemon({ rotator, logger: silentLogger(), schedule: '* * * * * *', stop: stop.signal, metrics });

    expect(rotator.calls).toHaveLength(2);
    expect(metrics.passes('error')).toBe(1);
    expect(metrics.passes('ok')).toBe(1);
  });

  it('does not listen for process signals itself: the door does', async () => {
    const stop = new AbortController();
    const before = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
    let during: number[] = [];
    const rotator = scriptedRotator([
      async () => {
        during = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')];
        stop.abort();
        return ok;
      },
    ]);

    await runDaemon({ rotator, logger: silentLogger(), schedule: '0 0 1 1 *', stop: stop.signal });

    expect(during).toEqual(before);
  });
});

describe('runDaemon: full checks', () => {
  const minutes = (n: number) => n * 60_000;

  it('reads every provider at start and once per full-check interval, only those possibly due in between', async () => {
    const stop = new AbortController();
    let clock = Date.parse('2026-03-01T00:00:00.000Z');
    const advance = (ms: number) => async () => {
      clock += ms;
      return ok;
    };
    const rotator = scriptedRotator([
      advance(minutes(4)),
      advance(minutes(4)),
      advance(minutes(2)), // 10 minutes after the full pass at start
      async () => {
        stop.abort();
        return ok;
      },
    ]);

    await runDaemon({
      rotator,
      logger: silentLogger(),
      schedule: '* * * * * *',
      stop: stop.signal,
      now: () => clock,
      fullCheckEveryMs: minutes(10),
    });

    expect(rotator.calls.map((options) => options.onlyPossiblyDue === true)).toEqual([false, true, true, false]);
    expect(rotator.calls.every((options) => options.isolateReferences === true)).toBe(true);
  });

  it('makes the next pass a full one when a full pass could not run', async () => {
    const stop = new AbortController();
    const rotator = scriptedRotator([
      () => Promise.reject(Object.assign(new Error('store unreachable'), { code: 'STORE_UNAVAILABLE' })),
      async () => ok,
      async () => {
        stop.abort();
        return ok;
      },
    ]);

    await runDaemon({ rotator, logger: silentLogger(), schedule: '* * * * * *', stop: stop.signal, now: () => 0 });

    expect(rotator.calls.map((options) => options.onlyPossiblyDue === true)).toEqual([false, false, true]);
  });
});
