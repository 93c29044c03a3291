/**
 * `token-rotator run --pushgateway URL` against a real Prometheus Pushgateway (v1.11.0,
 * built by scripts/install-tools.sh from scripts/go-tools/pushgateway into
 * .tools/bin/pushgateway), on a free loopback port: the built CLI runs passes of the
 * sandbox scenario and the test reads the Pushgateway's own `/metrics`, which it only
 * serves for pushes its parser accepted. Needs `npm run build` (npm test's pretest).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAILURE_CLASSES } from '../../src/observability/metrics.js';
import { type ParsedFamily, parseExposition, sampleValue } from '../helpers/exposition.js';
import { freePort } from '../helpers/ports.js';
import { PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';
import { waitFor } from '../helpers/wait.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PUSHGATEWAY = resolve(ROOT, '.tools/bin/pushgateway');
const VERSION = (JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const JOB = { job: 'token-rotator' };

let gateway: { child: ChildProcess; url: string; output: () => string };
let scenario: Scenario;

/** Starts the Pushgateway on a free loopback port (in memory: no persistence file) and waits until it is ready. */
async function startPushgateway(): Promise<typeof gateway> {
  if (!existsSync(PUSHGATEWAY))
    throw new Error(`${PUSHGATEWAY} is missing: run bash scripts/install-tools.sh (npm test's pretest does)`);
  const port = await freePort();
  const child = spawn(PUSHGATEWAY, [`--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => child.exitCode === null && (await fetch(`${url}/-/ready`).catch(() => undefined))?.status === 200,
    15_000,
    'the Pushgateway to be ready',
  ).catch((error: unknown) => {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}; its output: ${output}`);
  });
  return { child, url, output: () => output };
}

