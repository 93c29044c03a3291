import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fault, SandboxTarget } from '../../src/sandbox/index.js';
import { type Scenario, startScenario } from '../helpers/scenario.js';

let scenario: Scenario;
beforeAll(async () => {
  // No retries within a pass, so one injected fault decides the outcome; a short timeout.
  scenario = await startScenario({
    workspace: { policy: { retries: 0, request_timeout_seconds: 1, lease_seconds: 5 } },
  });
  const first = await scenario.cli(['run']);
  expect(first.code).toBe(0);
  await scenario.harvestTokens();
});
afterAll(async () => {
  await scenario?.close();
});

interface Outcome {
  provider: string;
  status: string;
  method?: string;
  error?: { class: string; code: string; message: string };
}

const targets: Record<string, SandboxTarget> = {
  klikoo: 'klikoo',
  generic: 'oauth2',
  'keliweb-api': 'keliweb-api-v2',
  'keliweb-fatture': 'keliweb-fatture',
};

type Case = [
  name: string,
  provider: keyof typeof targets,
  fault: Fault,
  failureClass: 'retryable' | 'permanent',
  message: RegExp,
];

const cases: Case[] = [
  [
    'a timeout (latency beyond the request timeout)',
    'klikoo',
    { type: 'latency', ms: 2500 },
    'retryable',
    /did not answer within 1000 ms/,
  ],
  ['HTTP 500', 'generic', { type: 'status', status: 500 }, 'retryable', /HTTP 500/],
  ['HTTP 503', 'keliweb-fatture', { type: 'status', status: 503 }, 'retryable', /HTTP 503/],
  ['HTTP 429 with Retry-After', 'klikoo', { type: 'rate_limit', retryAfterSeconds: 7 }, 'retryable', /HTTP 429/],
  ['a body that is not JSON', 'klikoo', { type: 'malformed', variant: 'not_json' }, 'permanent', /not JSON/],
  [
    'a body without access_token (klikoo)',
    'klikoo',
    { type: 'malformed', variant: 'missing_access_token' },
    'permanent',
    /access_token/,
  ],
  [
    'a body without access_token (oauth2)',
    'generic',
    { type: 'malformed', variant: 'missing_access_token' },
    'permanent',
    /access_token/,
  ],
  [
    'a body with wrong types',
    'generic',
    { type: 'malformed', variant: 'wrong_types' },
    'permanent',
    /malformed|access_token|expires_in|token_type/,
  ],
  [
    'a 200 carrying an error (klikoo response_code)',
    'klikoo',
    { type: 'error_in_200' },
    'permanent',
    /response_code 401/,
  ],
  ['a 200 carrying an error (oauth2)', 'generic', { type: 'error_in_200' }, 'permanent', /HTTP 200 carrying an error/],
  [
    'a 200 carrying an error (keliweb password grant)',
    'keliweb-fatture',
    { type: 'error_in_200' },
    'permanent',
    /HTTP 200 carrying an error/,
  ],
  ['a dropped connection', 'generic', { type: 'drop' }, 'retryable', /unreachable|dropped/],
  [
    'a connection dropped after the grant',
    'klikoo',
    { type: 'drop', phase: 'after' },
    'retryable',
    /unreachable|dropped/,
  ],
];

describe('an injected provider fault', () => {
  it.each(cases)(
    '%s leaves the stored token in place and is reported as %3$s',
    async (_name, provider, fault, failureClass, message) => {
      const before = await scenario.publicRecord(provider);
      scenario.sandbox.injectFault({ ...fault, target: targets[provider]! });

      const result = await scenario.cli(['run', '--force', '--json', '--provider', provider]);
      await scenario.harvestTokens();

      expect(result.code).toBe(1);
      const [outcome] = (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;
      expect(outcome).toMatchObject({ provider, status: 'failed', error: { class: failureClass } });
      expect(outcome!.error!.message).toMatch(message);
      expect(await scenario.publicRecord(provider)).toEqual(before);
      expect(scenario.sandbox.isValid(before!['access_token'] as string)).toBe(true);
      // The next pass, with the fault gone, rotates normally.
      const recovered = await scenario.cli(['run', '--force', '--json', '--provider', provider]);
      expect(recovered.code, recovered.stderr.slice(-1000)).toBe(0);
      await scenario.harvestTokens();
    },
  );

  it('during a refresh that is dropped after the server spent the token, re-authenticates instead of resending it', async () => {
    scenario.sandbox.injectFault({ type: 'drop', phase: 'after', target: 'keliweb-api-v2' });
    const result = await scenario.cli(['run', '--force', '--json', '--provider', 'keliweb-api']);
    expect(result.code).toBe(0);
    const [outcome] = (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;
    expect(outcome).toMatchObject({ status: 'rotated', method: 'obtain' });
    expect(scenario.sandbox.stats().reuseDetected).toBe(0);
    expect(scenario.sandbox.isValid((await scenario.publicRecord('keliweb-api'))!['access_token'] as string)).toBe(
      true,
    );
    await scenario.harvestTokens();
  });

  it('that is permanent is recorded with a back-off time and shown by status', async () => {
    scenario.sandbox.injectFault({ type: 'malformed', variant: 'not_json', target: 'klikoo' });
    const state = (await scenario.stateRecord('klikoo'))!;
    const failed = await scenario.cli(['run', '--force', '--json', '--provider', 'klikoo']);
    expect(failed.code).toBe(1);
    const after = (await scenario.stateRecord('klikoo'))!;
    expect((after['failures'] as { consecutive: number }).consecutive).toBe(1);
    expect(Date.parse((after['failures'] as { next_attempt_at: string }).next_attempt_at)).toBeGreaterThan(Date.now());
    expect(after['token']).toEqual(state['token']);
    const status = JSON.parse((await scenario.cli(['status', '--json'])).stdout) as {
      providers: Array<Record<string, unknown>>;
    };
    expect(status.providers.find((row) => row['provider'] === 'klikoo')!['last_error']).toEqual({
      class: 'permanent',
      code: 'PROVIDER_PERMANENT',
      message: expect.stringMatching(/not JSON/),
    });
    await scenario.cli(['run', '--force', '--provider', 'klikoo']);
  });

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
