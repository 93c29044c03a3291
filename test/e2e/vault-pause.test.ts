import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CliResult, PROVIDERS } from '../helpers/scenario.js';
import { pauseOpenBao, startVaultScenario, type VaultScenario } from '../helpers/vault-scenario.js';

/** The store's `request_timeout_seconds`: how long one Vault request may go unanswered. */
const VAULT_TIMEOUT_MS = 2000;
/** How often the engine tries a store write (records-io `writeWithRetry`), and its back-off in total. */
const WRITE_ATTEMPTS = 4;
const WRITE_BACKOFF_MS = 200 + 400 + 800;
/** After the pass, the run records it in `runner/heartbeat`: one more call that can time out. */
const AFTER_PASS_MS = VAULT_TIMEOUT_MS;
/** How long the sandbox holds the answer of the refresh it has performed. */
const ANSWER_DELAY_MS = 1500;
/** Room for process start-up and a loaded machine; never part of what is proven. */
const MARGIN_MS = 6000;

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  method?: string;
  reason?: string;
  error?: { class: string; code: string; message: string };
}

let scenario: VaultScenario;
beforeAll(async () => {
  // Token auth (${env:VAULT_TOKEN}, rotator policy); a short lease, so a lease left by the
  // failed run has expired by the time the next run reads it; no provider retries.
  scenario = await startVaultScenario({
    auth: 'token',
    vault: { request_timeout_seconds: VAULT_TIMEOUT_MS / 1000 },
    workspace: { policy: { lease_seconds: 5, request_timeout_seconds: 5, retries: 0 } },
  });
  const first = await scenario.cli(['run']);
  expect(first.code, first.stderr.slice(-2000)).toBe(0);
  await scenario.harvestTokens();
});
afterAll(async () => {
  await scenario?.close();
});

const outcomesOf = (result: CliResult) => (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;

async function publicRecords(): Promise<Record<string, Record<string, unknown> | undefined>> {
  return Object.fromEntries(
    await Promise.all(PROVIDERS.map(async (provider) => [provider, await scenario.publicRecord(provider)] as const)),
  );
}

/** Exit 1 by itself (no signal), a JSON summary on stdout, only pino JSON lines on stderr, no stack trace. */
function expectCleanFailure(result: CliResult): Outcome[] {
  expect(result.signal).toBeNull();
  expect(result.code, result.stderr.slice(-2000)).toBe(1);
  for (const line of result.stderr.split('\n').filter((l) => l !== '')) {
    expect(() => JSON.parse(line), `not a log line: ${line.slice(0, 300)}`).not.toThrow();
  }
  expect(result.stdout + result.stderr).not.toMatch(/^\s*at .+:\d+:\d+\)?$/m);
  expect(result.stderr).not.toMatch(/"stack":"[^"]/);
  return outcomesOf(result);
}

/** A failure to reach the paused server, as the run reports it (for any operation and record unless given). */
const storeTimeout = (operation = '(read|write)', record = '[a-z/-]+') => ({
  class: 'store',
  code: 'STORE_UNAVAILABLE',
  message: expect.stringMatching(
    new RegExp(`^could not ${operation} record ${record}: no answer from Vault within ${VAULT_TIMEOUT_MS / 1000} s$`),
  ),
});

/**
 * After a pass with Vault answering again: every public record holds an active token, no
 * lease is held, and no refresh token was presented twice. A lease the paused run took
 * for a provider it then could not rotate may stay in the state, expired: it blocks no
 * one, and the next rotation replaces it.
 */
async function expectEveryProviderValid(context: string): Promise<void> {
  for (const provider of PROVIDERS) {
    const published = await scenario.publicRecord(provider);
    expect(scenario.sandbox.introspect(published?.['access_token'] as string), `${provider} ${context}`).toMatchObject({
      active: true,
      token_kind: 'access',
    });
    const state = await scenario.stateRecord(provider);
    const lease = state?.['lease'] as { expires_at: string } | undefined;
    if (lease !== undefined)
      expect(Date.parse(lease.expires_at), `${provider} ${context}: a lease is still held`).toBeLessThanOrEqual(
        Date.now(),
      );
    if (state?.['refresh_token'] !== undefined) {
      expect(scenario.sandbox.introspect(state['refresh_token'] as string), `${provider} ${context}`).toMatchObject({
        active: true,
        token_kind: 'refresh',
      });
    }
  }
  expect(scenario.sandbox.stats().reuseDetected, context).toBe(0);
}

