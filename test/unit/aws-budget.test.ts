/**
 * The AWS store's version budget, the proof issue 10 asks for: a simulated week of passes
 * on the default 5-minute schedule, with a fake clock, the engine's real policy defaults
 * and the real engine (`runPass`, the lease, the token bucket, publishing), through the
 * real {@link AwsStore} over the in-memory Secrets Manager and Parameter Store, which log
 * every version they create. No secret may take more than 96 new versions in any 24
 * hours, every provider must have a valid published token whenever its vendor answers (or
 * the engine must say why not, and only for as long as its rules allow), and an idle pass
 * costs two calls per provider.
 *
 * The week: a 900 s provider (refresh tokens) with a six-hour retryable vendor outage; a
 * 3600 s provider (no refresh) with a four-hour retryable outage and a day of permanent
 * failures with back-off; a provider whose tokens go from 3600 s to 900 s and back, so
 * its public record moves from a secret to a parameter and back and its state ring grows
 * and shrinks.
 *
 * The same week run against a store that overstates its budget breaks the 96: the
 * counting is live.
 */
import { describe, expect, it } from 'vitest';
import { resolvedConfigSchema } from '../../src/config/schema.js';
import { bucketOf, providerUsage, STATE_WRITES_PER_ROTATION } from '../../src/engine/budget.js';
import { recordHeartbeat } from '../../src/engine/heartbeat.js';
import { runPass } from '../../src/engine/pass.js';
import { effectivePolicy, scheduleGapSeconds } from '../../src/engine/policy.js';
import { recordPaths, type StateRecord } from '../../src/engine/records.js';
import { readPublic } from '../../src/engine/records-io.js';
import type { Outcome, RotationEnv, RotationTarget } from '../../src/engine/rotate.js';
import { ProviderError } from '../../src/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { AwsStore, MAX_VERSIONS_PER_DAY } from '../../src/stores/aws/index.js';
import type { SecretStore, StoreCapabilities } from '../../src/stores/contract.js';
import { FakeProvider } from '../helpers/fake-provider.js';
import { FakeParameterStore, FakeSecretsManager } from '../helpers/fake-secrets-manager.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SCHEDULE = '*/5 * * * *';
const START = Date.parse('2026-03-02T00:00:00Z');
const PREFIX = 'tr/';

/** A stretch of the week in which a provider's vendor fails every call, in hours from the start. */
interface Outage {
  readonly provider: string;
  readonly from: number;
  readonly to: number;
  readonly kind: 'retryable' | 'permanent';
}

const OUTAGES: readonly Outage[] = [
  // Day 2, 06:00-12:00: the 900 s vendor answers 503; its token lapses 15 minutes in.
  { provider: 'short', from: 30, to: 36, kind: 'retryable' },
  // Day 3, 02:00-06:00: the 3600 s vendor answers 503 while its token is still valid.
  { provider: 'long', from: 50, to: 54, kind: 'retryable' },
  // Day 4: the 3600 s provider's client is refused for a day (permanent: back-off).
  { provider: 'long', from: 72, to: 96, kind: 'permanent' },
];

/** The lifetime the shifting provider's vendor gives its tokens at `hour`. */
const shiftingLifetime = (hour: number) => (hour >= 60 && hour < 110 ? 900 : 3600);

const outageAt = (provider: string, hour: number) =>
  OUTAGES.find((o) => o.provider === provider && hour >= o.from && hour < o.to);
/** The outage of `provider` that ended last before `hour`. */
const lastOutageBefore = (provider: string, hour: number) =>
  OUTAGES.filter((o) => o.provider === provider && o.to <= hour).sort((a, b) => b.to - a.to)[0];

/** A pass at which a provider's published token was missing or expired. */
interface Lapse {
  readonly provider: string;
  readonly hour: number;
  readonly status: Outcome['status'];
  readonly vendorDown: boolean;
}

/** The same store with its declared write budgets multiplied: the engine then paces nothing useful. */
function overstating(store: AwsStore, factor: number): SecretStore {
  const capabilities: StoreCapabilities = {
    compareAndSet: true,
    writeBudget: (path, usage) => {
      const budget = store.capabilities.writeBudget?.(path, usage);
      return budget && { ...budget, writes: budget.writes * factor };
    },
  };
  return {
    kind: store.kind,
    capabilities,
    read: (path, usage) => store.read(path, usage),
    write: (path, value, expected, options) => store.write(path, value, expected, options),
    close: () => store.close(),
  };
}

