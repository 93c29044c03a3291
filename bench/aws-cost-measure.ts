/**
 * The core of the AWS cost benchmark (`npm run bench:aws-cost`, entry `bench/aws-cost.ts`):
 * runs the built CLI (`dist/runtimes/bin.js`) as users run it, against the provider
 * sandbox and an AWS store on moto behind the call counter, and turns the calls it
 * counted into calls per day and dollars per month.
 *
 * It knows nothing of how the store lays records out: it counts every request the CLI
 * sends (`test/helpers/aws-call-counter.ts`) and attributes each call by the name it
 * carries: to the heartbeat when it starts with `<prefix>runner/heartbeat`, to the
 * provider when it is under the prefix and names the provider, and to the runner
 * otherwise (another shared record, or a listing that names nothing). It counts the
 * secrets and the SSM parameters under the prefix the same way. Each kind runs alone
 * under its own prefix. So it measures whatever layout the store has, unchanged: since 0.2,
 * one secret per public record (an SSM parameter for tokens shorter than about 30 min), a
 * state ring sized from the record's write rate, the heartbeat in an SSM parameter.
 *
 * The cost model (stated again in the printed report):
 * - passes per day and the longest gap between passes come from the schedule
 *   (`src/common/schedule.ts`); the renewal point from `renewThreshold` in
 *   `src/engine/policy.ts` with the default policy, the provider's name (its jitter) and
 *   the token lifetime the sandbox is told to issue;
 * - rotations per day = 86400 / (lifetime − threshold) (`rotationsPerDay`); a day has
 *   (passes − rotations) idle passes and `rotations` rotating passes per provider, and
 *   `passes` heartbeats per runner, whatever the number of providers;
 * - a rotation is measured with `run --force`, which the engine paces like any other
 *   rotation: the state's write budget allows a burst of `burstRotations` (12 for a
 *   3600 s token), so a measurement asks for no more forced rotations than that;
 * - Secrets Manager: $0.40 per secret-month, $0.05 per 10,000 API calls; SSM Parameter
 *   Store standard parameters: no storage charge, and standard-throughput API calls are
 *   free; a month is 30 days. Calls to any other service are listed and not priced.
 *
 * @see https://aws.amazon.com/secrets-manager/pricing/
 * @see https://aws.amazon.com/systems-manager/pricing/
 */

import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListSecretsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parse, stringify } from 'yaml';
import { fieldKit } from '../src/common/fields.js';
import { policySchema } from '../src/common/policy.js';
import { passesPerDay, scheduleGapSeconds } from '../src/common/schedule.js';
import { bucketOf, providerUsage, STATE_WRITES_PER_ROTATION } from '../src/engine/budget.js';
import { effectivePolicy, renewThreshold, rotationsPerDay } from '../src/engine/policy.js';
import { HEARTBEAT_PATH } from '../src/engine/records.js';
import { writeWorkspace } from '../src/runtimes/demo.js';
import { createDemoClients, type SandboxTarget, startSandbox } from '../src/sandbox/index.js';
import { createAwsStore } from '../src/stores/aws/index.js';
import { type AwsCall, startAwsCallCounter } from '../test/helpers/aws-call-counter.js';
import { awsCli } from '../test/helpers/aws-consumers.js';
import { MOTO_ENV, type Moto, startMoto } from '../test/helpers/moto.js';
import { BIN, type CliResult, captureOutput } from '../test/helpers/scenario.js';

/** A provider of the sandbox workspace and the token lifetime it is measured with. */
export interface ProviderKind {
  /** The provider's name in the workspace `writeWorkspace` writes (`generic`, `klikoo`…). */
  readonly provider: string;
  /** The sandbox target that issues its tokens. */
  readonly target: SandboxTarget;
  /** Access-token lifetime the sandbox issues, in seconds. */
  readonly lifetimeSeconds: number;
}

/** The two lifetimes issue 10 prices: an hour (OAuth 2.0 client credentials) and 15 minutes (Klikoo). */
export const PROVIDER_KINDS: readonly ProviderKind[] = [
  { provider: 'generic', target: 'oauth2', lifetimeSeconds: 3600 },
  { provider: 'klikoo', target: 'klikoo', lifetimeSeconds: 900 },
];