const keliweb = () => scenario.sandbox.stats('keliweb-api-v2');

/**
 * Starts `run --force` and pauses OpenBao once the sandbox has performed keliweb-api's
 * refresh (spending the refresh token, revoking the published access token) but still
 * holds its answer. Asserts that the run fails cleanly within the store's timeouts and
 * leaves the published record as it was; resumes OpenBao in any case.
 */
async function failWhilePausedMidRefresh(env: Record<string, string> = {}) {
  const counts = keliweb();
  const beforePublic = (await scenario.publicRecord('keliweb-api'))!;
  const spentRefresh = (await scenario.stateRecord('keliweb-api'))!['refresh_token'] as string;
  expect(scenario.sandbox.introspect(spentRefresh).active).toBe(true);
  const answered = () => scenario.sandbox.requests.filter((request) => request.fault === 'latency').length;
  const answeredBefore = answered();
  scenario.sandbox.injectFault({ type: 'latency', ms: ANSWER_DELAY_MS, phase: 'after', target: 'keliweb-api-v2' });
  const { child, done } = scenario.spawnCli(['run', '--force', '--json'], env);
  let resume: (() => Promise<void>) | undefined;
  let result: CliResult;
  let elapsed: number;
  try {
    await vi.waitFor(() => expect(keliweb().refreshed).toBe(counts.refreshed + 1), { timeout: 15_000, interval: 5 });
    resume = await pauseOpenBao(scenario.bao);
    const paused = Date.now();
    // Proof that the pause is mid-rotation: the refresh is done, its answer not yet sent.
    expect(answered()).toBe(answeredBefore);
    const killer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    result = await done;
    elapsed = Date.now() - paused;
    clearTimeout(killer);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await resume?.();
  }

  // The runner got its new token but could not store it: the state write was tried
  // WRITE_ATTEMPTS times, each cut off after the store timeout, and reported.
  const outcomes = expectCleanFailure(result);
  expect(outcomes.find((outcome) => outcome.provider === 'keliweb-api')).toMatchObject({
    status: 'failed',
    error: storeTimeout('write', 'state/keliweb-api'),
  });
  // The others rotated before the pause, or met it and failed the same clean way.
  for (const outcome of outcomes.filter((o) => o.provider !== 'keliweb-api')) {
    if (outcome.status !== 'rotated')
      expect(outcome, outcome.provider).toMatchObject({ status: 'failed', error: storeTimeout() });
  }
  // Timed from the pause: what is left of the held answer, then the state write's attempts.
  expect(elapsed).toBeGreaterThanOrEqual(WRITE_ATTEMPTS * VAULT_TIMEOUT_MS);
  expect(elapsed).toBeLessThan(
    ANSWER_DELAY_MS + WRITE_ATTEMPTS * VAULT_TIMEOUT_MS + WRITE_BACKOFF_MS + AFTER_PASS_MS + MARGIN_MS,
  );
  // Consumers still read the token the refresh revoked, until the next run.
  expect(await scenario.publicRecord('keliweb-api')).toEqual(beforePublic);
  expect(scenario.sandbox.isValid(beforePublic['access_token'] as string)).toBe(false);
  expect(scenario.sandbox.introspect(spentRefresh).active).toBe(false);
  await scenario.harvestTokens();
  return { counts, beforePublic };
}

