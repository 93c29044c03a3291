/**
 * The prom-client side of the metrics (issue 12, "Monitoring in every runtime"): build
 * info, series present at 0 from the start, expiry as a timestamp, OpenMetrics on request,
 * one registry per instance, what a push leaves out, and the push request itself (with an
 * injected fetch: the real Pushgateway is in test/integration/pushgateway.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import type { Outcome } from '../../src/engine/rotate.js';
import {
  FAILURE_CLASSES,
  METRICS_CONTENT_TYPE,
  metricsFormatFor,
  OPENMETRICS_CONTENT_TYPE,
  PushError,
  pushMetrics,
  pushUrl,
  RotatorMetrics,
} from '../../src/observability/metrics.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';

const T0 = Date.parse('2026-03-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function summary(outcomes: Outcome[], durationMs = 10): PassSummary {
  const counts = { fresh: 0, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 };
  for (const outcome of outcomes) counts[outcome.status]++;
  return { startedAt: iso(T0), durationMs, outcomes, ok: outcomes.every((o) => o.ok), counts };
}

const rotated = (provider: string, expiresAt: number): Outcome => ({
  provider,
  status: 'rotated',
  ok: true,
  method: 'obtain',
  reason: 'due',
  expiresAt: iso(expiresAt),
  generation: 1,
  durationMs: 5,
});

describe('RotatorMetrics (prom-client)', () => {
  it('exports token_rotator_build_info = 1 with the version and the Node.js version', async () => {
    const families = parseExposition(await new RotatorMetrics({ version: '1.2.3' }).render(T0));

    const info = families.get('token_rotator_build_info')!;
    expect(info.type).toBe('gauge');
    expect(info.samples).toEqual([
      { name: 'token_rotator_build_info', labels: { version: '1.2.3', node_version: process.versions.node }, value: 1 },
    ]);
  });

  it('has a failure series at 0 for every configured provider and class, and rotation series at 0, before any pass', async () => {
    const families = parseExposition(await new RotatorMetrics({ providers: ['klikoo', 'billing'] }).render(T0));

    for (const provider of ['klikoo', 'billing']) {
      for (const failureClass of FAILURE_CLASSES)
        expect(
          sampleValue(families, 'token_rotator_failures_total', { provider, class: failureClass }),
          `${provider}/${failureClass}`,
        ).toBe(0);
      for (const method of ['obtain', 'refresh'])
        expect(sampleValue(families, 'token_rotator_rotations_total', { provider, method })).toBe(0);
    }
    expect(families.get('token_rotator_failures_total')!.samples).toHaveLength(2 * FAILURE_CLASSES.length);
    expect(FAILURE_CLASSES).toEqual(['retryable', 'reauthenticate', 'permanent', 'store', 'lease']);
  });

  it('counts a failure on top of its 0 series', async () => {
    const metrics = new RotatorMetrics({ providers: ['klikoo'] });
    metrics.observePass(
      summary([
        {
          provider: 'klikoo',
          status: 'failed',
          ok: false,
          error: { class: 'store', code: 'STORE_UNAVAILABLE', message: 'down' },
          durationMs: 1,
        },
      ]),
      T0,
    );

    const families = parseExposition(await metrics.render(T0));
    expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'klikoo', class: 'store' })).toBe(1);
    expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'klikoo', class: 'retryable' })).toBe(0);
  });

  it('exports token expiry as a timestamp, which stays put between scrapes while the countdown moves', async () => {
    const metrics = new RotatorMetrics();
    metrics.observePass(summary([rotated('klikoo', T0 + 900_000)]), T0);

    const early = parseExposition(await metrics.render(T0 + 1000));
    const late = parseExposition(await metrics.render(T0 + 61_000));
    for (const families of [early, late])
      expect(sampleValue(families, 'token_rotator_token_expiry_timestamp_seconds', { provider: 'klikoo' })).toBe(
        (T0 + 900_000) / 1000,
      );
    expect(sampleValue(early, 'token_rotator_token_expiry_seconds', { provider: 'klikoo' })).toBe(899);
    expect(sampleValue(late, 'token_rotator_token_expiry_seconds', { provider: 'klikoo' })).toBe(839);
    expect(early.get('token_rotator_token_expiry_timestamp_seconds')!.type).toBe('gauge');
  });

  it('exports the schedule gap the alert rules compare against, and the last pass result as 1 of 3', async () => {
    const metrics = new RotatorMetrics({ gapSeconds: 900 });
    const before = parseExposition(await metrics.render(T0));
    expect(sampleValue(before, 'token_rotator_schedule_gap_seconds')).toBe(900);
    expect(before.get('token_rotator_last_pass_result')!.samples).toEqual([]);

    metrics.observePass(summary([rotated('klikoo', T0 + 900_000)]), T0);
    const ok = parseExposition(await metrics.render(T0));
    metrics.observePassError();
    const error = parseExposition(await metrics.render(T0));

    const results = (families: typeof ok) =>
      Object.fromEntries(
        families.get('token_rotator_last_pass_result')!.samples.map((s) => [s.labels['result'], s.value]),
      );
    expect(results(ok)).toEqual({ ok: 1, failed: 0, error: 0 });
    expect(results(error)).toEqual({ ok: 0, failed: 0, error: 1 });
    // A pass that could not run is not a pass that finished.
    expect(sampleValue(error, 'token_rotator_last_pass_timestamp_seconds')).toBe(T0 / 1000);
  });

  it('keeps each instance in its own registry, away from prom-client’s global one', async () => {
    const a = new RotatorMetrics();
    const b = new RotatorMetrics();
    a.observePass(summary([rotated('klikoo', T0 + 60_000)]), T0);

    expect(a.registry).not.toBe(b.registry);
    expect(sampleValue(parseExposition(await a.render(T0)), 'token_rotator_passes_total', { result: 'ok' })).toBe(1);
    expect(sampleValue(parseExposition(await b.render(T0)), 'token_rotator_passes_total', { result: 'ok' })).toBe(0);
    expect(globalRegistry.getMetricsAsArray().filter((m) => m.name.startsWith('token_rotator_'))).toEqual([]);
    expect(globalRegistry.getSingleMetric('process_cpu_seconds_total')).toBeUndefined();
  });

  it('leaves the process metrics and the countdown out of what a run pushes', async () => {
    const metrics = new RotatorMetrics({ mode: 'push', providers: ['klikoo'], gapSeconds: 300 });
    metrics.observePass(summary([rotated('klikoo', T0 + 60_000)]), T0);

    const families = parseExposition(await metrics.render(T0));
    const names = [...families.keys()];
    expect(names.filter((name) => !name.startsWith('token_rotator_'))).toEqual([]);
    expect(names).not.toContain('token_rotator_token_expiry_seconds');
    expect(sampleValue(families, 'token_rotator_token_expiry_timestamp_seconds', { provider: 'klikoo' })).toBe(
      (T0 + 60_000) / 1000,
    );
    expect(sampleValue(families, 'token_rotator_last_pass_timestamp_seconds')).toBe(T0 / 1000);
  });

  describe('OpenMetrics', () => {
    it('renders OpenMetrics 1.0: counters typed by their base name, samples with _total, ending in # EOF', async () => {
      const metrics = new RotatorMetrics({ providers: ['klikoo'] });
      metrics.observePass(summary([rotated('klikoo', T0 + 60_000)]), T0);

      const text = await metrics.render(T0, 'openmetrics');

      expect(text.endsWith('\n# EOF\n')).toBe(true);
      expect(text).toContain('# TYPE token_rotator_rotations counter\n');
      expect(text).toContain('token_rotator_rotations_total{provider="klikoo",method="obtain"} 1\n');
      expect(text).toContain('# TYPE token_rotator_passes counter\n');
      expect(text).toContain('# TYPE token_rotator_token_expiry_timestamp_seconds gauge\n');
      expect(text.slice(0, -1).split('\n')).not.toContain(''); // OpenMetrics allows no blank line
      expect(OPENMETRICS_CONTENT_TYPE).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
    });

    it('leaves the text format intact after an OpenMetrics scrape (prom-client renames counters while rendering one)', async () => {
      const metrics = new RotatorMetrics();
      await metrics.render(T0, 'openmetrics');

      const families = parseExposition(await metrics.render(T0));

      expect(families.get('token_rotator_passes_total')?.type).toBe('counter');
      expect(families.get('token_rotator_rotations_total')?.type).toBe('counter');
      expect(families.get('process_cpu_seconds_total')?.type).toBe('counter');
      expect(families.has('token_rotator_passes')).toBe(false);
    });

    it('renders concurrent scrapes of both formats each in its own format', async () => {
      const metrics = new RotatorMetrics();

      const [open, text] = await Promise.all([metrics.render(T0, 'openmetrics'), metrics.render(T0, 'text')]);

      expect(open.endsWith('# EOF\n')).toBe(true);
      expect(text).not.toContain('# EOF');
      expect(parseExposition(text).get('token_rotator_passes_total')?.type).toBe('counter');
    });

    it.each([
      ['application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1', 'openmetrics'],
      ['application/openmetrics-text; version=0.0.1', 'openmetrics'],
      ['text/plain;version=0.0.4', 'text'],
      ['*/*', 'text'],
      ['application/openmetrics-text;q=0,text/plain', 'text'],
      [undefined, 'text'],
    ] as const)('negotiates Accept %j as %s', (accept, format) => {
      expect(metricsFormatFor(accept)).toBe(format);
    });
  });
});

