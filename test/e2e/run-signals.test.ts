/**
 * `token-rotator run` under SIGTERM, as a CronJob's deadline or a deploy sends it: the
 * call in flight finishes and is written, no lease is left behind, and the exit code is
 * the pass's. A second signal exits at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Scenario, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

let scenario: Scenario;
beforeAll(async () => {
  scenario = await startScenario({ workspace: { policy: { lease_seconds: 8, request_timeout_seconds: 5 } } });
  const first = await scenario.cli(['run']);
  expect(first.code, first.stderr.slice(-2000)).toBe(0);
});
afterAll(async () => {
  await scenario?.close();
});

/** Starts a forced run of klikoo held 3 s at the vendor, and resolves once it holds the lease. */
async function runHeldAtTheVendor() {
  const before = (await scenario.stateRecord('klikoo'))!;
  const since = Date.now();
  scenario.sandbox.injectFault({ type: 'latency', ms: 3000, target: 'klikoo' });
  const run = scenario.spawnCli(['run', '--force', '--provider', 'klikoo', '--json']);
  await waitFor(
    async () => {
      const lease = (await scenario.stateRecord('klikoo'))?.['lease'] as { acquired_at: string } | undefined;
      return lease !== undefined && Date.parse(lease.acquired_at) >= since - 1000;
    },
    15_000,
    'the run to take the klikoo lease',
  );
  return { run, generation: before['generation'] as number };
}

describe('token-rotator run and signals', () => {
  it('on SIGTERM mid-call finishes the rotation in flight, writes it, leaves no lease and exits 0', async () => {
    const { run, generation } = await runHeldAtTheVendor();

    run.child.kill('SIGTERM');
    const result = await run.done;
    scenario.sandbox.clearFaults();

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stderr).toMatch(/"msg":"finishing the calls in flight, then exiting"/);
    const state = (await scenario.stateRecord('klikoo'))!;
    expect(state['generation']).toBe(generation + 1);
    expect(state['lease']).toBeUndefined();
    expect(scenario.sandbox.isValid((await scenario.publicRecord('klikoo'))!['access_token'] as string)).toBe(true);
  });

  it('on a second signal exits at once with 143, and the next run recovers', async () => {
    const { run } = await runHeldAtTheVendor();

    let stderr = '';
    run.child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const sent = Date.now();
    run.child.kill('SIGTERM');
    await waitFor(async () => stderr.includes('finishing the calls in flight'), 2000, 'the first signal to be handled');
    run.child.kill('SIGTERM');
    const result = await run.done;
    scenario.sandbox.clearFaults();

    expect(result.code).toBe(143);
    expect(Date.now() - sent).toBeLessThan(2500);
    const next = await scenario.cli(['run', '--provider', 'klikoo']);
    expect(next.code, next.stderr.slice(-2000)).toBe(0);
    expect(scenario.sandbox.isValid((await scenario.publicRecord('klikoo'))!['access_token'] as string)).toBe(true);
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
