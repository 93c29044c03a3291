/**
 * Rehearsal runtimes: `token-rotator sandbox` (the vendors' endpoints, locally, with a
 * ready config) and `token-rotator demo` (the sandbox with short lifetimes, the daemon on
 * the embedded file store, and a live status table). Secrets go to files of mode 0600
 * that the config references; no secret is ever printed.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../config/load.js';
import type { DemoSecrets } from '../sandbox/index.js';
import { createDemoClients, type Sandbox, type SandboxOptions, startSandbox } from '../sandbox/index.js';
import { runDaemon } from './daemon.js';
import { type LogLevelSources, openRotator, runtimeLogger, stopOnSignals, untilAborted } from './door.js';
import { formatStatus } from './format.js';

/** Options for {@link writeWorkspace}. */
export interface WorkspaceOptions {
  readonly schedule?: string;
  /** Overrides of the global policy. */
  readonly policy?: Record<string, unknown>;
  readonly storeDirectory?: string;
  readonly logLevel?: string;
  /** Refresh token lifetime the sandbox uses for Keliweb, so the rotator plans with it. */
  readonly keliwebRefreshSeconds?: number;
}

async function secretFile(dir: string, name: string, value: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return path;
}

/**
 * Writes a config for the four sandbox targets (the protocols of docs/protocols.md) into `dir`,
 * with every credential in its own 0600 file under `dir/secrets` and referenced as
 * `${file:…}`. Returns the config path.
 */
export async function writeWorkspace(
  dir: string,
  sandbox: Sandbox,
  secrets: DemoSecrets,
  options: WorkspaceOptions = {},
): Promise<string> {
  const root = resolve(dir);
  const secretDir = join(root, 'secrets');
  await mkdir(secretDir, { recursive: true, mode: 0o700 });
  const ref = async (name: string, value: string) => `\${file:${await secretFile(secretDir, name, value)}}`;
  const password = async (prefix: string, c: DemoSecrets['keliweb-api-v2']) => ({
    client_id: c.clientId,
    client_secret: await ref(`${prefix}-client-secret`, c.clientSecret),
    username: c.username,
    password: await ref(`${prefix}-password`, c.password),
  });
  const refreshLifetime =
    options.keliwebRefreshSeconds === undefined ? {} : { refresh_lifetime_seconds: options.keliwebRefreshSeconds };

  const config = {
    store: { kind: 'file', directory: options.storeDirectory ?? join(root, 'store') },
    log_level: options.logLevel ?? 'info',
    policy: { schedule: options.schedule ?? '*/5 * * * *', ...options.policy },
    providers: {
      // Keliweb API v2: password grant and refresh, form-urlencoded.
      'keliweb-api': {
        kind: 'keliweb',
        base_url: sandbox.baseUrl('keliweb-api-v2'),
        body: 'form',
        ...(await password('keliweb-api', secrets['keliweb-api-v2'])),
        ...refreshLifetime,
      },
      // Keliweb Fatture: the same protocol as multipart, re-authenticating for an overlap window.
      'keliweb-fatture': {
        kind: 'keliweb',
        base_url: sandbox.baseUrl('keliweb-fatture'),
        body: 'multipart',
        renewal: 'reauthenticate',
        ...(await password('keliweb-fatture', secrets['keliweb-fatture'])),
        ...refreshLifetime,
      },
      // Klikoo: signed client credentials.
      klikoo: {
        kind: 'klikoo',
        base_url: sandbox.baseUrl('klikoo'),
        client_id: secrets.klikoo.clientId,
        client_secret: await ref('klikoo-client-secret', secrets.klikoo.clientSecret),
        private_key: await ref('klikoo-private-key.pem', secrets.klikoo.privateKeyPem),
      },
      // Generic OAuth 2.0: client credentials with a JSON body.
      generic: {
        kind: 'oauth2',
        token_url: sandbox.tokenUrl('oauth2'),
        grant: 'client_credentials',
        body: 'json',
        client_id: secrets.oauth2.clientId,
        client_secret: await ref('generic-client-secret', secrets.oauth2.clientSecret),
      },
    },
  };
  const path = join(root, 'token-rotator.yaml');
  await writeFile(path, `# Generated for the sandbox at ${sandbox.url}\n${stringify(config)}`, { mode: 0o600 });
  return path;
}

/** Starts the sandbox with fresh demo clients. */
export async function startDemoSandbox(
  options: Omit<SandboxOptions, 'clients'> = {},
): Promise<{ sandbox: Sandbox; secrets: DemoSecrets }> {
  const { clients, secrets } = await createDemoClients();
  const sandbox = await startSandbox({ ...options, clients });
  return { sandbox, secrets };
}

