/**
 * A store outage is not a config error, as a user of the built CLI sees it: with a
 * `${store:…}` reference and OpenBao not answering (frozen by SIGSTOP) or refusing
 * connections, `run` and `validate` exit 1 with the store's error, not 2 with "invalid
 * config"; a key missing from a store that answered is still a config error (exit 2).
 * The daemon started while OpenBao is frozen keeps running, unready, and rotates once it
 * answers again; a `${file:…}` credential removed while the daemon runs fails that
 * provider only, for as long as the file is gone.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { fieldKit } from '../../src/config/schema.js';
import type { SecretStore } from '../../src/stores/contract.js';
import { createStore } from '../../src/stores/registry.js';
import { vaultStoreSchema } from '../../src/stores/vault/index.js';
import { freePort } from '../helpers/ports.js';
import { type CliResult, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';
import { pauseOpenBao, startVaultScenario, type VaultScenario } from '../helpers/vault-scenario.js';
import { waitFor } from '../helpers/wait.js';

/** Where the generic provider's client secret is kept in the store, as `${store:…}` reads it. */
const CREDENTIALS = 'credentials/generic';

type Config = { store: Record<string, unknown>; providers: Record<string, Record<string, unknown>> };

async function editConfig(path: string, edit: (config: Config) => void): Promise<void> {
  const config = parse(await readFile(path, 'utf8')) as Config;
  edit(config);
  await writeFile(path, stringify(config), { mode: 0o600 });
}

/** Exit 1 by itself, a store error naming Vault with its code, and no trace of "invalid config". */
function expectStoreError(result: CliResult, command: string): void {
  expect(result.signal).toBeNull();
  expect(result.code, result.stderr.slice(-2000)).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^token-rotator ${command}: .*Vault.* \\[STORE_UNAVAILABLE\\]$`, 'm'));
  expect(result.stderr).not.toMatch(/invalid config/);
}

/** Every pino line of `stderr` so far. */
function logLines(stderr: string): Record<string, any>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

/** Starts the daemon and returns it with its live stderr. */
function startDaemon(scenario: Scenario, args: readonly string[] = [], env: NodeJS.ProcessEnv = {}) {
  const { child, done } = scenario.spawnCli(['daemon', ...args], env);
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return { child, done, stderr: () => stderr };
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const child of running.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

describe('a ${store:…} reference with OpenBao down', () => {
  let scenario: VaultScenario;
  let root: SecretStore;
  beforeAll(async () => {
    scenario = await startVaultScenario({
      auth: 'token',
      vault: { request_timeout_seconds: 1 },
      workspace: { schedule: '*/2 * * * * *', policy: { lease_seconds: 5, request_timeout_seconds: 3, retries: 0 } },
    });
    root = await createStore(
      vaultStoreSchema(fieldKit('resolved')).parse({
        kind: 'vault',
        address: scenario.bao.address,
        auth: { method: 'token', token: scenario.bao.rootToken },
      }),
    );
    await root.write(CREDENTIALS, { client_secret: scenario.secrets.oauth2.clientSecret }, null);
    await editConfig(scenario.configPath, (config) => {
      config.providers['generic']!['client_secret'] = `\${store:${CREDENTIALS}#client_secret}`;
    });
  }, 60_000);
  afterAll(async () => {
    await root?.close();
    await scenario?.close();
  });

  it('validate exits 0 while OpenBao answers (the reference is right)', async () => {
    const result = await scenario.cli(['validate']);
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
  });

  it('validate and run exit 1 with the store error, not 2 with "invalid config", while OpenBao does not answer', async () => {
    const resume = await pauseOpenBao(scenario.bao);
    try {
      const validate = await scenario.cli(['validate'], { timeoutMs: 60_000 });
      expectStoreError(validate, 'validate');
      const run = await scenario.cli(['run'], { timeoutMs: 60_000 });
      expectStoreError(run, 'run');
    } finally {
      await resume();
    }
  }, 150_000);

  it('run exits 1 with the store error when OpenBao refuses connections', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const original = await readFile(scenario.configPath, 'utf8');
    await editConfig(scenario.configPath, (config) => {
      config.store['address'] = closed;
    });
    try {
      const run = await scenario.cli(['run'], { timeoutMs: 60_000 });
      expectStoreError(run, 'run');
    } finally {
      await writeFile(scenario.configPath, original, { mode: 0o600 });
    }
  }, 90_000);

  it('validate and run exit 2 naming the field when OpenBao answers without the key', async () => {
    const original = await readFile(scenario.configPath, 'utf8');
    await editConfig(scenario.configPath, (config) => {
      config.providers['generic']!['client_secret'] = `\${store:${CREDENTIALS}#no_such_key}`;
    });
    try {
      for (const command of ['validate', 'run']) {
        const result = await scenario.cli([command]);
        expect(result.code, result.stderr.slice(-2000)).toBe(2);
        expect(result.stderr).toContain(
          `providers.generic.client_secret: store record ${CREDENTIALS} has no key no_such_key`,
        );
      }
    } finally {
      await writeFile(scenario.configPath, original, { mode: 0o600 });
    }
  });

  it('the daemon started while OpenBao does not answer keeps running, unready, and rotates once it answers', async () => {
    const resume = await pauseOpenBao(scenario.bao);
    let daemon: ReturnType<typeof startDaemon>;
    let url: string;
    try {
      daemon = startDaemon(scenario, ['--listen', '127.0.0.1:0']);
      running.push(daemon.child);
      url = await waitFor(
        async () =>
          /"url":"(http:\/\/127\.0\.0\.1:\d+)","msg":"serving \/healthz, \/readyz and \/metrics"/.exec(
            daemon.stderr(),
          )?.[1],
        60_000,
        'the daemon to listen despite the store',
      );
      // A whole pass ran and failed while the store was down, and the daemon is still there.
      await waitFor(
        async () => logLines(daemon.stderr()).some((line) => line.msg === 'pass finished' && line.ok === false),
        90_000,
        'a failed pass',
      );
      expect(daemon.child.exitCode).toBeNull();
      expect((await fetch(`${url}/readyz`)).status).toBe(503);
    } finally {
      await resume();
    }

    const rotated = await waitFor(
      async () => {
        const record = await scenario.publicRecord('generic').catch(() => undefined);
        const token = record?.['access_token'];
        return typeof token === 'string' && scenario.sandbox.isValid(token) ? token : undefined;
      },
      90_000,
      'the generic provider to rotate once OpenBao answers',
    );
    scenario.canary.addSecret(rotated);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 60_000, 'the daemon to turn ready');

    daemon.child.kill('SIGTERM');
    const result = await daemon.done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  }, 300_000);
});

