/**
 * What `/readyz` means, as a user of the built daemon sees it: whether this process can
 * do its job (the store answers, the schedule runs), not whether the vendors are up.
 * Every vendor answering 503 from the daemon's start leaves it ready once its first pass
 * has finished, with the failures in `/metrics`, so a rollout is not held by someone
 * else's outage; OpenBao frozen (SIGSTOP: it accepts connections but never answers)
 * makes it unready naming the store, and ready again once OpenBao answers.
 */
import type { ChildProcess } from 'node:child_process';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseExposition, sampleValue, sumOf } from '../helpers/exposition.js';
import type { CliResult, Scenario } from '../helpers/scenario.js';
import { PROVIDERS, startScenario } from '../helpers/scenario.js';
import { pauseOpenBao, startVaultScenario, type VaultScenario } from '../helpers/vault-scenario.js';
import { waitFor } from '../helpers/wait.js';

type Readyz = { status: number; body: { ready: boolean; reasons: string[] } };

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Starts `daemon --listen 127.0.0.1:0` and returns it once it logged the address it bound. */
async function startDaemon(
  scenario: Scenario,
): Promise<{ child: ChildProcess; done: Promise<CliResult>; url: string }> {
  const { child, done } = scenario.spawnCli(['daemon', '--listen', '127.0.0.1:0']);
  running.push(child);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const url = await waitFor(
    async () =>
      /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"serving \/healthz, \/readyz and \/metrics"/.exec(stderr)?.[1],
    30_000,
    'the daemon to listen',
  );
  return { child, done, url };
}

async function readyz(url: string): Promise<Readyz> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, body: (await response.json()) as Readyz['body'] };
}

async function scrape(url: string) {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  return parseExposition(await response.text());
}

/** Stops the daemon with SIGTERM and expects a clean exit. */
async function stopDaemon(daemon: { child: ChildProcess; done: Promise<CliResult> }): Promise<void> {
  daemon.child.kill('SIGTERM');
  const result = await daemon.done;
  expect(result.code, result.stderr.slice(-2000)).toBe(0);
}

describe('/readyz while every vendor is down', () => {
  let scenario: Scenario;
  beforeAll(async () => {
    scenario = await startScenario({ workspace: { schedule: '*/2 * * * * *' } });
  });
  afterAll(async () => {
    await scenario?.close();
  });

  it('is 200 once the first pass has finished, on every probe while the outage lasts, with the failures in /metrics', async () => {
    // Every token endpoint answers 503 from before the daemon's first pass on.
    scenario.sandbox.injectFault({ type: 'status', status: 503, count: 100_000 });
    const daemon = await startDaemon(scenario);

    const first = await waitFor(
      async () => {
        const result = await readyz(daemon.url);
        return result.status === 200 && result;
      },
      30_000,
      '/readyz 200 after a first pass in which every provider failed',
    );
    expect(first.body).toEqual({ ready: true, reasons: [] });
    const failed = await scrape(daemon.url);
    expect(sampleValue(failed, 'token_rotator_passes_total', { result: 'ok' })).toBe(0);
    expect(sampleValue(failed, 'token_rotator_passes_total', { result: 'failed' })).toBeGreaterThanOrEqual(1);
    for (const provider of PROVIDERS) {
      expect(sumOf(failed, 'token_rotator_failures_total', { provider }), provider).toBeGreaterThanOrEqual(1);
      // No token was ever obtained: no expiry to report, and no success.
      expect(sampleValue(failed, 'token_rotator_token_expiry_seconds', { provider }), provider).toBeUndefined();
    }

    // Two more failed passes, and readiness holds on every probe on the way.
    const probes: Readyz[] = [];
    const failedPasses = (families: typeof failed) =>
      sampleValue(families, 'token_rotator_passes_total', { result: 'failed' }) ?? 0;
    const later = await waitFor(
      async () => {
        probes.push(await readyz(daemon.url));
        const families = await scrape(daemon.url);
        return failedPasses(families) >= failedPasses(failed) + 2 && families;
      },
      20_000,
      'two more failed passes',
    );
    expect(probes.length).toBeGreaterThan(0);
    expect(probes.filter((probe) => probe.status !== 200)).toEqual([]);
    for (const provider of PROVIDERS)
      expect(sumOf(later, 'token_rotator_failures_total', { provider }), provider).toBeGreaterThan(
        sumOf(failed, 'token_rotator_failures_total', { provider }),
      );
    expect(scenario.sandbox.stats().issued).toBe(0);

    // The vendors recover: tokens appear, and readiness never had to change.
    scenario.sandbox.clearFaults();
    const healed = await waitFor(
      async () => {
        const families = await scrape(daemon.url);
        return (
          PROVIDERS.every(
            (provider) => (sampleValue(families, 'token_rotator_token_expiry_seconds', { provider }) ?? 0) > 0,
          ) && families
        );
      },
      20_000,
      'a valid token for every provider in /metrics',
    );
    expect(sampleValue(healed, 'token_rotator_passes_total', { result: 'ok' })).toBeGreaterThanOrEqual(1);
    expect((await readyz(daemon.url)).status).toBe(200);

    await stopDaemon(daemon);
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  }, 120_000);
});

describe('/readyz while the store does not answer', () => {
  let scenario: VaultScenario;
  beforeAll(async () => {
    scenario = await startVaultScenario({
      auth: 'token',
      vault: { request_timeout_seconds: 1 },
      // A pass every 30 s: the dead-man limit (60 s) stays far off, so the store is the only reason.
      workspace: { schedule: '*/30 * * * * *', policy: { lease_seconds: 5, request_timeout_seconds: 3, retries: 0 } },
    });
  }, 60_000);
  afterAll(async () => {
    await scenario?.close();
  });

  it('turns 503 naming the store while OpenBao is frozen, keeps /healthz and /metrics, and turns 200 once it answers', async () => {
    const daemon = await startDaemon(scenario);
    await waitFor(async () => (await readyz(daemon.url)).status === 200, 30_000, '/readyz 200 with OpenBao answering');

    const resume = await pauseOpenBao(scenario.bao);
    try {
      const unready = await waitFor(
        async () => {
          const result = await readyz(daemon.url);
          return result.status === 503 && result;
        },
        // At most one cached answer (5 s) and one probe (2 s) later.
        15_000,
        '/readyz 503 with OpenBao frozen',
      );
      // The store's own 1 s request timeout usually fires before readiness's 2 s one.
      expect(unready.body).toEqual({
        ready: false,
        reasons: [
          expect.stringMatching(/^the store (could not be read \(STORE_UNAVAILABLE\)|did not answer within 2000 ms)$/),
        ],
      });
      const health = await fetch(`${daemon.url}/healthz`);
      expect(health.status).toBe(200);
      expect(sampleValue(await scrape(daemon.url), 'token_rotator_last_pass_timestamp_seconds')).toBeGreaterThan(0);
      expect(daemon.child.exitCode).toBeNull();
    } finally {
      await resume();
    }

    await waitFor(async () => (await readyz(daemon.url)).status === 200, 30_000, '/readyz 200 once OpenBao answers');
    expect((await readyz(daemon.url)).body).toEqual({ ready: true, reasons: [] });

    await stopDaemon(daemon);
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  }, 180_000);
});
