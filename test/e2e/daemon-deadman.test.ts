import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPaths } from '../../src/engine/records.js';
import { HEARTBEAT_PATH } from '../../src/observability/heartbeat.js';
import { FileStore } from '../../src/stores/file/index.js';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

// The default schedule, every 5 minutes: the dead-man limit is twice that gap, 600 s.
let scenario: Scenario;
let store: FileStore;
beforeAll(async () => {
  scenario = await startScenario();
  store = new FileStore({ directory: scenario.storeDir });
});
afterAll(async () => {
  await store?.close();
  await scenario?.close();
});

/** Rewrites a record in the file store by compare-and-set, as another runner would. */
async function rewrite(
  path: string,
  change: (value: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  const current = await store.read(path);
  await store.write(path, change(current?.value ?? {}), current?.version ?? null);
}

describe('token-rotator status, the dead-man signal', () => {
  it('exits 1 on a store where no pass ever ran, saying so in text and with --json', async () => {
    const text = await scenario.cli(['status']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\nlast pass: none recorded\n$/);
    expect(text.stderr).toContain(
      'token-rotator status: no pass has been recorded: no runner (run, daemon or Lambda) has finished a pass against this store\n',
    );

    const json = await scenario.cli(['status', '--json']);
    expect(json.code).toBe(1);
    const output = JSON.parse(json.stdout) as {
      providers: Array<{ provider: string }>;
      last_pass: unknown;
      problems: Array<{ code: string }>;
    };
    expect(output.providers.map((row) => row.provider).sort()).toEqual([...PROVIDERS].sort());
    expect(output.last_pass).toBeNull();
    expect(output.problems.map((problem) => problem.code)).toContain('PASS_OVERDUE');
    expect(json.stderr).toContain('token-rotator status: no pass has been recorded');
  });

  it('exits 0 right after a run, showing the pass it recorded', async () => {
    const run = await scenario.cli(['run']);
    expect(run.code).toBe(0);

    const status = await scenario.cli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/\nlast pass: \S+Z \(\d+ s ago\), ok, \d+ ms, by [^\n]+:\d+:[0-9a-f]{8}\n$/);
    expect(status.stderr).not.toMatch(/token-rotator status:/);
  });

  it('exits 1 when the last pass is older than twice the schedule gap', async () => {
    await rewrite(HEARTBEAT_PATH, (heartbeat) => ({
      ...heartbeat,
      last_pass_at: new Date(Date.now() - 900_000).toISOString(),
    }));

    const status = await scenario.cli(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(
      /token-rotator status: the last pass finished 90\d s ago, more than 600 s \(twice the schedule gap of 300 s\): is the scheduler running\?\n/,
    );
    const json = await scenario.cli(['status', '--json']);
    expect(json.code).toBe(1);
    expect(json.stderr).toMatch(/the last pass finished 90\d s ago/);
    expect(
      (JSON.parse(json.stdout) as { last_pass: { age_seconds: number } }).last_pass.age_seconds,
    ).toBeGreaterThanOrEqual(900);
  });

  it('exits 0 again once a run has recorded a new pass', async () => {
    expect((await scenario.cli(['run'])).code).toBe(0);
    const status = await scenario.cli(['status']);
    expect(status.code, status.stderr).toBe(0);
  });

  it('does not record a dry run as a pass', async () => {
    const before = await store.read(HEARTBEAT_PATH);
    expect((await scenario.cli(['run', '--dry-run'])).code).toBe(0);
    expect((await store.read(HEARTBEAT_PATH))?.version).toBe(before?.version);
  });

  it('exits 1 naming a provider whose token is past expiry, even with a recent pass', async () => {
    await rewrite(recordPaths.state('klikoo'), (state) => ({
      ...state,
      token: { ...(state['token'] as Record<string, unknown>), expires_at: new Date(Date.now() - 5000).toISOString() },
    }));

    const status = await scenario.cli(['status']);
    expect(status.code).toBe(1);
    expect(status.stderr).toBe('token-rotator status: provider klikoo has no valid token\n');
    expect((await scenario.cli(['run'])).code).toBe(0);
    expect((await scenario.cli(['status'])).code).toBe(0);
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
