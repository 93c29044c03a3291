/**
 * The rotator: builds the store, providers and policy from a loaded config and runs
 * passes. Every runtime (CLI, daemon, Lambda) is a thin door onto this.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { passesPerDay, scheduleGapSeconds } from './common/schedule.js';
import { abortableSleep } from './common/sleep.js';
import type { LoadedConfig } from './config/load.js';
import type { Config, ProviderConfig } from './config/schema.js';
import { assertStoreFits } from './engine/budget.js';
import { fanOut, SecondaryStores } from './engine/fan-out.js';
import { readHeartbeat, recordHeartbeat } from './engine/heartbeat.js';
import type { Outcome } from './engine/outcome.js';
import { type PassSummary, passCounts, runPass, watchingStates } from './engine/pass.js';
import { type EffectivePolicy, effectivePolicy, feasibility, renewalDueAt } from './engine/policy.js';
import type { Heartbeat, StateRecord } from './engine/records.js';
import { readPublic, readState } from './engine/records-io.js';
import type { RotationTarget } from './engine/rotate.js';
import { ConfigError, type ConfigIssue, type RotatorError } from './errors.js';
import { type Logger, silentLogger } from './observability/logger.js';
import { consecutiveFailures, type SettleResult, WebhookDispatcher } from './observability/webhooks.js';
import { createProvider, expectedLifetime } from './providers/registry.js';
import type { SecretStore } from './stores/contract.js';
import { createStore, type StoreConfig } from './stores/registry.js';

/** Options for {@link createRotator}. */
export interface RotatorOptions {
  readonly logger?: Logger;
  /** Overrides the store built from config (tests, embedding). */
  readonly store?: SecretStore;
  readonly now?: () => number;
  /** Lease holder id; default `host:pid:random`. */
  readonly holder?: string;
  /** Sends the config's webhooks (tests); default one built on `logger`. */
  readonly webhooks?: WebhookDispatcher;
}

