import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import type { Outcome } from '../../src/engine/rotate.js';
import { StoreError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { RotatorMetrics } from '../../src/observability/metrics.js';
import { parseListen } from '../../src/runtimes/listen.js';
import { createReadiness } from '../../src/runtimes/readiness.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function pass(outcomes: Outcome[]): PassSummary {
  return {
    startedAt: iso(T0),
    durationMs: 5,
    outcomes,
    ok: outcomes.every((o) => o.ok),
    counts: {} as PassSummary['counts'],
  };
}
const fresh = (provider: string, expiresAt: number): Outcome => ({
  provider,
  status: 'fresh',
  ok: true,
  expiresAt: iso(expiresAt),
  durationMs: 1,
});

function setup(options: { probe?: () => Promise<unknown>; storeTimeoutMs?: number } = {}) {
  const clock = { now: T0 };
  const metrics = new RotatorMetrics();
  let probes = 0;
  const readiness = createReadiness({
    metrics,
    gapSeconds: 300,
    probeStore: () => {
      probes += 1;
      return (options.probe ?? (async () => undefined))();
    },
    logger: silentLogger(),
    now: () => clock.now,
    cacheMs: 5000,
    ...(options.storeTimeoutMs === undefined ? {} : { storeTimeoutMs: options.storeTimeoutMs }),
  });
  return { clock, metrics, readiness, probes: () => probes };
}

describe('createReadiness', () => {
  it('is ready when the store answers, a pass finished within twice the gap and every token is valid', async () => {
    const { metrics, readiness } = setup();
    metrics.observePass(pass([fresh('klikoo', T0 + 900_000), fresh('keliweb', T0 + 3_600_000)]), T0);
    expect(await readiness.check()).toEqual({ ready: true, reasons: [] });
  });

  it('is not ready before the first pass has finished', async () => {
    const { readiness } = setup();
    expect(await readiness.check()).toEqual({ ready: false, reasons: ['no pass has finished yet'] });
  });

  it('fails the dead-man check once the last pass is older than twice the schedule gap', async () => {
    const { clock, metrics, readiness } = setup();
    metrics.observePass(pass([fresh('klikoo', T0 + 3_600_000)]), T0);
    clock.now = T0 + 600_000;
    expect((await readiness.check()).ready).toBe(true);
    clock.now = T0 + 601_000;
    expect(await readiness.check()).toEqual({
      ready: false,
      reasons: [
        'the last pass finished 601 s ago, more than 600 s (twice the schedule gap of 300 s): is the scheduler running?',
      ],
    });
  });

  it('stays ready when the token of a provider expired or it has none, which the metrics report instead', async () => {
    const { clock, metrics, readiness } = setup();
    metrics.observePass(
      pass([
        fresh('klikoo', T0 + 10_000),
        fresh('keliweb', T0 + 3_600_000),
        {
          provider: 'billing',
          status: 'failed',
          ok: false,
          error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: 'x' },
          durationMs: 1,
        },
      ]),
      T0,
    );
    clock.now = T0 + 12_000;
    // Formerly 503 naming klikoo (expired 2 s ago) and billing (no token): a vendor's
    // outage is not this process's, so readiness holds and the metrics carry it.
    expect(await readiness.check()).toEqual({ ready: true, reasons: [] });
    const families = parseExposition(await metrics.render(clock.now));
    expect(sampleValue(families, 'token_rotator_token_expiry_seconds', { provider: 'klikoo' })).toBe(-2);
    expect(sampleValue(families, 'token_rotator_token_expiry_seconds', { provider: 'billing' })).toBeUndefined();
    expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'billing', class: 'permanent' })).toBe(1);
  });

  it('turns ready once a first pass finished in which every vendor failed, with the failures in the metrics', async () => {
    const { metrics, readiness } = setup();
    const down = (provider: string): Outcome => ({
      provider,
      status: 'failed',
      ok: false,
      error: { class: 'retryable', code: 'PROVIDER_RETRYABLE', message: 'the vendor answered 503' },
      durationMs: 1,
    });
    expect((await readiness.check()).ready).toBe(false);

    metrics.observePass(pass([down('klikoo'), down('keliweb')]), T0);

    expect(await readiness.check()).toEqual({ ready: true, reasons: [] });
    const families = parseExposition(await metrics.render(T0));
    for (const provider of ['klikoo', 'keliweb'])
      expect(sampleValue(families, 'token_rotator_failures_total', { provider, class: 'retryable' }), provider).toBe(1);
  });

  it('reports a store that fails by its error code only, and reuses the result for a few seconds', async () => {
    const { clock, metrics, readiness, probes } = setup({
      probe: async () => {
        throw new StoreError('vault at https://vault.example:8200 answered 503 with body s3cr3t-looking');
      },
    });
    metrics.observePass(pass([fresh('klikoo', T0 + 900_000)]), T0);

    expect(await readiness.check()).toEqual({
      ready: false,
      reasons: ['the store could not be read (STORE_UNAVAILABLE)'],
    });
    clock.now = T0 + 4_999;
    await readiness.check();
    expect(probes()).toBe(1);
    clock.now = T0 + 5_000;
    await readiness.check();
    expect(probes()).toBe(2);
  });

  it('shares one store read among concurrent probes', async () => {
    const { metrics, readiness, probes } = setup({ probe: () => new Promise((resolve) => setTimeout(resolve, 20)) });
    metrics.observePass(pass([fresh('klikoo', T0 + 900_000)]), T0);
    const results = await Promise.all([readiness.check(), readiness.check(), readiness.check()]);
    expect(results.every((r) => r.ready)).toBe(true);
    expect(probes()).toBe(1);
  });

  it('reports a store that does not answer within the timeout', async () => {
    const { metrics, readiness } = setup({ probe: () => new Promise(() => {}), storeTimeoutMs: 30 });
    metrics.observePass(pass([fresh('klikoo', T0 + 900_000)]), T0);
    expect(await readiness.check()).toEqual({ ready: false, reasons: ['the store did not answer within 30 ms'] });
  });

  it('is not ready once shutting down', async () => {
    const { metrics, readiness } = setup();
    metrics.observePass(pass([fresh('klikoo', T0 + 900_000)]), T0);
    readiness.shuttingDown();
    expect(await readiness.check()).toEqual({ ready: false, reasons: ['shutting down'] });
  });
});

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:9464', { host: '127.0.0.1', port: 9464 }],
    ['0.0.0.0:9464', { host: '0.0.0.0', port: 9464 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    ['[::1]:9464', { host: '::1', port: 9464 }],
    ['[::]:65535', { host: '::', port: 65535 }],
  ])('reads %s', (value, expected) => {
    expect(parseListen(value)).toEqual(expected);
  });

  it.each([
    ['9464', /must be HOST:PORT/],
    [':9464', /must be HOST:PORT/],
    ['127.0.0.1', /must be HOST:PORT/],
    ['127.0.0.1:', /must be HOST:PORT/],
    ['127.0.0.1:http', /must be HOST:PORT/],
    ['127.0.0.1:70000', /port 70000 is out of range/],
    ['::1:9464', /must be HOST:PORT/],
    ['[zz]:9464', /must be HOST:PORT/],
    ['[1.2.3.4]:9464', /"1.2.3.4" is not an IPv6 address/],
    ['http://127.0.0.1:9464', /must be HOST:PORT/],
  ])('refuses %s', (value, message) => {
    expect(() => parseListen(value)).toThrow(message);
  });
});
