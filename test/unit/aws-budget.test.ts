/**
 * The AWS store's version budget: a simulated week of passes on the default 5-minute
 * schedule, with the engine's real policy and a fake clock, for a 900 s provider and a
 * 3600 s provider, through the real AwsSecretsStore over an in-memory Secrets Manager
 * that logs every version it creates. No secret may take more than 96 new versions in
 * any 24 hours. The week includes six hours of a failing provider (every pass then takes
 * the lease and records the failure: the most writes a pass makes) and a day of
 * permanent failures with back-off.
 *
 * The same week with rings of one secret is run too: the engine then paces each state
 * record within the 96 versions the store declares (engine/budget.ts), which leaves the
 * 900 s token stale part of the time, and the unpaced heartbeat breaks the budget: the
 * counting is live.
 */
import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { runPass } from '../../src/engine/pass.js';
import { effectivePolicy, passesPerDay, scheduleGapSeconds } from '../../src/engine/policy.js';
import { readPublic } from '../../src/engine/records-io.js';
import type { RotationEnv, RotationTarget } from '../../src/engine/rotate.js';
import { ProviderError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { AwsSecretsStore, MAX_VERSIONS_PER_DAY } from '../../src/stores/aws/index.js';
import { sizeRing } from '../../src/stores/aws/schema.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { FakeSecretsManager } from '../helpers/fake-secrets-manager.js';

const DAY = 86_400_000;
const SCHEDULE = '*/5 * * * *';
const START = Date.parse('2026-03-02T00:00:00Z');

/** A week of passes; returns the versions log and what the providers saw. */
async function simulateWeek(ringSize: number) {
  const policy = resolvedConfigSchema.shape.policy.parse({ schedule: SCHEDULE });
  const gap = scheduleGapSeconds(SCHEDULE, undefined, 400, new Date(START));
  const clock = { now: START };
  const fake = new FakeSecretsManager();
  fake.clock = () => clock.now;
  const store = new AwsSecretsStore({ client: fake, prefix: 'tr/', ringSize });
  const providers = {
    short: new FakeProvider({ lifetime: 900, refreshable: true }),
    long: new FakeProvider({ lifetime: 3600, refreshable: false }),
  };
  const targets: RotationTarget[] = Object.entries(providers).map(([name, provider]) => ({
    name,
    provider,
    policy: effectivePolicy(policy, undefined),
    renewal: 'refresh',
  }));
  const env: RotationEnv = {
    store,
    gapSeconds: gap,
    holder: 'simulated-runner',
    logger: silentLogger(),
    now: () => clock.now,
    sleep: async (ms) => {
      clock.now += ms;
    },
    writeRetry: { sleep: async () => {} },
  };
  const retryable = () => new ProviderError('retryable', 'vendor answered 503', { status: 503 });
  const permanent = () =>
    new ProviderError('permanent', 'vendor answered 401', { status: 401, reason: 'invalid_client' });
  const failing = (provider: FakeProvider, error: () => ProviderError) => {
    provider.queue.obtain = Array.from({ length: 5000 }, error);
    provider.queue.refresh = Array.from({ length: 5000 }, error);
  };
  const recover = (provider: FakeProvider) => {
    provider.queue.obtain = [];
    provider.queue.refresh = [];
  };
  let passes = 0;
  let stale = 0;
  let heartbeat: string | null = null;
  for (let pass = START; pass < START + 7 * DAY; pass += gap * 1000) {
    clock.now = pass;
    const hour = (pass - START) / 3_600_000;
    // Day 2, 06:00-12:00: the short provider's vendor answers 503 (retried, no back-off).
    if (hour === 30) failing(providers.short, retryable);
    // Day 4: the long provider's client is refused for a day (permanent, backs off).
    if (hour === 72) failing(providers.long, permanent);
    if (hour === 36) recover(providers.short);
    if (hour === 96) recover(providers.long);

    const summary = await runPass(targets, env, 4);
    // The runtime records each pass (the dead-man signal): one write per pass.
    heartbeat = await store.write('runner/heartbeat', { last_pass_at: new Date(clock.now).toISOString() }, heartbeat);
    passes++;
    for (const outcome of summary.outcomes) {
      // A permanent failure's back-off (at most backoff_max_seconds, 1 h) outlasts the outage.
      const failingNow =
        (outcome.provider === 'short' && hour >= 30 && hour < 36) ||
        (outcome.provider === 'long' && hour >= 72 && hour < 97);
      if (failingNow) continue;
      const published = await readPublic(store, outcome.provider);
      if (published.record === undefined || Date.parse(published.record.expires_at) <= clock.now) stale++;
    }
  }
  return { fake, providers, passes, stale };
}

/** The most versions any secret took in a 24-hour window, per secret. */
function worstDayPerSecret(created: readonly { name: string; at: number }[]): Map<string, number> {
  const byName = new Map<string, number[]>();
  for (const { name, at } of created) byName.set(name, [...(byName.get(name) ?? []), at]);
  const worst = new Map<string, number>();
  for (const [name, times] of byName) {
    let most = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while (times[end]! - times[start]! >= DAY) start++;
      most = Math.max(most, end - start + 1);
    }
    worst.set(name, most);
  }
  return worst;
}