describe('a ${file:…} credential removed while the daemon runs', () => {
  let scenario: Scenario;
  beforeAll(async () => {
    scenario = await startScenario({ workspace: { schedule: '*/2 * * * * *' } });
  });
  afterAll(async () => {
    await scenario?.close();
  });

  it('fails that provider only, for each pass while the file is gone, and it recovers when the file is back', async () => {
    const config = parse(await readFile(scenario.configPath, 'utf8')) as Config;
    const secretFile = /^\$\{file:(.+)\}$/.exec(config.providers['klikoo']!['client_secret'] as string)?.[1];
    expect(secretFile).toBeDefined();
    const secret = await readFile(secretFile!, 'utf8');

    // Every pass reads every provider: between its full checks (every 10 minutes by default)
    // the daemon resolves a fresh provider's references only when it is due.
    const daemon = startDaemon(scenario, [], { TOKEN_ROTATOR_FULL_CHECK_SECONDS: '0' });
    running.push(daemon.child);
    const passes = () => logLines(daemon.stderr()).filter((line) => line.msg === 'pass finished');
    await waitFor(async () => passes().some((line) => line.ok === true), 60_000, 'a first good pass');

    await rm(secretFile!);
    const seen = passes().length;
    const broken = await waitFor(
      async () =>
        passes()
          .slice(seen)
          .find((line) => line.counts.failed === 1),
      30_000,
      'a pass with the klikoo provider failed',
    );
    expect(broken.counts.failed).toBe(1);
    expect(broken.counts.fresh + broken.counts.rotated).toBe(PROVIDERS.length - 1);
    const skipped = logLines(daemon.stderr()).find(
      (line) => line.msg === 'provider skipped: its references did not resolve',
    );
    expect(skipped).toMatchObject({
      provider: 'klikoo',
      err: { class: 'permanent', code: 'CONFIG_REFERENCE' },
    });
    expect(skipped?.err.message).toContain(`providers.klikoo.client_secret: cannot read file ${secretFile} (ENOENT)`);
    expect(daemon.child.exitCode).toBeNull();

    await writeFile(secretFile!, secret, { mode: 0o600 });
    const healed = passes().length;
    await waitFor(
      async () =>
        passes()
          .slice(healed)
          .some((line) => line.ok === true),
      30_000,
      'a good pass again',
    );

    daemon.child.kill('SIGTERM');
    const result = await daemon.done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stderr).not.toMatch(/"msg":"pass failed"/);
    await scenario.harvestTokens();
    expect(scenario.canary.leaks()).toEqual([]);
  }, 120_000);
});
