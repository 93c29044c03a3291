import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sampleValue, sumOf } from '../helpers/exposition.js';
import type { CliResult } from '../helpers/scenario.js';
import { BIN, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

let scenario: Scenario;
beforeAll(async () => {
  scenario = await startScenario({
    // Klikoo tokens of 6 s and generic ones of 8 s, a pass every 2 s: both renew every few passes.
    sandbox: { lifetimes: { klikoo: { accessSeconds: 6 }, oauth2: { accessSeconds: 8 } } },
    workspace: {
      schedule: '*/2 * * * * *',
      policy: { min_margin_seconds: 2, lease_seconds: 10, request_timeout_seconds: 5 },
    },
  });
});
afterAll(async () => {
  await scenario?.close();
});

/** Starts the daemon with `--listen 127.0.0.1:0` and returns it once it logged the address it bound. */
async function startDaemon(): Promise<{ child: ChildProcess; done: Promise<CliResult>; url: string }> {
  const { child, done } = scenario.spawnCli(['daemon', '--listen', '127.0.0.1:0']);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await waitFor(
    async () =>
      /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"serving \/healthz, \/readyz and \/metrics"/.exec(stderr)?.[1],
    15_000,
    'the daemon to listen',
  );
  return { child, done, url };
}

async function scrape(url: string) {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await response.text());
}

async function readyz(url: string): Promise<{ status: number; body: { ready: boolean; reasons: string[] } }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as { ready: boolean; reasons: string[] } };
}