/** Options of one pass. */
export interface PassOptions {
  /** Only these providers (default: all). */
  readonly providers?: readonly string[];
  readonly force?: boolean;
  readonly dryRun?: boolean;
  /** Aborting stops waiting for other runners' leases; calls in flight complete. */
  readonly signal?: AbortSignal;
  /**
   * A reference that fails in one provider's section (a file removed, the store not
   * answering) fails that provider only, with a `failed` outcome, and the others are
   * rotated (the daemon, which retries next pass). Default false: the pass throws a
   * ConfigError or StoreError before any provider runs (`run`, whose exit code says which).
   */
  readonly isolateReferences?: boolean;
  /**
   * Read and rotate only the providers that may need work by what this rotator last read
   * of them: one found fresh by an earlier pass is reported `fresh` again, with the token
   * facts then read, without reading the store or resolving its references, until its
   * token's renewal point ({@link renewalDueAt}). A provider last seen in any other state
   * (backing off, busy, paced, failed, never read) is always read. A record changed behind
   * the rotator's back (another runner rotated it, someone deleted it) is therefore only
   * seen by a pass without this option: the daemon and a warm Lambda container run one
   * every `FULL_CHECK_EVERY_MS` (see `runtimes/full-check.ts`). Ignored with `force` or `dryRun`.
   */
  readonly onlyPossiblyDue?: boolean;
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
  /** The last failure as one line, `class: message` (the status table's column). */
  readonly lastError?: string;
  /** The same failure as the error shape every JSON output uses; absent once a rotation succeeded. */
  readonly lastFailure?: { readonly class: string; readonly code: string; readonly message: string };
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
  /**
   * Waits for the webhooks in flight, at most `timeoutMs` (default 10 s), abandoning the
   * rest: a short-lived runtime calls it before it ends. {@link close} does too.
   */
  settle(timeoutMs?: number): Promise<SettleResult>;
  /** Settles the webhooks in flight (bounded), then closes the store. */
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

/**
 * The providers `names` selects (default: all), checked against the configured ones.
 * @throws {ConfigError} naming the configured providers when a name is not one of them.
 */
export function selectProviders(configured: readonly string[], names: readonly string[] | undefined): string[] {
  const selected = names === undefined ? [...configured] : [...names];
  if (names === undefined) return selected;
  const known = new Set(configured);
  const unknown = selected.filter((name) => !known.has(name));
  if (unknown.length > 0) {
    const list = ` (configured: ${configured.join(', ')})`;
    throw new ConfigError(unknown.map((name) => ({ path: 'providers', message: `no provider named ${name}${list}` })));
  }
  return selected;
}

/** A target built for a provider, and the (frozen) config objects it was built from. */
interface BuiltTarget {
  readonly provider: ProviderConfig;
  readonly policy: Config['policy'];
  readonly target: RotationTarget;
}

/**
 * Builds a rotation target for each selected provider; a name absent from `config` is
 * skipped. A target in `built` made from the very same provider and policy objects is
 * reused: the config's resolution returns the previous objects while the values behind
 * their references are unchanged, so a provider is rebuilt only when one changed.
 */
function buildTargets(config: Config, selected: readonly string[], built?: Map<string, BuiltTarget>): RotationTarget[] {
  const issues: ConfigIssue[] = [];
  const targets: RotationTarget[] = [];
  for (const name of selected) {
    const provider = config.providers[name];
    if (provider === undefined) continue; // it failed to resolve this pass (isolateReferences)
    const known = built?.get(name);
    if (known !== undefined && known.provider === provider && known.policy === config.policy) {
      targets.push(known.target);
      continue;
    }
    const policy: EffectivePolicy = effectivePolicy(config.policy, provider.policy);
    try {
      const target: RotationTarget = {
        name,
        provider: createProvider(provider, { timeoutMs: policy.request_timeout_seconds * 1000, name }),
        policy,
        renewal: provider.renewal,
      };
      targets.push(target);
      built?.set(name, { provider, policy: config.policy, target });
    } catch (error) {
      built?.delete(name);
      issues.push({ path: `providers.${name}`, message: `cannot be built: ${(error as Error).message}` });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return targets;
}

/** What a pass learnt of a provider it found fresh: when it could next need work, and its token facts. */
interface FreshSince {
  /** Epoch ms from which its token is due ({@link renewalDueAt}). */
  readonly dueAt: number;
  /** The outcome a pass that skips it reports: `fresh`, with the token facts last read. */
  readonly outcome: Outcome;
}

/**
 * What `outcome` and the state record it was decided on say of the provider's next
 * work: a {@link FreshSince} when it was found fresh (or repaired) with a token, else
 * `undefined` (read it at the next pass). The record was validated when the rotation read
 * it; only the token's issue time, which the outcome does not carry, is taken from it.
 */
function freshSince(
  outcome: Outcome,
  seen: Record<string, unknown> | undefined,
  target: RotationTarget,
  gapSeconds: number,
): FreshSince | undefined {
  if (!outcome.ok || (outcome.status !== 'fresh' && outcome.status !== 'repaired')) return undefined;
  const token = seen?.['token'] as { readonly issued_at?: unknown; readonly expires_at?: unknown } | undefined;
  const expiresAt = outcome.expiresAt;
  if (expiresAt === undefined || token?.expires_at !== expiresAt || typeof token.issued_at !== 'string')
    return undefined;
  const dueAt = renewalDueAt(
    { provider: target.name, token: { issued_at: token.issued_at, expires_at: expiresAt } },
    target.policy,
    gapSeconds,
  );
  if (dueAt === undefined || Number.isNaN(dueAt)) return undefined;
  const { generation, method } = outcome;
  return {
    dueAt,
    outcome: Object.freeze({
      provider: target.name,
      status: 'fresh',
      ok: true,
      expiresAt,
      ...(generation === undefined ? {} : { generation }),
      ...(method ? { method } : {}),
      durationMs: 0,
    }),
  };
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
    ...(last && (state?.failures.consecutive ?? 0) > 0
      ? {
          lastError: `${last.class}: ${last.message}`,
          lastFailure: { class: last.class, code: last.code, message: last.message },
        }
      : {}),
    ...(state?.failures.next_attempt_at ? { nextAttemptAt: state.failures.next_attempt_at } : {}),
    ...(state?.lease && Date.parse(state.lease.expires_at) > now ? { leaseHolder: state.lease.holder } : {}),
    hasRefreshToken: state?.refresh_token !== undefined,
  };
}

/**
 * Builds a rotator, importing the store kind the config names. It connects to nothing:
 * the store is reached at the rotator's first call.
 */
export async function createRotator(loaded: LoadedConfig, options: RotatorOptions = {}): Promise<Rotator> {
  const gapSeconds = gapOf(loaded.policy);
  const logger = options.logger ?? silentLogger();
  const store = options.store ?? (await createStore(loaded.store, { logger }));
  assertStoreFits(store.kind, store.capabilities, () => passesPerDay(loaded.policy.schedule, loaded.policy.timezone));
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  const now = options.now ?? Date.now;

  const resolve = () => loaded.resolve(storeLookup(store));
  const built = new Map<string, BuiltTarget>();
  /** Providers the last pass that read them found fresh (see {@link PassOptions.onlyPossiblyDue}). */
  const fresh = new Map<string, FreshSince>();
  const webhooks = options.webhooks ?? new WebhookDispatcher({ logger });
  /** The `stores` public records are also published to (fan-out); they never hold state or leases. */
  const secondaries = new SecondaryStores<StoreConfig>((section) => createStore(section, { logger }));

  return {
    store,
    gapSeconds,
    async check() {
      const config = await resolve();
      const issues = scheduleIssues(config, gapSeconds);
      if (issues.length > 0) throw new ConfigError(issues);
      // Kept: the daemon's first pass reuses what its check at start built.
      buildTargets(config, Object.keys(config.providers), built);
      return config;
    },
    async pass(passOptions = {}) {
      // An unknown name is a usage error whether or not the store answers: checked first.
      const selected = selectProviders(loaded.providerNames, passOptions.providers);
      const skipping = passOptions.onlyPossiblyDue === true && !passOptions.force && !passOptions.dryRun;
      const started = now();
      const skipped: Outcome[] = [];
      const toRun = skipping ? [] : selected;
      if (skipping) {
        const debug = logger.isLevelEnabled('debug');
        for (const name of selected) {
          const known = fresh.get(name);
          if (known === undefined || started >= known.dueAt) toRun.push(name);
          else {
            skipped.push(known.outcome);
            // As rotate() logs a provider it found fresh.
            if (debug)
              logger
                .child({ provider: name })
                .debug({ outcome: 'fresh', method: known.outcome.method }, 'provider fresh');
          }
        }
      }
      const { config, failures } = passOptions.isolateReferences
        ? await loaded.resolveEach(storeLookup(store), toRun)
        : { config: await resolve(), failures: new Map<string, RotatorError>() };
      const targets = buildTargets(config, toRun, built);
      const unresolved: Outcome[] = [];
      for (const name of toRun) {
        const error = failures.get(name);
        if (error === undefined) continue;
        fresh.delete(name);
        const outcome = unresolvedOutcome(name, error);
        logger.error({ provider: name, err: outcome.error }, 'provider skipped: its references did not resolve');
        unresolved.push(outcome);
      }
      for (const target of targets) {
        const provider = config.providers[target.name];
        if (provider === undefined) continue; // buildTargets took only configured names
        const [issue] = scheduleIssues({ policy: config.policy, providers: { [target.name]: provider } }, gapSeconds);
        if (issue !== undefined) logger.warn({ provider: target.name }, issue.message);
      }
      const seen = new Map<string, Record<string, unknown>>();
      /** Each provider's state record as the pass first read it: what `recovered` is decided on. */
      const before = new Map<string, Record<string, unknown>>();
      const { signal } = passOptions;
      const ran = await runPass(
        targets,
        {
          store: watchingStates(
            store,
            targets.map((target) => target.name),
            (name, value) => {
              if (!before.has(name)) before.set(name, value);
              seen.set(name, value);
            },
          ),
          gapSeconds,
          holder,
          logger,
          now,
          ...(passOptions.force ? { force: true } : {}),
          ...(passOptions.dryRun ? { dryRun: true } : {}),
          ...(signal ? { signal, sleep: (ms: number) => abortableSleep(ms, signal) } : {}),
        },
        config.policy.concurrency,
      );
      if (!passOptions.dryRun) {
        ran.outcomes.forEach((outcome, index) => {
          const target = targets[index];
          if (target === undefined) return;
          const since = freshSince(outcome, seen.get(target.name), target, gapSeconds);
          if (since === undefined) fresh.delete(target.name);
          else fresh.set(target.name, since);
        });
      }
      // Fan-out after the primary is written, never failing the pass (see engine/fan-out.ts).
      if (!passOptions.dryRun && config.publish_to !== undefined) {
        const publishTo = config.publish_to;
        await fanOut(seen, (name) => secondaries.select(config.stores, publishTo[name] ?? []), logger);
      }
      const summary = withOutcomes(ran, [...skipped, ...unresolved], selected);
      logger.info({ counts: passCounts(summary), duration_ms: summary.durationMs, ok: summary.ok }, 'pass finished');
      // Announced in the background: a slow or failing receiver never delays the pass.
      if (!passOptions.dryRun)
        webhooks.notify(config.webhooks ?? [], summary.outcomes, (name) => consecutiveFailures(before.get(name)));
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
    settle: (timeoutMs) => webhooks.settle(timeoutMs),
    async close() {
      await webhooks.settle();
      await secondaries.close();
      await store.close();
    },
  };
}

/**
 * The outcome of a provider whose references did not resolve this pass: `failed`, as a
 * store failure (retried next pass) or a permanent one (a wrong reference, until fixed).
 */
function unresolvedOutcome(provider: string, error: RotatorError): Outcome {
  const isConfig = error instanceof ConfigError;
  return {
    provider,
    status: 'failed',
    ok: false,
    error: {
      class: isConfig ? 'permanent' : 'store',
      code: error.code,
      message: `its references did not resolve: ${isConfig ? error.issues.map((i) => `${i.path}: ${i.message}`).join('; ') : error.message}`,
    },
    durationMs: 0,
  };
}

/**
 * A pass's summary with the outcomes of providers that did not run added (skipped as
 * fresh, or unresolved), in `order`, and counted.
 */
function withOutcomes(summary: PassSummary, extra: readonly Outcome[], order: readonly string[]): PassSummary {
  if (extra.length === 0) return summary;
  const byName = new Map<string, Outcome>();
  for (const outcome of summary.outcomes) byName.set(outcome.provider, outcome);
  for (const outcome of extra) byName.set(outcome.provider, outcome);
  const outcomes: Outcome[] = [];
  for (const name of order) {
    const outcome = byName.get(name);
    if (outcome !== undefined) outcomes.push(outcome);
  }
  const counts = { ...summary.counts };
  for (const outcome of extra) counts[outcome.status]++;
  return { ...summary, outcomes, counts, ok: summary.ok && extra.every((outcome) => outcome.ok) };
}