/** Who a call or a stored item is for. */
export type Owner = 'provider' | 'heartbeat' | 'runner';

/** The calls of one CLI run, by owner and then by `service.Operation`. */
export type PassCalls = Record<Owner, Record<string, number>>;

/** Prices, in dollars. */
export const PRICES = {
  secretMonth: 0.4,
  /** Per call, by service; a service not listed is not priced. */
  call: { secretsmanager: 0.05 / 10_000, ssm: 0 } as Readonly<Record<string, number>>,
  /** SSM standard parameters: no storage charge. */
  parameterMonth: 0,
  daysPerMonth: 30,
} as const;

/** What was measured for one provider kind. */
export interface KindMeasurement {
  readonly kind: ProviderKind;
  readonly schedule: string;
  readonly passesPerDay: number;
  /** Seconds before expiry at which the engine renews this provider's token. */
  readonly thresholdSeconds: number;
  readonly rotationsPerDay: number;
  /** Secrets and SSM parameters under the prefix at the end, by owner. */
  readonly secrets: Record<Owner, number>;
  readonly parameters: Record<Owner, number>;
  /** The first run, which finds nothing and creates the records. */
  readonly firstRun: PassCalls;
  /** `run` with every token fresh, once per measured run. */
  readonly idle: readonly PassCalls[];
  /** `run --force`, once per measured run. */
  readonly rotation: readonly PassCalls[];
}

/** Options of {@link measureAwsCost}. */
export interface MeasureOptions {
  /** Provider kinds to measure, one workspace each; {@link PROVIDER_KINDS} by default. */
  readonly kinds?: readonly ProviderKind[];
  /** Idle passes and forced rotations measured per kind; 5 by default. */
  readonly runs?: number;
  /**
   * Forced rotations before measuring, so a layout that grows with use (a ring that
   * creates its slots as it first reaches them: 5 state writes for a 900 s token) is
   * measured in its steady state; 3 by default. The first run, the warm-up and the
   * measured rotations together must fit {@link burstRotations}.
   */
  readonly warmup?: number;
  /** A moto already running; one is started (and stopped) otherwise. */
  readonly moto?: Moto;
  /** Progress lines, e.g. `process.stderr.write`. */
  readonly progress?: (line: string) => void;
}

