/**
 * End-to-end scenario: the sandbox on a free loopback port with fresh demo clients, a
 * workspace (config + 0600 secret files + file store, or another store given as
 * {@link ScenarioStore}) in a temp directory, and a way to run the built CLI as a user
 * would. Every byte the CLI prints is kept so the canary check can prove no credential or
 * token ever appears in output.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { type WorkspaceOptions, writeWorkspace } from '../../src/runtimes/demo.js';
import {
  createDemoClients,
  type DemoSecrets,
  type Sandbox,
  type SandboxOptions,
  type SandboxTarget,
  startSandbox,
} from '../../src/sandbox/index.js';
import type { SecretStore } from '../../src/stores/contract.js';
import { listRecords } from './record-lister.js';

export const BIN = resolve(import.meta.dirname, '../../dist/runtimes/bin.js');

/** What one CLI run printed. */
export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collects a child's stdout and stderr, and resolves with them once it has closed. */
export function captureOutput(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolveDone) =>
    child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })),
  );
}

/** Options of {@link runCli}. */
export interface RunCliOptions {
  /** The config file, given as `--config`. */
  readonly config: string;
  /** Gets both outputs, to check for secrets. */
  readonly canary: Canary;
  /** Added to an environment of only `PATH`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Written to standard input, which is otherwise closed. */
  readonly input?: string;
}

/** Runs the built CLI as a user would, killed after 30 s; both outputs go to the canary. */
export async function runCli(args: readonly string[], options: RunCliOptions): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args, '--config', options.config], {
    env: { PATH: process.env['PATH'], ...options.env },
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  const done = captureOutput(child);
  if (options.input !== undefined) child.stdin!.end(options.input);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const result = await done;
  clearTimeout(timer);
  options.canary.outputs.push(result.stdout, result.stderr);
  return result;
}

/** Collects every output of a scenario and the secrets that must never be in it. */
export class Canary {
  readonly outputs: string[] = [];
  readonly secrets = new Set<string>();

  addSecret(value: string | undefined): void {
    if (value === undefined || value.length < 8) return;
    this.secrets.add(value);
    // A PEM key could leak line by line: each base64 line is a secret on its own.
    if (value.includes('-----BEGIN')) {
      for (const line of value.split('\n')) if (line.length >= 16 && !line.startsWith('-----')) this.secrets.add(line);
    }
  }

  /** Adds every demo credential but client ids and user names, identifiers that may be logged. */
  addDemoSecrets(secrets: DemoSecrets): void {
    for (const credentials of Object.values(secrets)) {
      const { clientId: _id, username: _user, ...secret } = credentials as unknown as Record<string, string>;
      for (const value of Object.values(secret)) this.addSecret(value);
    }
  }

  /** The secrets found in any output (empty when clean). */
  leaks(): string[] {
    const all = this.outputs.join('\n');
    return [...this.secrets]
      .filter((secret) => all.includes(secret))
      .map((s) => `${s.slice(0, 6)}… (${s.length} chars)`);
  }
}