describe('token-rotator daemon --listen', () => {
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  beforeAll(async () => {
    daemon = await startDaemon();
  });
  afterAll(() => {
    if (daemon?.child.exitCode === null) daemon.child.kill('SIGKILL');
  });

  it('answers /healthz, then /readyz once the first pass has finished; other paths 404, other methods 405', async () => {
    const health = await fetch(`${daemon.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    await waitFor(async () => (await readyz(daemon.url)).status === 200, 15_000, '/readyz 200');
    expect((await readyz(daemon.url)).body).toEqual({ ready: true, reasons: [] });

    expect((await fetch(`${daemon.url}/nope`)).status).toBe(404);
    const post = await fetch(`${daemon.url}/metrics`, { method: 'POST', body: 'x' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
  });

  it('serves metrics in which rotations and passes grow on schedule', async () => {
    const first = await scrape(daemon.url);
    const rotations = (families: typeof first) =>
      sumOf(families, 'token_rotator_rotations_total', { provider: 'klikoo' });
    const passes = (families: typeof first) => sumOf(families, 'token_rotator_passes_total');
    expect(rotations(first)).toBeGreaterThanOrEqual(1);

    // Every scrape on the way must parse as exposition format too.
    const later = await waitFor(
      async () => {
        const families = await scrape(daemon.url);
        return rotations(families) >= rotations(first) + 2 && passes(families) >= passes(first) + 3 && families;
      },
      20_000,
      'two more klikoo rotations over three more passes',
    );

    expect(sumOf(later, 'token_rotator_rotations_total', { provider: 'generic' })).toBeGreaterThanOrEqual(2);
    expect(sampleValue(later, 'token_rotator_rotations_total', { provider: 'keliweb-api', method: 'obtain' })).toBe(1);
    // Present at 0 from the start (issue 12), and still 0: no klikoo failure happened.
    expect(sampleValue(later, 'token_rotator_failures_total', { provider: 'klikoo', class: 'retryable' })).toBe(0);
    for (const provider of PROVIDERS) {
      expect(sampleValue(later, 'token_rotator_token_expiry_seconds', { provider }), provider).toBeGreaterThan(0);
      expect(
        sampleValue(later, 'token_rotator_last_success_timestamp_seconds', { provider }),
        provider,
      ).toBeGreaterThan(Date.now() / 1000 - 10);
    }
    expect(sampleValue(later, 'token_rotator_last_pass_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 5);
    expect(sampleValue(later, 'token_rotator_pass_duration_seconds_count')).toBe(passes(later));
    // What the metrics count is what the store holds.
    expect((await scenario.publicRecord('klikoo'))!['generation']).toBeGreaterThanOrEqual(rotations(later));
  });

  it('keeps /readyz 200 while a provider whose endpoint fails has its token expire, which /metrics shows, and recovers', async () => {
    scenario.sandbox.injectFault({ type: 'status', status: 500, target: 'klikoo', count: 100 });
    const seen: Array<{ status: number; body: { ready: boolean; reasons: string[] } }> = [];
    const expired = await waitFor(
      async () => {
        seen.push(await readyz(daemon.url));
        const families = await scrape(daemon.url);
        const expiry = sampleValue(families, 'token_rotator_token_expiry_seconds', { provider: 'klikoo' });
        return expiry !== undefined && expiry <= 0 && families;
      },
      20_000,
      'the klikoo token to expire in /metrics',
    );
    expect(
      sampleValue(expired, 'token_rotator_failures_total', { provider: 'klikoo', class: 'retryable' }),
    ).toBeGreaterThanOrEqual(1);
    // Formerly 503 naming "provider klikoo: token expired N s ago": the vendor's outage is
    // not this process's, so readiness holds while the token is still expired.
    const during = await readyz(daemon.url);
    expect(during).toEqual({ status: 200, body: { ready: true, reasons: [] } });
    expect(
      sampleValue(await scrape(daemon.url), 'token_rotator_token_expiry_seconds', { provider: 'klikoo' }),
    ).toBeLessThanOrEqual(0);
    // No probe on the way gave a token or a provider as a reason to be unready.
    expect(seen.flatMap((probe) => probe.body.reasons).filter((reason) => /token|provider/.test(reason))).toEqual([]);

    scenario.sandbox.clearFaults();
    await waitFor(
      async () =>
        (sampleValue(await scrape(daemon.url), 'token_rotator_token_expiry_seconds', { provider: 'klikoo' }) ?? 0) > 0,
      15_000,
      'a valid klikoo token again in /metrics',
    );
    expect((await readyz(daemon.url)).status).toBe(200);
  });

  it('on SIGTERM mid-pass stops being ready, finishes the rotation in flight, releases leases, closes the listener and exits 0', async () => {
    // Hold the next Klikoo call for 3 s at the server, and stop the daemon while it waits.
    const injectedAt = Date.now();
    scenario.sandbox.injectFault({ type: 'latency', ms: 3000, target: 'klikoo' });
    const leased = await waitFor(
      async () => {
        const state = await scenario.stateRecord('klikoo');
        const lease = state?.['lease'] as { acquired_at: string } | undefined;
        return lease !== undefined && Date.parse(lease.acquired_at) >= injectedAt - 1000 && state;
      },
      15_000,
      'a klikoo lease taken after the fault',
    );
    daemon.child.kill('SIGTERM');

    const draining = await waitFor(
      async () => {
        const result = await readyz(daemon.url);
        return result.status === 503 && result;
      },
      2500,
      '/readyz 503 while draining',
    );
    expect(draining.body.reasons).toEqual(['shutting down']);
    expect((await fetch(`${daemon.url}/healthz`)).status).toBe(200);
    const result = await daemon.done;

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const state = (await scenario.stateRecord('klikoo'))!;
    expect(state['generation']).toBe((leased['generation'] as number) + 1);
    for (const provider of PROVIDERS)
      expect((await scenario.stateRecord(provider))!['lease'], provider).toBeUndefined();
    expect(scenario.sandbox.isValid((await scenario.publicRecord('klikoo'))!['access_token'] as string)).toBe(true);
    expect(result.stderr).toMatch(/"msg":"ops listener closed"/);
    expect(result.stderr).toMatch(/"msg":"daemon stopped"/);
    await expect(fetch(`${daemon.url}/healthz`)).rejects.toThrow();
  });

  it('recorded its passes in the heartbeat, the last one after the rotation in flight', async () => {
    const { readFile } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const heartbeat = (
      JSON.parse(await readFile(join(scenario.storeDir, 'runner/heartbeat.json'), 'utf8')) as {
        data: Record<string, unknown>;
      }
    ).data;
    const state = (await scenario.stateRecord('klikoo'))!;
    expect(Object.keys(heartbeat).sort()).toEqual(['duration_ms', 'holder', 'last_pass_at', 'last_pass_ok']);
    expect(Date.parse(heartbeat['last_pass_at'] as string)).toBeGreaterThanOrEqual(
      Date.parse(state['last_success_at'] as string),
    );
    expect(heartbeat['last_pass_ok']).toBe(true);
  });
});

describe('token-rotator daemon --listen, refused', () => {
  it('exits 2 naming the flag when --listen is not HOST:PORT, before reading the config', async () => {
    // Run directly: the scenario would add its own, valid, --config.
    const child = spawn(process.execPath, [BIN, 'daemon', '--listen', '9464', '--config', '/nonexistent/config.yaml'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^token-rotator daemon: --listen must be HOST:PORT, e\.g\. 127\.0\.0\.1:9464, 0\.0\.0\.0:9464 or \[::1\]:9464 \(got "9464"\)\n/,
    );
    expect(stderr).not.toMatch(/cannot read config file/);
  });

  it('exits 1 saying the address is in use, without running a pass', async () => {
    const taken: Server = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const issued = scenario.sandbox.stats().issued;
    try {
      const result = await scenario.cli(['daemon', '--listen', `127.0.0.1:${port}`]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(
        `token-rotator daemon: ListenError: cannot listen on 127.0.0.1:${port}: EADDRINUSE (the address is already in use)`,
      );
      expect(scenario.sandbox.stats().issued).toBe(issued);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('output', () => {
  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