describe('a run while OpenBao is paused (SIGSTOP)', () => {
  it('paused before the run reaches it: fails within the store timeout, and the next run finds every token as it was', async () => {
    const before = await publicRecords();
    const calls = scenario.sandbox.stats().issued;
    const resume = await pauseOpenBao(scenario.bao);
    let result: CliResult;
    let elapsed: number;
    try {
      const started = Date.now();
      result = await scenario.cli(['run', '--force', '--json']);
      elapsed = Date.now() - started;
    } finally {
      await resume();
    }

    // Every provider's first store call went unanswered; so did the heartbeat's after the pass.
    const outcomes = expectCleanFailure(result);
    expect(outcomes).toHaveLength(PROVIDERS.length);
    for (const outcome of outcomes)
      expect(outcome, outcome.provider).toMatchObject({ status: 'failed', ok: false, error: storeTimeout() });
    expect(elapsed).toBeGreaterThanOrEqual(VAULT_TIMEOUT_MS);
    expect(elapsed).toBeLessThan(VAULT_TIMEOUT_MS + AFTER_PASS_MS + MARGIN_MS);
    expect(scenario.sandbox.stats().issued, 'no provider was called').toBe(calls);

    const next = await scenario.cli(['run', '--json']);
    await scenario.harvestTokens();
    expect(next.code, next.stderr.slice(-2000)).toBe(0);
    expect(outcomesOf(next).map((outcome) => outcome.status)).toEqual(PROVIDERS.map(() => 'fresh'));
    expect(await publicRecords()).toEqual(before);
    await expectEveryProviderValid('after a run against a paused OpenBao');
  }, 60_000);

  it('paused while a refresh answer is in flight: fails within the store timeouts, and the next run leaves every provider valid', async () => {
    const { counts, beforePublic } = await failWhilePausedMidRefresh();

    const next = await scenario.cli(['run', '--json']);
    await scenario.harvestTokens();
    expect(next.code, next.stderr.slice(-2000)).toBe(0);
    const outcomes = outcomesOf(next);
    const recovered = outcomes.find((outcome) => outcome.provider === 'keliweb-api')!;
    if (recovered.status === 'rotated') {
      // Vault never applied the state write it held: see the next test.
      expect(recovered).toMatchObject({ method: 'obtain', reason: 'abandoned-refresh' });
      expect(keliweb()).toMatchObject({ obtained: counts.obtained + 1, refreshed: counts.refreshed + 1 });
    } else {
      // OpenBao, resumed, served the state write still queued in its sockets (the runner
      // had given up on it; check-and-set let the first copy in): the refreshed token was
      // kept, and the next run only published it, with no token call.
      expect(recovered.status).toBe('repaired');
      expect(keliweb()).toMatchObject({ obtained: counts.obtained, refreshed: counts.refreshed + 1 });
      expect((await scenario.publicRecord('keliweb-api'))!['generation']).toBe(
        (beforePublic['generation'] as number) + 1,
      );
    }
    for (const outcome of outcomes.filter((o) => o.provider !== 'keliweb-api')) {
      expect(['fresh', 'repaired'], `${outcome.provider}: ${outcome.status}`).toContain(outcome.status);
    }
    console.info(
      `vault pause: keliweb-api recovered by ${recovered.status === 'rotated' ? 're-authenticating (abandoned refresh lease)' : 'publishing the state Vault applied on resume'}; ` +
        `${scenario.sandbox.stats().reuseDetected} refresh-token reuses`,
    );
    await expectEveryProviderValid('after the run paused mid-refresh');
  }, 60_000);

  it('paused mid-refresh until its Vault token expired: the held state write is refused, and the next run re-authenticates', async () => {
    // A token that outlives the run's start but not the pause, so the write OpenBao still
    // holds is refused when it resumes: the refreshed token is lost, the lease abandoned.
    const shortToken = (
      await scenario.bao.ok('POST', 'auth/token/create', { policies: ['token-rotator'], ttl: '8s', renewable: false })
    ).auth.client_token as string;
    scenario.canary.addSecret(shortToken);
    const { counts, beforePublic } = await failWhilePausedMidRefresh({ VAULT_TOKEN: shortToken });
    expect(
      (await scenario.bao.api('GET', 'auth/token/lookup-self', undefined, shortToken)).status,
      'the short token expired',
    ).toBe(403);
    expect((await scenario.stateRecord('keliweb-api'))!['lease']).toMatchObject({ intent: 'refresh' });

    const next = await scenario.cli(['run', '--json']);
    await scenario.harvestTokens();
    expect(next.code, next.stderr.slice(-2000)).toBe(0);
    const outcomes = outcomesOf(next);
    // The refresh token in the state may be spent (it is): never resend it; a password grant instead.
    expect(outcomes.find((outcome) => outcome.provider === 'keliweb-api')).toMatchObject({
      status: 'rotated',
      method: 'obtain',
      reason: 'abandoned-refresh',
    });
    expect(keliweb()).toMatchObject({
      obtained: counts.obtained + 1,
      refreshed: counts.refreshed + 1,
      reuseDetected: 0,
    });
    expect((await scenario.publicRecord('keliweb-api'))!['generation']).toBe(
      (beforePublic['generation'] as number) + 1,
    );
    for (const outcome of outcomes.filter((o) => o.provider !== 'keliweb-api')) {
      expect(['fresh', 'repaired'], `${outcome.provider}: ${outcome.status}`).toContain(outcome.status);
    }
    await expectEveryProviderValid('after the run paused until its token expired');
  }, 60_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
