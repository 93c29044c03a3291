import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

let scenario: Scenario;
beforeAll(async () => {
  // A short lease so a dead runner's lease expires within the test.
  scenario = await startScenario({ workspace: { policy: { lease_seconds: 2, request_timeout_seconds: 2 } } });
  const first = await scenario.cli(['run']);
  expect(first.code).toBe(0);
  await scenario.harvestTokens();
});
afterAll(async () => {
  await scenario?.close();
});

async function expectEveryProviderValid(context: string): Promise<void> {
  for (const provider of PROVIDERS) {
    const record = await scenario.publicRecord(provider);
    expect(scenario.sandbox.isValid(record?.['access_token'] as string), `${provider} after ${context}`).toBe(true);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `run --force`, kills it with SIGKILL after `delayMs`, then runs again normally. */
async function killThenRecover(delayMs: number, context: string): Promise<void> {
  const { child, done } = scenario.spawnCli(['run', '--force']);
  await sleep(delayMs);
  child.kill('SIGKILL');
  await done;
  await scenario.harvestTokens();
  const next = await scenario.cli(['run', '--json']);
  await scenario.harvestTokens();
  expect(next.code, `${context}: ${next.stderr.slice(-1500)}`).toBe(0);
  await expectEveryProviderValid(context);
}

describe('a run killed with SIGKILL during a rotation', () => {
  it('is recovered by the next run at every point of the rotation', async () => {
    // Measure how long a forced run takes, then kill runs at points spread across it:
    // before the lease, while calling, between the state and public writes, after.
    const started = Date.now();
    const timing = await scenario.cli(['run', '--force']);
    expect(timing.code).toBe(0);
    const span = Date.now() - started;
    const points = 10;
    for (let i = 0; i < points; i++) {
      const delay = Math.round((span * (i + 0.5)) / points);
      await killThenRecover(delay, `a kill at ${delay} ms of ${span} ms`);
    }
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
  });

  it('is recovered when killed while the server has spent the refresh token but not yet answered', async () => {
    const before = (await scenario.publicRecord('keliweb-api'))!['access_token'] as string;
    expect(scenario.sandbox.isValid(before)).toBe(true);
    // The sandbox performs the refresh (revoking the old access token) and holds the answer.
    scenario.sandbox.injectFault({ type: 'latency', ms: 1500, phase: 'after', target: 'keliweb-api-v2' });
    const { child, done } = scenario.spawnCli(['run', '--force', '--provider', 'keliweb-api']);
    // Killed once the refresh is done and while its answer is held. The sandbox records a
    // request only once it has answered, so waiting for that record would let the runner
    // race the kill to its state write.
    await waitFor(() => !scenario.sandbox.isValid(before));
    child.kill('SIGKILL');
    await done;
    const published = (await scenario.publicRecord('keliweb-api'))!['access_token'] as string;
    // The published token was revoked by the refresh the dead runner made.
    expect(published).toBe(before);
    expect(scenario.sandbox.isValid(published)).toBe(false);
    await waitFor(() =>
      scenario.sandbox.requests.some((r) => r.fault === 'latency' && r.grantType === 'refresh_token'),
    );

    const next = await scenario.cli(['run', '--json']);
    expect(next.code, next.stderr.slice(-1500)).toBe(0);
    const outcome = (
      JSON.parse(next.stdout) as {
        outcomes: Array<{ provider: string; status: string; method?: string; reason?: string }>;
      }
    ).outcomes.find((o) => o.provider === 'keliweb-api');
    expect(outcome).toMatchObject({ status: 'rotated', method: 'obtain', reason: 'abandoned-refresh' });
    await expectEveryProviderValid('a kill after the server spent the refresh token');
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
    await scenario.harvestTokens();
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await sleep(10);
  }
}