/** A week of passes; returns the fakes' logs and what the checks need. */
async function simulateWeek(options: { overstate?: number } = {}) {
  const policy = resolvedConfigSchema.shape.policy.parse({ schedule: SCHEDULE });
  const gap = scheduleGapSeconds(SCHEDULE, undefined, 400, new Date(START));
  const clock = { now: START };
  const secrets = new FakeSecretsManager();
  const parameters = new FakeParameterStore();
  secrets.clock = () => clock.now;
  parameters.clock = () => clock.now;
  const aws = new AwsStore({ client: secrets, parameters, prefix: PREFIX });
  const store = options.overstate === undefined ? aws : overstating(aws, options.overstate);
  const providers: Record<string, FakeProvider> = {
    short: new FakeProvider({ lifetime: 900, refreshable: true }),
    long: new FakeProvider({ lifetime: 3600, refreshable: false }),
    shifting: new FakeProvider({ lifetime: 3600, refreshable: true }),
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
  const vendorError = (kind: Outage['kind']) =>
    kind === 'retryable'
      ? new ProviderError('retryable', 'vendor answered 503', { status: 503 })
      : new ProviderError('permanent', 'vendor answered 401', { status: 401, reason: 'invalid_client' });

  let passes = 0;
  const lapses: Lapse[] = [];
  const okButInvalid: string[] = [];
  const behindState: string[] = [];
  const misplaced: string[] = [];
  /** Calls each provider's records took in passes where its outcome was `fresh`. */
  const idleCalls = new Map<string, number[]>();
  const statuses = new Map<string, Map<string, number>>();
  for (let pass = START; pass < START + 7 * DAY; pass += gap * 1000) {
    clock.now = pass;
    const hour = (pass - START) / HOUR;
    for (const [name, provider] of Object.entries(providers)) {
      const outage = outageAt(name, hour);
      provider.queue.obtain = outage ? Array.from({ length: 50 }, () => vendorError(outage.kind)) : [];
      provider.queue.refresh = outage ? Array.from({ length: 50 }, () => vendorError(outage.kind)) : [];
    }
    providers.shifting!.options.lifetime = shiftingLifetime(hour);

    const secretCalls = secrets.requests.length;
    const parameterCalls = parameters.requests.length;
    const summary = await runPass(targets, env, 4);
    const passCalls = [...secrets.requests.slice(secretCalls), ...parameters.requests.slice(parameterCalls)];
    // What the runtime does after every pass (the dead-man signal).
    await recordHeartbeat(
      store,
      {
        last_pass_at: new Date(clock.now).toISOString(),
        last_pass_ok: summary.ok,
        holder: 'simulated-runner',
        duration_ms: clock.now - pass,
      },
      silentLogger(),
    );
    passes++;

    for (const outcome of summary.outcomes) {
      const name = outcome.provider;
      const counts = statuses.get(name) ?? new Map<string, number>();
      counts.set(outcome.status, (counts.get(outcome.status) ?? 0) + 1);
      statuses.set(name, counts);
      if (outcome.status === 'fresh') {
        const own = passCalls.filter((request) => providerOf(request.name) === name).length;
        idleCalls.set(name, [...(idleCalls.get(name) ?? []), own]);
      }
      // Checked as a consumer would, after the pass: a read that does not know the usage.
      const published = await readPublic(aws, name);
      const state = (await aws.read(recordPaths.state(name)))?.value as StateRecord | undefined;
      const valid = published.record !== undefined && Date.parse(published.record.expires_at) > clock.now;
      if (!valid) lapses.push({ provider: name, hour, status: outcome.status, vendorDown: !!outageAt(name, hour) });
      if (outcome.ok && !valid) okButInvalid.push(`${name} at hour ${hour}`);
      if ((published.record?.generation ?? 0) !== (state?.generation ?? 0)) behindState.push(`${name} at ${hour}`);
      // A consumer finds the token in exactly one place, the one its lifetime calls for.
      const inSecret = secrets.secrets.has(`${PREFIX}tokens/${name}`);
      const inParameter = parameters.parameters.has(`/${PREFIX}tokens/${name}`);
      const lifetime =
        published.record && (Date.parse(published.record.expires_at) - Date.parse(published.record.issued_at)) / 1000;
      const expected = lifetime === undefined ? 'none' : lifetime <= 900 ? 'parameter' : 'secret';
      const found = inSecret && inParameter ? 'both' : inSecret ? 'secret' : inParameter ? 'parameter' : 'none';
      if (found !== expected) misplaced.push(`${name} at hour ${hour}: ${found}, expected ${expected}`);
    }
  }
  return {
    secrets,
    parameters,
    providers,
    passes,
    lapses,
    okButInvalid,
    behindState,
    misplaced,
    idleCalls,
    statuses,
    gap,
  };
}

/** The provider a secret or parameter name belongs to. */
function providerOf(name: string): string | undefined {
  return /(?:^|\/)(?:tokens|state)\/([^/@]+)/.exec(name)?.[1];
}

/** Lapses counted by provider, outcome and whether the vendor was down. */
function lapseSummary(lapses: readonly Lapse[]): string[] {
  const counts = new Map<string, number>();
  for (const l of lapses) {
    const key = `${l.provider} ${l.status} ${l.vendorDown ? 'down' : 'up'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => `  ${key}: ${n}`);
}

/** Per name: how many versions it took in the week, and the most in any 24-hour window. */
function versionCounts(log: readonly { name: string; at: number }[]): Map<string, { total: number; worst: number }> {
  const byName = new Map<string, number[]>();
  for (const { name, at } of log) byName.set(name, [...(byName.get(name) ?? []), at]);
  const counts = new Map<string, { total: number; worst: number }>();
  for (const [name, times] of byName) {
    let worst = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while (times[end]! - times[start]! >= DAY) start++;
      worst = Math.max(worst, end - start + 1);
    }
    counts.set(name, { total: times.length, worst });
  }
  return counts;
}

describe('AWS store version budget (a simulated week)', () => {
  it(`keeps every secret within ${MAX_VERSIONS_PER_DAY} new versions in any 24 hours, and every token published while its vendor answers`, async () => {
    const week = await simulateWeek();
    const { secrets, parameters, passes, lapses, gap } = week;

    const secretCounts = versionCounts(secrets.created);
    const parameterCounts = versionCounts(parameters.written);
    const rows = [
      ...[...secretCounts].map(
        ([name, c]) => `  secret     ${name.padEnd(28)} ${String(c.total).padStart(5)} ${c.worst}`,
      ),
      ...[...parameterCounts].map(
        ([name, c]) => `  parameter  ${name.padEnd(28)} ${String(c.total).padStart(5)} ${c.worst}`,
      ),
    ].sort();
    const idle = [...week.idleCalls].map(
      ([name, calls]) => `  ${name}: ${calls.length} idle passes, ${[...new Set(calls)].join('/')} calls each`,
    );
    console.log(
      [
        `budget week: ${passes} passes, ${secrets.calls.length} Secrets Manager and ${parameters.calls.length} SSM calls (checks included)`,
        '  where      name                          writes worst-24h',
        ...rows,
        'calls per idle pass, per provider (state batch read + public read):',
        ...idle,
        'passes ending with no valid published token (provider, outcome, vendor):',
        ...lapseSummary(lapses),
      ].join('\n'),
    );

    expect(passes).toBe(7 * 288);
    // The budget: no secret over 96 new versions in any 24 hours.
    const over = [...secretCounts].filter(([, { worst }]) => worst > MAX_VERSIONS_PER_DAY);
    expect(over).toEqual([]);
    expect(Math.max(...[...secretCounts.values()].map((c) => c.worst))).toBeGreaterThan(MAX_VERSIONS_PER_DAY / 2);
    // The heartbeat: one String parameter write per pass, no secret.
    expect(parameterCounts.get('/tr/runner/heartbeat')?.total).toBe(passes);
    expect(parameters.parameters.get('/tr/runner/heartbeat')?.type).toBe('String');
    expect([...secrets.secrets.keys()].filter((name) => name.includes('runner'))).toEqual([]);

    // The layout: 2 secrets for a 3600 s token, a parameter and a ring of 5 for a 900 s one.
    const secretsOf = (provider: string) =>
      [...secrets.secrets.keys()].filter((name) => providerOf(name) === provider).sort();
    expect(secretsOf('long')).toEqual(['tr/state/long@0', 'tr/tokens/long']);
    expect(secretsOf('short')).toEqual([
      'tr/state/short@0',
      'tr/state/short@1',
      'tr/state/short@2',
      'tr/state/short@3',
      'tr/state/short@4',
    ]);
    expect(parameters.parameters.get('/tr/tokens/short')?.type).toBe('SecureString');
    expect(parameters.parameters.has('/tr/tokens/long')).toBe(false);
    // The shifting provider, back on 3600 s tokens: its public record is a secret again, the parameter gone.
    expect(secrets.secrets.has('tr/tokens/shifting')).toBe(true);
    expect(parameters.parameters.has('/tr/tokens/shifting')).toBe(false);
    expect(parameterCounts.get('/tr/tokens/shifting')?.total).toBeGreaterThan(50 * 4);
    // Its state ring grew to 5 for the 900 s tokens; shrunk back to 1, it left @1-@4 for `prune`.
    expect(secretsOf('shifting').filter((name) => name.startsWith('tr/state/'))).toHaveLength(5);
    // After every pass, each public record was in one place only: the one its token's lifetime calls for.
    expect(week.misplaced).toEqual([]);

    // An idle pass reads each provider's records once: the state ring, the public record.
    for (const [name, calls] of week.idleCalls) {
      expect({ name, calls: [...new Set(calls)] }).toEqual({ name, calls: [2] });
      expect(calls.length).toBeGreaterThan(7 * 100);
    }

    // Publication: the public record always follows the state, and an ok outcome has a valid token.
    expect(week.behindState).toEqual([]);
    expect(week.okButInvalid).toEqual([]);
    // A token lapses only while its vendor is down, or right after, for as long as the
    // engine's rules say: a permanent failure's back-off (at most backoff_max_seconds after
    // the last failure) or the state's write allowance (2 writes refill in at most
    // 2 / rate after the last attempt, rate = 72 a day for a record of one secret).
    const policy = resolvedConfigSchema.shape.policy.parse({});
    const oneSecret = bucketOf({ writes: MAX_VERSIONS_PER_DAY, windowSeconds: 86_400 });
    const allowanceWait = STATE_WRITES_PER_ROTATION / oneSecret.perSecond;
    const unexplained = lapses.filter((lapse) => {
      if (lapse.vendorDown) return false;
      const outage = lastOutageBefore(lapse.provider, lapse.hour);
      if (outage === undefined) return true;
      const since = (lapse.hour - outage.to) * 3600;
      if (lapse.status === 'backoff')
        return !(outage.kind === 'permanent' && since <= policy.backoff_max_seconds + gap);
      if (lapse.status === 'paced') return !(since <= allowanceWait + gap);
      return true;
    });
    expect(unexplained).toEqual([]);
    // The 900 s provider's ring pays for its outage: it is never paced, its token is back at the first pass.
    expect(lapses.filter((l) => l.provider === 'short' && !l.vendorDown)).toEqual([]);
    expect(week.statuses.get('short')?.get('paced')).toBeUndefined();
    expect(lapses.filter((l) => l.provider === 'shifting')).toEqual([]);
    // The outages did lapse tokens (they outlast them), so the checks above were exercised.
    expect(lapses.filter((l) => l.provider === 'short' && l.vendorDown).length).toBeGreaterThan(60);
    expect(lapses.filter((l) => l.provider === 'long' && l.vendorDown).length).toBeGreaterThan(200);
    // While its token was still valid, the 3600 s provider's outage kept it published.
    const longOutage = OUTAGES[1]!;
    const firstLongLapse = Math.min(...lapses.filter((l) => l.provider === 'long').map((l) => l.hour));
    expect(firstLongLapse).toBeGreaterThan(longOutage.from);
    expect(firstLongLapse).toBeLessThanOrEqual(longOutage.from + 1);

    // Rotations: on the 5-minute grid a 900 s token is renewed every other pass (144 a day,
    // under the formula's 175), none during the 6-hour outage; a 3600 s one about 32 a day.
    expect(week.providers.short!.refreshed + week.providers.short!.obtained).toBe(7 * 144 - 6 * 6);
    expect(week.providers.short!.reuses).toBe(0);
    expect(week.providers.long!.obtained).toBeGreaterThan(5.5 * 32);
    expect(
      providerUsage(3600, effectivePolicy(policy, undefined), gap, 'long')?.public.writesPerDay,
    ).toBeLessThanOrEqual(MAX_VERSIONS_PER_DAY);
  }, 120_000);

  it('breaks the budget when the store overstates it: the counting is live', async () => {
    const { secrets } = await simulateWeek({ overstate: 10 });

    const counts = versionCounts(secrets.created);

    // Unpaced, the 3600 s provider's outages write its one state secret every pass.
    expect(counts.get('tr/state/long@0')!.worst).toBeGreaterThan(MAX_VERSIONS_PER_DAY);
  }, 120_000);
});
