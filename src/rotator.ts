/**
 * The rotator: builds the store, providers and policy from a loaded config and runs
 * passes. Every runtime (CLI, daemon, Lambda) is a thin door onto this.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { passesPerDay, scheduleGapSeconds } from './common/schedule.js';
import type { LoadedConfig } from './config/load.js';
import type { Config, ProviderConfig } from './config/schema.js';
import { assertStoreFits } from './engine/budget.js';
import { readHeartbeat, recordHeartbeat } from './engine/heartbeat.js';
import { type PassSummary, runPass } from './engine/pass.js';
import { type EffectivePolicy, effectivePolicy, feasibility } from './engine/policy.js';
import type { Heartbeat, StateRecord } from './engine/records.js';
import { readPublic, readState } from './engine/records-io.js';
import type { RotationTarget } from './engine/rotate.js';
import { ConfigError, type ConfigIssue } from './errors.js';
import { type Logger, silentLogger } from './observability/logger.js';
import { createProvider, expectedLifetime } from './providers/registry.js';
import type { SecretStore } from './stores/contract.js';
import { createStore } from './stores/registry.js';

/** Options for {@link createRotator}. */
export interface RotatorOptions {
  readonly logger?: Logger;
  /** Overrides the store built from config (tests, embedding). */
  readonly store?: SecretStore;
  readonly now?: () => number;
  /** Lease holder id; default `host:pid:random`. */
  readonly holder?: string;
}

/** Options of one pass. */
export interface PassOptions {
  /** Only these providers (default: all). */
  readonly providers?: readonly string[];
  readonly force?: boolean;
  readonly dryRun?: boolean;
  /** Aborting stops waiting for other runners' leases; calls in flight complete. */
  readonly signal?: AbortSignal;
}

/** One row of `token-rotator status`. */
export interface ProviderStatus {
  readonly provider: string;
  readonly kind: string;
  readonly expiresAt?: string;
  readonly secondsToExpiry?: number;
  readonly generation?: number;
  readonly published?: number;
  readonly lastMethod?: string;
  readonly lastSuccessAt?: string;
  readonly lastError?: string;
  readonly nextAttemptAt?: string;
  readonly leaseHolder?: string;
  readonly hasRefreshToken: boolean;
}

/** A rotator bound to one config and store. */
export interface Rotator {
  readonly store: SecretStore;
  /** Longest gap between scheduled passes, in seconds. */
  readonly gapSeconds: number;
  /** Runs one pass and, unless it is a dry run, records it in the heartbeat (`runner/heartbeat`). */
  pass(options?: PassOptions): Promise<PassSummary>;
  status(): Promise<ProviderStatus[]>;
  /** The last pass any runner recorded on this store, or `undefined` when none did (the dead-man signal). */
  heartbeat(): Promise<Heartbeat | undefined>;
  /** Resolves references and builds every provider, reporting problems as a ConfigError. */
  check(): Promise<Config>;
  close(): Promise<void>;
}

/** Problems with the schedule for each provider's expected token lifetime. */
export function scheduleIssues(config: Pick<Config, 'policy' | 'providers'>, gapSeconds: number): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  for (const [name, provider] of Object.entries(config.providers)) {
    const verdict = feasibility(
      expectedLifetime(provider),
      effectivePolicy(config.policy, provider.policy),
      gapSeconds,
    );
    if (!verdict.ok) issues.push({ path: `policy.schedule`, message: `provider ${name}: ${verdict.reason}` });
  }
  return issues;
}

/** Computes the schedule gap, reporting a bad cron expression as a config error. */
export function gapOf(policy: Config['policy']): number {
  try {
    return scheduleGapSeconds(policy.schedule, policy.timezone);
  } catch (error) {
    throw new ConfigError(
      [{ path: 'policy.schedule', message: `not a valid cron expression (${(error as Error).message})` }],
      {
        cause: error,
      },
    );
  }
}