/** A moto_server for the whole benchmark, each kind under its own prefix. */
export async function measureAwsCost(options: MeasureOptions = {}): Promise<KindMeasurement[]> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first`);
  const moto = options.moto ?? (await startMoto());
  try {
    const results: KindMeasurement[] = [];
    for (const kind of options.kinds ?? PROVIDER_KINDS) results.push(await measureKind(kind, moto, options));
    return results;
  } finally {
    if (options.moto === undefined) await moto.stop();
  }
}

function emptyPass(): PassCalls {
  return { provider: {}, heartbeat: {}, runner: {} };
}

/**
 * Who a name under `prefix` belongs to: the heartbeat's, the provider's when it names the
 * provider, else the runner's; `undefined` outside the prefix. SSM names may carry a
 * leading slash the prefix does not.
 */
function ownerOf(name: string, prefix: string, provider: string): Owner | undefined {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!bare.startsWith(prefix)) return undefined;
  if (bare.startsWith(`${prefix}${HEARTBEAT_PATH}`)) return 'heartbeat';
  return bare.slice(prefix.length).includes(provider) ? 'provider' : 'runner';
}

function tally(calls: readonly AwsCall[], prefix: string, provider: string): PassCalls {
  const pass = emptyPass();
  for (const call of calls) {
    const bucket =
      pass[call.resource === undefined ? 'runner' : (ownerOf(call.resource, prefix, provider) ?? 'runner')];
    const key = `${call.service}.${call.operation}`;
    bucket[key] = (bucket[key] ?? 0) + 1;
  }
  return pass;
}

async function countStored(moto: Moto, prefix: string, provider: string) {
  const secrets: Record<Owner, number> = { provider: 0, heartbeat: 0, runner: 0 };
  const parameters: Record<Owner, number> = { provider: 0, heartbeat: 0, runner: 0 };
  const client = new SecretsManagerClient({
    endpoint: moto.endpoint,
    region: MOTO_ENV.AWS_REGION,
    credentials: {
      accessKeyId: MOTO_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: MOTO_ENV.AWS_SECRET_ACCESS_KEY,
      sessionToken: MOTO_ENV.AWS_SESSION_TOKEN,
    },
  });
  try {
    let NextToken: string | undefined;
    do {
      const page = await client.send(new ListSecretsCommand({ MaxResults: 100, ...(NextToken ? { NextToken } : {}) }));
      for (const secret of page.SecretList ?? []) {
        const owner = secret.Name === undefined ? undefined : ownerOf(secret.Name, prefix, provider);
        if (owner !== undefined) secrets[owner]++;
      }
      NextToken = page.NextToken;
    } while (NextToken !== undefined);
  } finally {
    client.destroy();
  }
  const { json } = await awsCli(['ssm', 'describe-parameters'], { endpoint: moto.endpoint });
  for (const parameter of (json as { Parameters?: { Name?: string }[] }).Parameters ?? []) {
    const owner = parameter.Name === undefined ? undefined : ownerOf(parameter.Name, prefix, provider);
    if (owner !== undefined) parameters[owner]++;
  }
  return { secrets, parameters };
}

/**
 * How many rotations in a row the engine lets a provider of `kind` make on the AWS store
 * before pacing it (`paced`): the burst of the token bucket over the state record's write
 * budget, as the store declares it for the usage the engine declares. Forced rotations
 * beyond it would measure pacing, not rotations.
 */
export function burstRotations(kind: ProviderKind): number {
  const policy = policySchema(fieldKit('resolved')).parse({});
  const gap = scheduleGapSeconds(policy.schedule, policy.timezone);
  const usage = providerUsage(kind.lifetimeSeconds, effectivePolicy(policy, undefined), gap, kind.provider);
  const store = createAwsStore({ kind: 'aws', prefix: 'token-rotator/', region: MOTO_ENV.AWS_REGION, max_attempts: 1 });
  try {
    const budget = store.capabilities.writeBudget?.(`state/${kind.provider}`, usage?.state);
    return budget === undefined
      ? Number.POSITIVE_INFINITY
      : Math.floor(bucketOf(budget).capacity / STATE_WRITES_PER_ROTATION);
  } finally {
    void store.close();
  }
}

async function measureKind(kind: ProviderKind, moto: Moto, options: MeasureOptions): Promise<KindMeasurement> {
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 3;
  const say = options.progress ?? (() => {});
  const burst = burstRotations(kind);
  if (1 + warmup + runs > burst) {
    throw new RangeError(
      `${kind.provider} (${kind.lifetimeSeconds} s): 1 first run + ${warmup} warm-up + ${runs} measured rotations exceed the ${burst} the state's write budget allows in a row; ask for fewer`,
    );
  }
  const counter = await startAwsCallCounter(moto.endpoint);
  const { clients, secrets } = await createDemoClients();
  const sandbox = await startSandbox({
    clients,
    lifetimes: { [kind.target]: { accessSeconds: kind.lifetimeSeconds } },
  });
  const dir = await mkdtemp(join(tmpdir(), 'tr-bench-'));
  const prefix = `bench-${randomUUID().slice(0, 8)}/`;
  try {
    // The default policy and schedule, as a user who configures nothing gets them.
    const policy = policySchema(fieldKit('resolved')).parse({});
    const configPath = await writeWorkspace(dir, sandbox, secrets, { logLevel: 'warn' });
    const config = parse(await readFile(configPath, 'utf8')) as { providers: Record<string, unknown> };
    const provider = config.providers[kind.provider];
    if (provider === undefined) throw new Error(`the sandbox workspace has no provider ${kind.provider}`);
    await writeFile(
      configPath,
      stringify({
        ...config,
        store: { kind: 'aws', prefix, region: MOTO_ENV.AWS_REGION, endpoint: counter.endpoint },
        providers: { [kind.provider]: provider },
      }),
      { mode: 0o600 },
    );

    const cli = async (args: readonly string[]): Promise<CliResult> => {
      const child = spawn(process.execPath, [BIN, ...args, '--config', configPath], {
        env: { PATH: process.env['PATH'], ...MOTO_ENV },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
      const result = await captureOutput(child);
      clearTimeout(timer);
      return result;
    };
    /** One `run`, checked to end with the expected outcome, and the calls it made. */
    const pass = async (args: readonly string[], expected: string): Promise<PassCalls> => {
      counter.reset();
      const result = await cli(['run', '--json', ...args]);
      if (result.code !== 0)
        throw new Error(`run ${args.join(' ')} exited ${result.code}: ${result.stderr.slice(-2000)}`);
      const outcomes = (JSON.parse(result.stdout) as { outcomes: { provider: string; status: string }[] }).outcomes;
      const statuses = outcomes.map((o) => `${o.provider}:${o.status}`);
      if (statuses.join() !== `${kind.provider}:${expected}`) {
        throw new Error(`run ${args.join(' ')} reported ${statuses.join(', ')}, not ${kind.provider}:${expected}`);
      }
      return tally(counter.calls(), prefix, kind.provider);
    };

    say(`${kind.provider} (${kind.lifetimeSeconds} s): first run, ${warmup} warm-up rotations, ${runs} measured runs`);
    const firstRun = await pass([], 'rotated');
    for (let i = 0; i < warmup; i++) await pass(['--force'], 'rotated');
    const idle: PassCalls[] = [];
    const rotation: PassCalls[] = [];
    for (let i = 0; i < runs; i++) {
      idle.push(await pass([], 'fresh'));
      rotation.push(await pass(['--force'], 'rotated'));
    }
    // The rotator's own reader must find a token the sandbox accepts, or nothing above measured a working store.
    const got = await cli(['get', kind.provider]);
    if (got.code !== 0 || !sandbox.isValid(got.stdout.trim())) {
      throw new Error(`token-rotator get ${kind.provider} did not return a valid token: ${got.stderr.slice(-2000)}`);
    }

    const gap = scheduleGapSeconds(policy.schedule, policy.timezone);
    const effective = effectivePolicy(policy, undefined);
    const thresholdSeconds = renewThreshold(kind.lifetimeSeconds, effective, gap, kind.provider);
    return {
      kind,
      schedule: policy.schedule,
      passesPerDay: passesPerDay(policy.schedule, policy.timezone),
      thresholdSeconds,
      rotationsPerDay: rotationsPerDay(kind.lifetimeSeconds, effective, gap, kind.provider),
      ...(await countStored(moto, prefix, kind.provider)),
      firstRun,
      idle,
      rotation,
    };
  } finally {
    await counter.stop();
    await sandbox.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** The sum of the calls of `owner` in a pass, optionally of one service only. */
export function callsOf(pass: PassCalls, owner: Owner, service?: string): number {
  let sum = 0;
  for (const [key, n] of Object.entries(pass[owner]))
    if (service === undefined || key.startsWith(`${service}.`)) sum += n;
  return sum;
}

/** Minimum, median and maximum of a non-empty list. */
export function spread(values: readonly number[]): { min: number; median: number; max: number } {
  if (values.length === 0) throw new RangeError('spread of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const at = (index: number) => sorted[index] ?? Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? at(middle) : (at(middle - 1) + at(middle)) / 2;
  return { min: at(0), median, max: at(sorted.length - 1) };
}

/** Calls per day and dollars per month derived from one kind's median counts. */
export interface DailyCost {
  /** Calls per day for one provider's own records, by service. */
  readonly providerCallsPerDay: Record<string, number>;
  /** Calls per day of the runner (heartbeat and calls naming no record), paid once whatever the number of providers. */
  readonly runnerCallsPerDay: Record<string, number>;
  /** $/month of one provider's own records (secrets and calls), without the runner's. */
  readonly perProviderMonth: number;
  /** $/month of the runner's records and calls. */
  readonly runnerMonth: number;
  /** $/month with 1 and with 1,000 such providers, the runner's share included once. */
  readonly oneProviderMonth: number;
  readonly thousandProvidersMonth: number;
  /** Services called but not priced by this model. */
  readonly unpriced: string[];
}

function servicesOf(passes: readonly PassCalls[]): string[] {
  const services = new Set<string>();
  for (const pass of passes) {
    for (const owner of ['provider', 'heartbeat', 'runner'] as const) {
      for (const key of Object.keys(pass[owner])) services.add(key.slice(0, key.indexOf('.')));
    }
  }
  return [...services].sort();
}

/** Applies the cost model of this module's header to one kind's measurement. */
export function dailyCost(m: KindMeasurement): DailyCost {
  const passes = [...m.idle, ...m.rotation];
  const services = servicesOf(passes);
  const median = (list: readonly PassCalls[], owner: Owner, service: string) =>
    spread(list.map((pass) => callsOf(pass, owner, service))).median;
  const providerCallsPerDay: Record<string, number> = {};
  const runnerCallsPerDay: Record<string, number> = {};
  const rotations = Math.min(m.rotationsPerDay, m.passesPerDay);
  for (const service of services) {
    providerCallsPerDay[service] =
      (m.passesPerDay - rotations) * median(m.idle, 'provider', service) +
      rotations * median(m.rotation, 'provider', service);
    runnerCallsPerDay[service] =
      m.passesPerDay * (median(passes, 'heartbeat', service) + median(passes, 'runner', service));
  }
  const callsMonth = (perDay: Record<string, number>) =>
    Object.entries(perDay).reduce(
      (sum, [service, n]) => sum + n * PRICES.daysPerMonth * (PRICES.call[service] ?? 0),
      0,
    );
  const storage = (secrets: number, parameters: number) =>
    secrets * PRICES.secretMonth + parameters * PRICES.parameterMonth;
  const perProviderMonth = storage(m.secrets.provider, m.parameters.provider) + callsMonth(providerCallsPerDay);
  const runnerMonth =
    storage(m.secrets.heartbeat + m.secrets.runner, m.parameters.heartbeat + m.parameters.runner) +
    callsMonth(runnerCallsPerDay);
  return {
    providerCallsPerDay,
    runnerCallsPerDay,
    perProviderMonth,
    runnerMonth,
    oneProviderMonth: perProviderMonth + runnerMonth,
    thousandProvidersMonth: 1000 * perProviderMonth + runnerMonth,
    unpriced: services.filter((service) => PRICES.call[service] === undefined),
  };
}

const count = (n: number) => (Number.isInteger(n) ? n : Number(n.toFixed(1))).toLocaleString('en-US');
const dollars = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
const byService = (perDay: Record<string, number>) => {
  const total = Object.values(perDay).reduce((a, b) => a + b, 0);
  const parts = Object.entries(perDay)
    .filter(([, n]) => n > 0)
    .map(([service, n]) => `${service} ${count(Math.round(n))}`);
  return `${count(Math.round(total))}${parts.length > 1 ? ` (${parts.join(', ')})` : ''}`;
};

/** Median calls by `service.Operation` of `owner` over passes, for the breakdown lines. */
function medianOperations(passes: readonly PassCalls[], owner: Owner): string {
  const keys = new Set(passes.flatMap((pass) => Object.keys(pass[owner])));
  const parts = [...keys].sort().map((key) => `${key} ${count(spread(passes.map((p) => p[owner][key] ?? 0)).median)}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

/** The report `npm run bench:aws-cost` prints: one column per kind, then the model's assumptions. */
export function formatReport(
  measurements: readonly KindMeasurement[],
  options: { runs: number; warmup: number },
): string {
  const costs = measurements.map(dailyCost);
  const mmm = (list: readonly PassCalls[], owner: Owner) => {
    const { min, median, max } = spread(list.map((pass) => callsOf(pass, owner)));
    return `${count(min)} / ${count(median)} / ${count(max)}`;
  };
  const header: string[] = ['', ...measurements.map((m) => `${m.kind.provider} (${m.kind.lifetimeSeconds} s tokens)`)];
  const rows: string[][] = [
    ['renewal threshold before expiry', ...measurements.map((m) => `${count(Math.round(m.thresholdSeconds))} s`)],
    ['rotations per day', ...measurements.map((m) => count(m.rotationsPerDay))],
    ['secrets per provider', ...measurements.map((m) => count(m.secrets.provider))],
    ['SSM parameters per provider', ...measurements.map((m) => count(m.parameters.provider))],
    [
      'secrets / parameters of the runner',
      ...measurements.map(
        (m) => `${m.secrets.heartbeat + m.secrets.runner} / ${m.parameters.heartbeat + m.parameters.runner}`,
      ),
    ],
    [
      'calls, first run (all owners)',
      ...measurements.map((m) =>
        count(['provider', 'heartbeat', 'runner'].reduce((s, o) => s + callsOf(m.firstRun, o as Owner), 0)),
      ),
    ],
    ['provider calls per idle pass *', ...measurements.map((m) => mmm(m.idle, 'provider'))],
    ['provider calls per rotation *', ...measurements.map((m) => mmm(m.rotation, 'provider'))],
    ['heartbeat calls per pass *', ...measurements.map((m) => mmm([...m.idle, ...m.rotation], 'heartbeat'))],
    ['other runner calls per pass *', ...measurements.map((m) => mmm([...m.idle, ...m.rotation], 'runner'))],
    ['calls per day, one provider', ...costs.map((c) => byService(c.providerCallsPerDay))],
    ['calls per day, runner (shared)', ...costs.map((c) => byService(c.runnerCallsPerDay))],
    ['$/month per provider, own records', ...costs.map((c) => dollars(c.perProviderMonth))],
    ['$/month of the runner (shared)', ...costs.map((c) => dollars(c.runnerMonth))],
    ['$/month, 1 provider + runner', ...costs.map((c) => dollars(c.oneProviderMonth))],
    ['$/month, 1,000 providers + runner', ...costs.map((c) => dollars(c.thousandProvidersMonth))],
  ];
  const widths = header.map((_, column) => Math.max(...[header, ...rows].map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('   ')
      .trimEnd();
  const first = measurements[0];
  const unpriced = [...new Set(costs.flatMap((c) => c.unpriced))];
  return [
    `AWS store cost, counted on moto through the call counter (built CLI, sandbox providers, default policy)`,
    first === undefined
      ? ''
      : `schedule ${first.schedule}: ${first.passesPerDay} passes a day; ${options.runs} measured run(s) per kind after ${options.warmup} warm-up rotation(s)`,
    '',
    line(header),
    ...rows.map(line),
    '',
    '* min / median / max over the measured runs; per-day figures use the medians.',
    ...measurements.flatMap((m) => [
      `${m.kind.provider}: idle pass  ${medianOperations(m.idle, 'provider')}`,
      `${m.kind.provider}: rotation   ${medianOperations(m.rotation, 'provider')}`,
      `${m.kind.provider}: heartbeat  ${medianOperations([...m.idle, ...m.rotation], 'heartbeat')}; other runner calls ${medianOperations([...m.idle, ...m.rotation], 'runner')}`,
    ]),
    '',
    'Model: rotations/day = 86400 / (lifetime - threshold), threshold from renewThreshold (src/engine/policy.ts);',
    'a day = (passes - rotations) idle passes + rotations rotating passes per provider, + passes heartbeats per runner.',
    'Prices: Secrets Manager $0.40 per secret-month and $0.05 per 10,000 API calls; SSM Parameter Store standard',
    'parameters have no storage charge and standard-throughput API calls are free (priced at $0); a month is 30 days.',
    'Per provider = its own records only; the runner (heartbeat, calls naming no record) is paid once per deployment.',
    ...(unpriced.length === 0 ? [] : [`Not priced (called, no price in this model): ${unpriced.join(', ')}.`]),
  ].join('\n');
}