describe('pushMetrics', () => {
  /** A fetch that records its request and answers `status`. */
  function recordingFetch(status = 200, body = '') {
    const requests: { url: string; init: RequestInit }[] = [];
    const fetcher: typeof fetch = async (input, init = {}) => {
      requests.push({ url: String(input), init });
      return new Response(body, { status });
    };
    return { requests, fetcher };
  }

  it('PUTs the text format to the job="token-rotator" group, with Basic auth from the URL kept out of the URL', async () => {
    const metrics = new RotatorMetrics({ mode: 'push' });
    const { requests, fetcher } = recordingFetch();

    await pushMetrics(metrics, { url: 'http://ops:p%40ss@pgw.example:9091/', instance: 'prod', fetch: fetcher });

    expect(requests).toHaveLength(1);
    const [request] = requests;
    expect(request!.url).toBe('http://pgw.example:9091/metrics/job/token-rotator/instance/prod');
    expect(request!.init.method).toBe('PUT');
    const headers = new Headers(request!.init.headers);
    expect(headers.get('content-type')).toBe(METRICS_CONTENT_TYPE);
    expect(headers.get('authorization')).toBe(`Basic ${Buffer.from('ops:p@ss').toString('base64')}`);
    expect(parseExposition(String(request!.init.body)).has('token_rotator_passes_total')).toBe(true);
  });

  it('encodes an instance the URL path cannot hold in base64, as the Pushgateway API asks', () => {
    expect(pushUrl('http://pgw:9091', 'a/b').pathname).toBe(
      `/metrics/job/token-rotator/instance@base64/${Buffer.from('a/b').toString('base64url')}`,
    );
    expect(pushUrl('http://pgw:9091/prefix/').pathname).toBe('/prefix/metrics/job/token-rotator');
  });

  it('throws a PushError naming the status, without the credentials in the URL', async () => {
    const password = randomBytes(12).toString('hex');
    const { fetcher } = recordingFetch(400, 'text format parsing error in line 3');

    const error = await pushMetrics(new RotatorMetrics({ mode: 'push' }), {
      url: `http://ops:${password}@pgw.example:9091`,
      fetch: fetcher,
    }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PushError);
    expect((error as PushError).code).toBe('METRICS_PUSH_FAILED');
    expect((error as PushError).message).toBe(
      'the Pushgateway at http://pgw.example:9091 refused the push: HTTP 400 (text format parsing error in line 3)',
    );
    expect((error as PushError).message).not.toContain(password);
  });

  it('throws a PushError naming the socket error when the Pushgateway cannot be reached', async () => {
    const fetcher: typeof fetch = async () => {
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }) });
    };

    await expect(
      pushMetrics(new RotatorMetrics({ mode: 'push' }), { url: 'http://127.0.0.1:9', fetch: fetcher }),
    ).rejects.toThrow(new PushError('could not reach the Pushgateway at http://127.0.0.1:9 (ECONNREFUSED)'));
  });

  it('refuses a URL that is not http(s)', async () => {
    await expect(pushMetrics(new RotatorMetrics({ mode: 'push' }), { url: 'ftp://pgw:21' })).rejects.toThrow(PushError);
  });
});
