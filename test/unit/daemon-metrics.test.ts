/**
 * The daemon's `/metrics` as a scraper sees it: the daemon's own metrics (failure series
 * of the configured providers at 0, the schedule gap, the build info) in the text format,
 * or OpenMetrics when the request's `Accept` asks for it. The rotator is a scripted
 * stand-in and the listener binds 127.0.0.1:0 in this process; the built daemon is
 * scraped in test/e2e/daemon-http.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { PassSummary } from '../../src/engine/pass.js';
import type { Rotator } from '../../src/rotator.js';
import { runDaemon } from '../../src/runtimes/daemon.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { parseExposition, sampleValue } from '../helpers/exposition.js';
import { MemoryStore } from '../helpers/memory-store.js';
import { waitFor } from '../helpers/wait.js';

const ok: PassSummary = {
  startedAt: '2026-03-01T00:00:00.000Z',
  durationMs: 5,
  ok: true,
  counts: { fresh: 1, rotated: 0, repaired: 0, 'would-rotate': 0, busy: 0, backoff: 0, paced: 0, failed: 0 },
  outcomes: [{ provider: 'api', status: 'fresh', ok: true, expiresAt: '2099-01-01T00:00:00.000Z', durationMs: 1 }],
};

function rotator(): Rotator {
  return {
    store: new MemoryStore(),
    gapSeconds: 600,
    pass: async () => ok,
    status: async () => [],
    heartbeat: async () => undefined,
    check: () => Promise.reject(new Error('not used')),
    settle: async () => ({ abandoned: 0 }),
    close: async () => undefined,
  };
}

describe('runDaemon --listen /metrics', () => {
  it('serves its metrics as text, or as OpenMetrics when the scrape asks, with every configured provider at 0 failures', async () => {
    const stop = new AbortController();
    const { logger, lines } = captureLogs();
    const running = runDaemon({
      rotator: rotator(),
      logger,
      schedule: '0 0 1 1 *',
      stop: stop.signal,
      listen: { host: '127.0.0.1', port: 0 },
      configuredProviders: ['api', 'billing'],
      version: '9.8.7',
    });
    try {
      const url = await waitFor(
        async () => lines().find((line) => line['msg'] === 'serving /healthz, /readyz and /metrics')?.['url'] as string,
        5000,
        'the listener',
      );
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 5000, 'the first pass');

      const text = await fetch(`${url}/metrics`);
      expect(text.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      const families = parseExposition(await text.text());
      expect(sampleValue(families, 'token_rotator_failures_total', { provider: 'billing', class: 'permanent' })).toBe(
        0,
      );
      expect(sampleValue(families, 'token_rotator_schedule_gap_seconds')).toBe(600);
      expect(sampleValue(families, 'token_rotator_build_info', { version: '9.8.7' })).toBe(1);
      expect(sampleValue(families, 'token_rotator_passes_total', { result: 'ok' })).toBe(1);
      expect(families.get('process_resident_memory_bytes')?.type).toBe('gauge');

      const open = await fetch(`${url}/metrics`, {
        headers: { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' },
      });
      expect(open.headers.get('content-type')).toBe('application/openmetrics-text; version=1.0.0; charset=utf-8');
      expect(open.headers.get('vary')).toBe('Accept');
      const body = await open.text();
      expect(body.endsWith('# EOF\n')).toBe(true);
      expect(body).toContain('token_rotator_passes_total{result="ok"} 1\n');
      expect(body).toContain('# TYPE token_rotator_passes counter\n');
    } finally {
      stop.abort();
      await running;
    }
  });
});
