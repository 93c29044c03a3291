import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

let scenario: Scenario;
beforeAll(async () => {
  scenario = await startScenario({
    // Klikoo tokens of 8 s and a pass every second: the daemon must renew them on schedule.
    sandbox: { lifetimes: { klikoo: { accessSeconds: 8 } } },
    workspace: {
      schedule: '* * * * * *',
      policy: { min_margin_seconds: 2, lease_seconds: 10, request_timeout_seconds: 5 },
    },
  });
});
afterAll(async () => {
  await scenario?.close();
});

describe('token-rotator daemon', () => {
  it('rotates on schedule, and on SIGTERM finishes the pass in flight, releases its leases and exits 0', async () => {
    const { child, done } = scenario.spawnCli(['daemon']);
    // Renewals on schedule: Klikoo reaches a third generation within a few passes.
    await waitFor(
      async () => ((await scenario.publicRecord('klikoo'))?.['generation'] as number) >= 3,
      20_000,
      'klikoo generation 3',
    );
    for (const provider of PROVIDERS) {
      expect(
        scenario.sandbox.isValid((await scenario.publicRecord(provider))!['access_token'] as string),
        provider,
      ).toBe(true);
    }

    // Hold the next Klikoo call for 1.5 s at the server, and stop the daemon while it waits.
    scenario.sandbox.injectFault({ type: 'latency', ms: 1500, target: 'klikoo' });
    const generation = (await scenario.stateRecord('klikoo'))!['generation'] as number;
    await waitFor(
      async () => (await scenario.stateRecord('klikoo'))?.['lease'] !== undefined,
      20_000,
      'a klikoo lease',
    );
    const stoppedAt = Date.now();
    child.kill('SIGTERM');
    const result = await done;

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(Date.now() - stoppedAt).toBeLessThan(8000);
    // The call in flight completed and was stored; no lease is left behind.
    const state = (await scenario.stateRecord('klikoo'))!;
    expect(state['generation']).toBe(generation + 1);
    for (const provider of PROVIDERS)
      expect((await scenario.stateRecord(provider))!['lease'], provider).toBeUndefined();
    expect(scenario.sandbox.isValid((await scenario.publicRecord('klikoo'))!['access_token'] as string)).toBe(true);
    expect(result.stderr).toMatch(/"msg":"shutting down after the pass in flight"/);
    expect(result.stderr).toMatch(/"msg":"daemon stopped"/);
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});

describe('token-rotator sandbox', () => {
  it('serves the token endpoints and writes a config that token-rotator run can use', async () => {
    const { child, done } = scenario.spawnCli(['sandbox', '--short', '--dir', `${scenario.dir}/rehearsal`]);
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const configPath = await waitFor(
      async () => /config written to (\S+)/.exec(out)?.[1],
      20_000,
      'the sandbox config',
    );
    const url = /sandbox listening on (\S+)/.exec(out)![1]!;

    const { spawn } = await import('node:child_process');
    const { BIN } = await import('../helpers/scenario.js');
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const p = spawn(process.execPath, [BIN, 'run', '--json', '--config', configPath], {
        stdio: ['ignore', 'pipe', 'ignore'],
      });
      let stdout = '';
      p.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      p.on('close', (code) => resolve({ code, stdout }));
    });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { outcomes: Array<{ status: string }> }).outcomes.map((o) => o.status)).toEqual(
      Array(4).fill('rotated'),
    );
    const stats = (await (await fetch(`${url}/_sandbox/stats`)).json()) as { obtained: number };
    expect(stats.obtained).toBe(4);

    child.kill('SIGINT');
    expect((await done).code).toBe(0);
  });
});