function buildTargets(config: Config, names: readonly string[] | undefined): RotationTarget[] {
  const selected = names ?? Object.keys(config.providers);
  const unknown = selected.filter((name) => config.providers[name] === undefined);
  if (unknown.length > 0) {
    throw new ConfigError(unknown.map((name) => ({ path: 'providers', message: `no provider named ${name}` })));
  }
  const issues: ConfigIssue[] = [];
  const targets: RotationTarget[] = [];
  for (const name of selected) {
    const provider = config.providers[name] as ProviderConfig;
    const policy: EffectivePolicy = effectivePolicy(config.policy, provider.policy);
    try {
      targets.push({
        name,
        provider: createProvider(provider, { timeoutMs: policy.request_timeout_seconds * 1000 }),
        policy,
        renewal: provider.renewal,
      });
    } catch (error) {
      issues.push({ path: `providers.${name}`, message: `cannot be built: ${(error as Error).message}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return targets;
}

/** Reads `${store:PATH#KEY}` references from the store. */
function storeLookup(store: SecretStore) {
  return async (path: string, key: string): Promise<string | undefined> => {
    const record = await store.read(path);
    const value = record?.value[key];
    return typeof value === 'string' ? value : undefined;
  };
}

function describeState(
  name: string,
  kind: string,
  state: StateRecord | undefined,
  published: number | undefined,
  now: number,
): ProviderStatus {
  const token = state?.token;
  const last = state?.failures.last;
  return {
    provider: name,
    kind,
    ...(token
      ? { expiresAt: token.expires_at, secondsToExpiry: Math.round((Date.parse(token.expires_at) - now) / 1000) }
      : {}),
    ...(state && state.generation > 0 ? { generation: state.generation } : {}),
    ...(published === undefined ? {} : { published }),
    ...(state?.method ? { lastMethod: state.method } : {}),
    ...(state?.last_success_at ? { lastSuccessAt: state.last_success_at } : {}),
    ...(last && (state?.failures.consecutive ?? 0) > 0 ? { lastError: `${last.class}: ${last.message}` } : {}),
    ...(state?.failures.next_attempt_at ? { nextAttemptAt: state.failures.next_attempt_at } : {}),
    ...(state?.lease && Date.parse(state.lease.expires_at) > now ? { leaseHolder: state.lease.holder } : {}),
    hasRefreshToken: state?.refresh_token !== undefined,
  };
}

/**
 * Builds a rotator. The schedule is checked against every provider's expected lifetime
 * before the store is built, so an unworkable config touches nothing.
 */
export function createRotator(loaded: LoadedConfig, options: RotatorOptions = {}): Rotator {
  const gapSeconds = gapOf(loaded.policy);
  const logger = options.logger ?? silentLogger();
  const store = options.store ?? createStore(loaded.store, { logger });
  assertStoreFits(store.kind, store.capabilities, () => passesPerDay(loaded.policy.schedule, loaded.policy.timezone));
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const now = options.now ?? Date.now;

  const resolve = () => loaded.resolve(storeLookup(store));

  return {
    store,
    gapSeconds,
    async check() {
      const config = await resolve();
      const issues = scheduleIssues(config, gapSeconds);
      if (issues.length > 0) throw new ConfigError(issues);
      buildTargets(config, undefined);
      return config;
    },
    async pass(passOptions = {}) {
      const config = await resolve();
      const targets = buildTargets(config, passOptions.providers);
      for (const target of targets) {
        const provider = config.providers[target.name];
        if (provider === undefined) continue; // buildTargets took only configured names
        const [issue] = scheduleIssues({ policy: config.policy, providers: { [target.name]: provider } }, gapSeconds);
        if (issue !== undefined) logger.warn({ provider: target.name }, issue.message);
      }
      const summary = await runPass(
        targets,
        {
          store,
          gapSeconds,
          holder,
          logger,
          now,
          ...(passOptions.force ? { force: true } : {}),
          ...(passOptions.dryRun ? { dryRun: true } : {}),
          ...(passOptions.signal ? { signal: passOptions.signal, sleep: abortableSleep(passOptions.signal) } : {}),
        },
        config.policy.concurrency,
      );
      logger.info({ counts: summary.counts, durationMs: summary.durationMs, ok: summary.ok }, 'pass finished');
      // The dead-man signal: one write per pass, never failing it (see engine/heartbeat.ts).
      if (!passOptions.dryRun) {
        await recordHeartbeat(
          store,
          {
            last_pass_at: new Date(now()).toISOString(),
            last_pass_ok: summary.ok,
            holder,
            duration_ms: Math.max(0, Math.round(summary.durationMs)),
          },
          logger,
        );
      }
      return summary;
    },
    async status() {
      const config = await resolve();
      const t = now();
      return Promise.all(
        Object.entries(config.providers).map(async ([name, provider]) => {
          const [state, pub] = await Promise.all([readState(store, name), readPublic(store, name)]);
          return describeState(name, provider.kind, state.record, pub.record?.generation, t);
        }),
      );
    },
    async heartbeat() {
      return (await readHeartbeat(store)).heartbeat;
    },
    close: () => store.close(),
  };
}

function abortableSleep(signal: AbortSignal) {
  return (ms: number) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
}