export interface Scenario {
  readonly sandbox: Sandbox;
  readonly secrets: DemoSecrets;
  readonly dir: string;
  readonly configPath: string;
  readonly storeDir: string;
  readonly canary: Canary;
  /** Runs the CLI to completion. */
  cli(args: readonly string[], options?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult>;
  /** Starts the CLI and returns the process (for kill tests); its output is captured too. */
  spawnCli(args: readonly string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<CliResult> };
  /** The public record of a provider, as consumers read it. */
  publicRecord(provider: string): Promise<Record<string, unknown> | undefined>;
  stateRecord(provider: string): Promise<Record<string, unknown> | undefined>;
  /** Adds every token the sandbox issued and every token in the store to the canary's secrets. */
  harvestTokens(): Promise<void>;
  close(): Promise<void>;
}

export const PROVIDERS = ['keliweb-api', 'keliweb-fatture', 'klikoo', 'generic'] as const;

/** Each scenario provider's vendor in the sandbox and its token's lifetime there (the sandbox's default lifetimes). */
export const PROVIDER_VENDORS: Readonly<
  Record<(typeof PROVIDERS)[number], { readonly target: SandboxTarget; readonly lifetime: number }>
> = {
  'keliweb-api': { target: 'keliweb-api-v2', lifetime: 3600 },
  'keliweb-fatture': { target: 'keliweb-fatture', lifetime: 3600 },
  klikoo: { target: 'klikoo', lifetime: 900 },
  generic: { target: 'oauth2', lifetime: 3600 },
};

/**
 * A store other than the workspace's file store (e.g. Vault), for {@link startScenario}.
 * The scenario does not own it: whoever started its server closes `records` and stops it.
 */
export interface ScenarioStore {
  /** Written as the config's `store:` section in place of the file store. */
  readonly section: Record<string, unknown>;
  /** The test's own view of the records (e.g. a root-token Vault store), for `publicRecord` and the canary. */
  readonly records: SecretStore;
  /** Given to every CLI run (e.g. `VAULT_TOKEN`); each value is a canary secret too. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Reads the records the CLI wrote: `<storeDir>/<path>.json` by default, or through `store.records`. */
interface RecordSource {
  read(path: string): Promise<Record<string, unknown> | undefined>;
  /** The record paths directly in `folder` (`tokens` or `state`). */
  list(folder: 'tokens' | 'state'): Promise<string[]>;
}

function fileRecords(storeDir: string): RecordSource {
  return {
    async read(path) {
      try {
        return (JSON.parse(await readFile(join(storeDir, `${path}.json`), 'utf8')) as { data: Record<string, unknown> })
          .data;
      } catch {
        return undefined;
      }
    },
    async list(folder) {
      const files = await readdir(join(storeDir, folder)).catch(() => []);
      return files.filter((file) => file.endsWith('.json')).map((file) => `${folder}/${file.slice(0, -5)}`);
    },
  };
}

function storeRecords(store: SecretStore): RecordSource {
  return {
    read: async (path) => (await store.read(path))?.value,
    list: (folder) => listRecords(store, folder),
  };
}

/** Replaces the `store:` section of the config `writeWorkspace` wrote. */
async function replaceStoreSection(configPath: string, section: Record<string, unknown>): Promise<void> {
  const config = parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
  await writeFile(configPath, stringify({ ...config, store: section }), { mode: 0o600 });
}

/**
 * Starts a scenario. The sandbox and workspace are removed by `close()`. With `store`,
 * the CLI uses that store instead of the file store in `storeDir`.
 */
export async function startScenario(
  options: { sandbox?: Omit<SandboxOptions, 'clients'>; workspace?: WorkspaceOptions; store?: ScenarioStore } = {},
): Promise<Scenario> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
  const { clients, secrets } = await createDemoClients();
  const sandbox = await startSandbox({ ...options.sandbox, clients });
  const dir = await mkdtemp(join(tmpdir(), 'tr-e2e-'));
  const storeDir = join(dir, 'store');
  const configPath = await writeWorkspace(dir, sandbox, secrets, {
    schedule: '*/5 * * * *',
    logLevel: 'debug',
    storeDirectory: storeDir,
    ...options.workspace,
    policy: { lease_seconds: 5, request_timeout_seconds: 3, retries: 0, ...options.workspace?.policy },
  });
  if (options.store !== undefined) await replaceStoreSection(configPath, options.store.section);
  const records = options.store === undefined ? fileRecords(storeDir) : storeRecords(options.store.records);
  const storeEnv = options.store?.env ?? {};
  const canary = new Canary();
  for (const value of Object.values(storeEnv)) canary.addSecret(value);
  canary.addDemoSecrets(secrets);

  function spawnCli(args: readonly string[], env: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, [BIN, ...args, '--config', configPath], {
      env: { PATH: process.env['PATH'], ...storeEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const done = captureOutput(child).then((result) => {
      // `get` prints a token on stdout by design; everything else is checked.
      canary.outputs.push(result.stderr, args[0] === 'get' ? '' : result.stdout);
      return result;
    });
    return { child, done };
  }

  return {
    sandbox,
    secrets,
    dir,
    configPath,
    storeDir,
    canary,
    spawnCli,
    async cli(args, cliOptions = {}) {
      const { child, done } = spawnCli(args, cliOptions.env);
      const timer = setTimeout(() => child.kill('SIGKILL'), cliOptions.timeoutMs ?? 30_000);
      const result = await done;
      clearTimeout(timer);
      return result;
    },
    publicRecord: (provider) => records.read(`tokens/${provider}`),
    stateRecord: (provider) => records.read(`state/${provider}`),
    async harvestTokens() {
      for (const token of sandbox.issuedTokens()) canary.addSecret(token);
      for (const folder of ['tokens', 'state'] as const) {
        for (const path of await records.list(folder)) {
          const record = await records.read(path);
          const token = record?.['token'] as { access_token?: string } | undefined;
          canary.addSecret(record?.['access_token'] as string | undefined);
          canary.addSecret(record?.['refresh_token'] as string | undefined);
          canary.addSecret(token?.access_token);
        }
      }
    },
    async close() {
      await sandbox.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