/** The Pushgateway's `/metrics`, read by the strict exposition reader. */
async function gatewayMetrics(): Promise<{ text: string; families: Map<string, ParsedFamily> }> {
  const response = await fetch(`${gateway.url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  return { text, families: parseExposition(text) };
}

/** Every sample of the job's group(s), by metric name. */
function jobSamples(families: Map<string, ParsedFamily>) {
  return [...families.values()].flatMap((family) => family.samples).filter((s) => s.labels['job'] === JOB.job);
}

beforeAll(async () => {
  gateway = await startPushgateway();
  scenario = await startScenario({ workspace: { policy: { retries: 0, request_timeout_seconds: 2 } } });
}, 30_000);
afterAll(async () => {
  gateway?.child.kill('SIGTERM');
  await scenario?.close();
});

describe('token-rotator run --pushgateway', () => {
  it('pushes the pass metrics after the pass to job="token-rotator", where Prometheus would scrape them', async () => {
    const result = await scenario.cli(['run', '--pushgateway', gateway.url]);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stderr).toContain('pushed the pass metrics');
    const { families } = await gatewayMetrics();
    const group = { ...JOB, instance: '' };
    expect(sampleValue(families, 'token_rotator_passes_total', { ...group, result: 'ok' })).toBe(1);
    expect(sampleValue(families, 'token_rotator_passes_total', { ...group, result: 'failed' })).toBe(0);
    expect(sampleValue(families, 'token_rotator_last_pass_result', { ...group, result: 'ok' })).toBe(1);
    expect(sampleValue(families, 'token_rotator_last_pass_timestamp_seconds', group)).toBeGreaterThan(
      Date.now() / 1000 - 60,
    );
    expect(sampleValue(families, 'token_rotator_build_info', { ...group, version: VERSION })).toBe(1);
    expect(sampleValue(families, 'token_rotator_schedule_gap_seconds', group)).toBe(300);
    expect(sampleValue(families, 'token_rotator_pass_duration_seconds_count', group)).toBe(1);
    for (const provider of PROVIDERS) {
      expect(sampleValue(families, 'token_rotator_rotations_total', { ...group, provider, method: 'obtain' })).toBe(1);
      for (const failureClass of FAILURE_CLASSES)
        expect(sampleValue(families, 'token_rotator_failures_total', { ...group, provider, class: failureClass })).toBe(
          0,
        );
      // The pushed expiry is the stored token's, as a timestamp: it does not go stale in the Pushgateway.
      const record = await scenario.publicRecord(provider);
      expect(sampleValue(families, 'token_rotator_token_expiry_timestamp_seconds', { ...group, provider })).toBe(
        Date.parse(record!['expires_at'] as string) / 1000,
      );
    }
    // The Pushgateway's own record of the push, which a stale-push alert can use.
    expect(sampleValue(families, 'push_time_seconds', group)).toBeGreaterThan(Date.now() / 1000 - 60);
    // A run's process is gone once pushed: no process metrics and no frozen countdown in its group.
    const names = new Set(jobSamples(families).map((s) => s.name));
    expect([...names].filter((name) => name.startsWith('process_') || name.startsWith('nodejs_'))).toEqual([]);
    expect(names.has('token_rotator_token_expiry_seconds')).toBe(false);
  });

  it('replaces the group on the next push (PUT), from TOKEN_ROTATOR_PUSHGATEWAY', async () => {
    const result = await scenario.cli(['run'], { env: { TOKEN_ROTATOR_PUSHGATEWAY: gateway.url } });

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const { families } = await gatewayMetrics();
    const group = { ...JOB, instance: '' };
    // Every token is fresh now: this pass rotated none, and its counts replaced the first pass's.
    expect(sampleValue(families, 'token_rotator_passes_total', { ...group, result: 'ok' })).toBe(1);
    for (const provider of PROVIDERS)
      expect(sampleValue(families, 'token_rotator_rotations_total', { ...group, provider, method: 'obtain' })).toBe(0);
  });

  it('pushes a failed provider as a failure and the pass as failed, with the exit code of the pass', async () => {
    scenario.sandbox.injectFault({ type: 'status', status: 503, target: 'klikoo' });

    const result = await scenario.cli([
      'run',
      '--force',
      '--provider',
      'klikoo',
      '--pushgateway',
      gateway.url,
      '--pushgateway-instance',
      'billing-team',
    ]);
    scenario.sandbox.clearFaults();

    expect(result.code).toBe(1);
    const { families } = await gatewayMetrics();
    const group = { ...JOB, instance: 'billing-team' };
    expect(
      sampleValue(families, 'token_rotator_failures_total', { ...group, provider: 'klikoo', class: 'retryable' }),
    ).toBe(1);
    expect(sampleValue(families, 'token_rotator_passes_total', { ...group, result: 'failed' })).toBe(1);
    expect(sampleValue(families, 'token_rotator_last_pass_result', { ...group, result: 'failed' })).toBe(1);
    // Its own group: the job-wide group of the earlier runs is still there, untouched.
    expect(sampleValue(families, 'token_rotator_passes_total', { ...JOB, instance: '', result: 'ok' })).toBe(1);
  });

  it('takes the instance label from TOKEN_ROTATOR_PUSHGATEWAY_INSTANCE too', async () => {
    const result = await scenario.cli(['run', '--pushgateway', gateway.url], {
      env: { TOKEN_ROTATOR_PUSHGATEWAY_INSTANCE: 'from-env' },
    });

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const { families } = await gatewayMetrics();
    expect(sampleValue(families, 'token_rotator_passes_total', { ...JOB, instance: 'from-env', result: 'ok' })).toBe(1);
  });

  it('logs a push the Pushgateway cannot take and keeps the exit code of the pass', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;

    const result = await scenario.cli(['run', '--pushgateway', closed]);

    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/klikoo/);
    const warning = result.stderr
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line['msg'] === 'could not push the pass metrics; the exit code is the pass');
    expect(warning).toMatchObject({ level: 40, err: { code: 'METRICS_PUSH_FAILED' } });
    expect(JSON.stringify(warning)).toContain('ECONNREFUSED');
  });

  it('refuses a --pushgateway that is not an http(s) URL, or an instance without one, before running a pass', async () => {
    const notHttp = await scenario.cli(['run', '--pushgateway', 'pushgateway:9091']);
    const alone = await scenario.cli(['run', '--pushgateway-instance', 'x']);

    expect(notHttp.code).toBe(2);
    expect(notHttp.stderr).toContain('--pushgateway must be an http(s) URL');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--pushgateway-instance needs --pushgateway');
    // No pass ran: a pass prints its summary on stdout.
    expect(notHttp.stdout + alone.stdout).toBe('');
  });

  it('never pushes a token or a credential', async () => {
    await scenario.harvestTokens();
    const { text } = await gatewayMetrics();

    scenario.canary.outputs.push(text);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