describe('AWS store version budget (a simulated week)', () => {
  it('sizes the ring from the schedule: 288 passes a day, 576 writes of a state record, 6 slots', () => {
    const passes = passesPerDay(SCHEDULE, undefined, 1000, new Date(START));
    const sized = sizeRing({ kind: 'aws', prefix: 'tr/', max_attempts: 3 }, passes);

    expect(passes).toBe(288);
    expect(sized).toEqual({ store: expect.objectContaining({ ring_size: 6 }), issues: [] });
  });

  it(`keeps every secret under ${MAX_VERSIONS_PER_DAY} new versions in any 24 hours, with 900 s and 3600 s tokens always valid`, async () => {
    const ringSize = sizeRing({ kind: 'aws', prefix: 'tr/', max_attempts: 3 }, passesPerDay(SCHEDULE)).store.ring_size!;

    const { fake, providers, passes, stale } = await simulateWeek(ringSize);

    const worst = worstDayPerSecret(fake.created);
    const figures = [...worst].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => `${name.slice(3)} ${n}`);
    console.log(
      `budget week: ${passes} passes, ${fake.created.length} versions, ${fake.calls.length} calls ` +
        `(${Math.round(fake.calls.length / 7)} a day); worst 24 h per secret: ${figures.join(', ')}`,
    );
    expect(passes).toBe(7 * 288);
    expect(Math.max(...worst.values())).toBeLessThanOrEqual(MAX_VERSIONS_PER_DAY);
    // Every slot of every record was used: the ring spread the writes.
    expect([...worst.keys()].filter((name) => name.startsWith('tr/state/short@'))).toHaveLength(ringSize);
    expect(stale).toBe(0);
    expect(providers.short.reuses).toBe(0);
    // The 900 s token was renewed every other pass (~144 a day), the 3600 s one far less.
    expect(providers.short.refreshed + providers.short.obtained).toBeGreaterThan(6 * 140);
    expect(providers.long.obtained).toBeGreaterThan(6 * 20);
  });

  it('with one secret per record, the engine paces the state within the budget, which cannot keep a 900 s token fresh', async () => {
    const { fake, stale } = await simulateWeek(1);

    const worst = worstDayPerSecret(fake.created);

    // The engine keeps the state records within the store's declared budget...
    expect(worst.get('tr/state/short@0')).toBeLessThanOrEqual(MAX_VERSIONS_PER_DAY);
    expect(worst.get('tr/state/long@0')).toBeLessThanOrEqual(MAX_VERSIONS_PER_DAY);
    // ...but 96 writes a day pay for at most 48 rotations, and a 900 s token needs ~150:
    // the layout, not the pacing, must give short-lived tokens room (issue 10).
    expect(stale).toBeGreaterThan(0);
    // The heartbeat is not paced (one write per pass), so the count is live: passes fall on
    // the 5-minute grid, but retry waits push some heartbeats a little later.
    expect(worst.get('tr/runner/heartbeat@0')).toBeGreaterThanOrEqual(288);
  });
});