/** `token-rotator sandbox`: serves the vendors' token endpoints until stopped. */
export async function runSandboxCommand(options: {
  port: number;
  dir: string;
  short: boolean;
  out: NodeJS.WritableStream;
}): Promise<void> {
  const lifetimes = options.short ? SHORT_LIFETIMES : undefined;
  const { sandbox, secrets } = await startDemoSandbox({ port: options.port, ...(lifetimes ? { lifetimes } : {}) });
  const configPath = await writeWorkspace(options.dir, sandbox, secrets, {
    ...(options.short
      ? {
          schedule: '*/5 * * * * *',
          policy: SHORT_POLICY,
          keliwebRefreshSeconds: SHORT_LIFETIMES['keliweb-api-v2'].refreshSeconds,
        }
      : {}),
  });
  options.out.write(
    `sandbox listening on ${sandbox.url}\n` +
      `config written to ${configPath} (credentials in ${join(resolve(options.dir), 'secrets')}, mode 0600)\n` +
      `try: token-rotator run --config ${configPath}\n` +
      `stats: curl ${sandbox.url}/_sandbox/stats\n` +
      'stop with Ctrl-C\n',
  );
  const stop = stopOnSignals();
  try {
    await untilAborted(stop.signal);
  } finally {
    stop.dispose();
    await sandbox.close();
  }
}

/** Lifetimes short enough to watch refreshes and re-authentications in a minute or two. */
export const SHORT_LIFETIMES = {
  'keliweb-api-v2': { accessSeconds: 60, refreshSeconds: 150 },
  'keliweb-fatture': { accessSeconds: 60, refreshSeconds: 150 },
  klikoo: { accessSeconds: 45 },
  oauth2: { accessSeconds: 60 },
} as const;

const SHORT_POLICY = { min_margin_seconds: 10, lease_seconds: 30, request_timeout_seconds: 5 };

/**
 * `token-rotator demo` (what `npm start` runs): the sandbox with short lifetimes, the
 * daemon passing every 5 s on the embedded file store, and the status table after each
 * pass, until Ctrl-C.
 */
export async function runDemo(options: {
  dir: string;
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
  isTTY: boolean;
  /** `--log-level` and the environment; the demo's config says `warn`, so the table stays readable. */
  levels?: Omit<LogLevelSources, 'config'>;
}): Promise<void> {
  const { sandbox, secrets } = await startDemoSandbox({ lifetimes: SHORT_LIFETIMES });
  const configPath = await writeWorkspace(options.dir, sandbox, secrets, {
    schedule: '*/5 * * * * *',
    policy: SHORT_POLICY,
    logLevel: 'warn',
    keliwebRefreshSeconds: SHORT_LIFETIMES['keliweb-api-v2'].refreshSeconds,
  });
  const loaded = await loadConfig(configPath);
  const levels = options.levels ?? {};
  const logger = runtimeLogger(levels, options.err);
  const rotator = await openRotator(loaded, logger, levels);
  const stop = stopOnSignals({
    announce: (signal) => logger.info({ signal }, 'shutting down after the pass in flight'),
  });
  const started = Date.now();
  const header =
    `token-rotator demo: sandbox at ${sandbox.url}, store in ${loaded.store.kind === 'file' ? loaded.store.directory : ''}\n` +
    `config ${configPath}; passes every 5 s; tokens live 45-60 s, Keliweb refresh tokens 150 s. Ctrl-C to stop.\n`;
  options.out.write(header);
  try {
    await runDaemon({
      rotator,
      logger,
      stop: stop.signal,
      schedule: loaded.policy.schedule,
      onPass: (summary) => {
        void rotator.status().then((rows) => {
          const stats = sandbox.stats();
          const rotated = summary.outcomes
            .filter((o) => o.status === 'rotated')
            .map((o) => `${o.provider} (${o.method})`);
          const text =
            `${options.isTTY ? `\x1b[2J\x1b[H${header}` : ''}\n` +
            `after ${Math.round((Date.now() - started) / 1000)} s — this pass: ${rotated.length > 0 ? `rotated ${rotated.join(', ')}` : 'all fresh'}\n` +
            `${formatStatus(rows)}\n` +
            `sandbox: ${stats.obtained} obtained, ${stats.refreshed} refreshed, ${stats.reuseDetected} refresh-token reuses\n`;
          options.out.write(text);
        });
      },
    });
  } finally {
    stop.dispose();
    await rotator.close();
    await sandbox.close();
  }
}
