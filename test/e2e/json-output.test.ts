/**
 * The JSON output contracts of the built CLI (issue 12): `status --json` and
 * `validate --json` print one object with a `schema` version, snake_case keys and
 * problems in the `{class, code, message}` shape, on success and on failure, with the
 * exit codes and stderr lines they had before; no token or credential in any of it.
 */
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { recordPaths } from '../../src/engine/records.js';
import { FileStore } from '../../src/stores/file/index.js';
import { freePort } from '../helpers/ports.js';
import { BIN, type CliResult, captureOutput, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';

let scenario: Scenario;
let store: FileStore;
let original: string;
beforeAll(async () => {
  scenario = await startScenario();
  store = new FileStore({ directory: scenario.storeDir });
  original = await readFile(scenario.configPath, 'utf8');
});
afterAll(async () => {
  await store?.close();
  await scenario?.close();
});

type Config = { store: Record<string, unknown>; providers: Record<string, Record<string, unknown>> };

/** Runs `validate --json` on the scenario's config changed by `edit`, then puts the config back. */
async function validateEdited(edit: (config: Config) => void, env?: NodeJS.ProcessEnv) {
  const config = parse(original) as Config;
  edit(config);
  await writeFile(scenario.configPath, stringify(config), { mode: 0o600 });
  try {
    return await scenario.cli(['validate', '--json'], { timeoutMs: 60_000, ...(env ? { env } : {}) });
  } finally {
    await writeFile(scenario.configPath, original, { mode: 0o600 });
  }
}

/** Runs the built CLI with `args` only (the scenario's runs add its own `--config`); the canary sees its output. */
async function runBin(args: readonly string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'] },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const result = await captureOutput(child);
  scenario.canary.outputs.push(result.stdout, result.stderr);
  return result;
}

/** Every key of `value`, at any depth. */
function keysOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(keysOf);
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, inner]) => [key, ...keysOf(inner)]);
}

const ROW_KEYS = [
  'provider',
  'kind',
  'expires_at',
  'seconds_to_expiry',
  'generation',
  'published',
  'last_method',
  'last_success_at',
  'last_error',
  'next_attempt_at',
  'lease_holder',
  'has_refresh_token',
];
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

describe('token-rotator status --json', () => {
  it('on a store where nothing ran: exit 1, every provider without a token and no last pass, as problems', async () => {
    const result = await scenario.cli(['status', '--json']);

    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(Object.keys(output)).toEqual(['schema', 'providers', 'last_pass', 'problems', 'ok']);
    expect(output).toEqual({
      schema: 1,
      providers: expect.any(Array),
      last_pass: null,
      problems: [
        // One per provider, in the config's order, then the dead-man signal.
        ...output['providers'].map((row: { provider: string }) => ({
          class: 'token',
          code: 'TOKEN_UNAVAILABLE',
          message: `provider ${row.provider} has no valid token`,
        })),
        {
          class: 'scheduler',
          code: 'PASS_OVERDUE',
          message: expect.stringMatching(/^no pass has been recorded/),
        },
      ],
      ok: false,
    });
    expect(output['providers'].map((row: { provider: string }) => row.provider).sort()).toEqual([...PROVIDERS].sort());
    for (const row of output['providers']) {
      expect(Object.keys(row)).toEqual(ROW_KEYS);
      expect(row).toMatchObject({
        expires_at: null,
        seconds_to_expiry: null,
        generation: null,
        last_method: null,
        last_error: null,
        has_refresh_token: false,
      });
    }
    // The problems stay on stderr too, one line each, as without --json.
    for (const problem of output['problems'])
      expect(result.stderr).toContain(`token-rotator status: ${problem.message}\n`);
  });

  it('after a pass: exit 0, ok, no problems, the last pass and each token described in snake_case', async () => {
    expect((await scenario.cli(['run'])).code).toBe(0);

    const result = await scenario.cli(['status', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).not.toMatch(/token-rotator status:/);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(output).toMatchObject({ schema: 1, problems: [], ok: true });
    expect(output['last_pass']).toEqual({
      finished_at: expect.stringMatching(ISO),
      age_seconds: expect.any(Number),
      ok: true,
      duration_ms: expect.any(Number),
      holder: expect.stringMatching(/:\d+:[0-9a-f]{8}$/),
    });
    expect(output['last_pass'].age_seconds).toBeGreaterThanOrEqual(0);
    expect(output['last_pass'].age_seconds).toBeLessThan(60);
    expect(output['providers'].map((row: { provider: string }) => row.provider).sort()).toEqual([...PROVIDERS].sort());
    for (const row of output['providers']) {
      expect(Object.keys(row)).toEqual(ROW_KEYS);
      expect(row).toMatchObject({
        expires_at: expect.stringMatching(ISO),
        seconds_to_expiry: expect.any(Number),
        generation: 1,
        published: 1,
        last_method: 'obtain',
        last_success_at: expect.stringMatching(ISO),
        last_error: null,
        next_attempt_at: null,
        lease_holder: null,
      });
      expect(row.seconds_to_expiry).toBeGreaterThan(0);
    }
    expect(keysOf(output).filter((key) => !/^[a-z]+(_[a-z]+)*$/.test(key))).toEqual([]);
  });

  it('with a recent pass but one token past expiry: exit 1 and only that provider as a problem', async () => {
    const current = (await store.read(recordPaths.state('klikoo')))!;
    const token = current.value['token'] as Record<string, unknown>;
    await store.write(
      recordPaths.state('klikoo'),
      { ...current.value, token: { ...token, expires_at: new Date(Date.now() - 5000).toISOString() } },
      current.version,
    );

    const result = await scenario.cli(['status', '--json']);

    expect(result.code).toBe(1);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(output['problems']).toEqual([
      { class: 'token', code: 'TOKEN_UNAVAILABLE', message: 'provider klikoo has no valid token' },
    ]);
    expect(output['ok']).toBe(false);
    expect(output['last_pass']).not.toBeNull();
    const klikoo = output['providers'].find((row: { provider: string }) => row.provider === 'klikoo');
    expect(klikoo.seconds_to_expiry).toBeLessThanOrEqual(0);
    expect(result.stderr).toBe('token-rotator status: provider klikoo has no valid token\n');
    expect((await scenario.cli(['run'])).code).toBe(0);
  });
});

describe('token-rotator validate --json', () => {
  it('for a good config: exit 0 and the facts of the config', async () => {
    const result = await scenario.cli(['validate', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      schema: 1,
      valid: true,
      config: scenario.configPath,
      providers: PROVIDERS.length,
      store: 'file',
      gap_seconds: 300,
    });
  });

  it('for a config error: exit 2, each problem with its field, and the usual lines on stderr', async () => {
    const result = await validateEdited((config) => {
      config.providers['klikoo']!['kind'] = 'magic';
    });

    expect(result.code).toBe(2);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(Object.keys(output)).toEqual(['schema', 'valid', 'problems']);
    expect(output).toMatchObject({ schema: 1, valid: false });
    expect(output['problems'].length).toBeGreaterThan(0);
    for (const problem of output['problems']) {
      expect(Object.keys(problem)).toEqual(['class', 'code', 'message', 'path']);
      expect(problem).toMatchObject({ class: 'config', code: 'CONFIG_INVALID', message: expect.any(String) });
    }
    expect(output['problems'].map((p: { path: string }) => p.path)).toContain('providers.klikoo.kind');
    expect(result.stderr).toContain(`token-rotator validate: invalid config ${scenario.configPath}\n`);
    expect(result.stderr).toMatch(/^ {2}providers\.klikoo\.kind: /m);
  });

  it('for a wrong reference: exit 2 with CONFIG_REFERENCE naming the field', async () => {
    const result = await validateEdited((config) => {
      config.providers['generic']!['client_secret'] = '${env:TOKEN_ROTATOR_TEST_UNSET}';
    });

    expect(result.code).toBe(2);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(output).toEqual({
      schema: 1,
      valid: false,
      problems: [
        {
          class: 'config',
          code: 'CONFIG_REFERENCE',
          message: expect.stringContaining('TOKEN_ROTATOR_TEST_UNSET'),
          path: 'providers.generic.client_secret',
        },
      ],
    });
  });

  it('for a credential written in plain text: exit 2 without echoing it', async () => {
    const secret = scenario.secrets.oauth2.clientSecret;
    const result = await validateEdited((config) => {
      config.providers['generic']!['client_secret'] = secret;
    });

    expect(result.code).toBe(2);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(output['problems']).toContainEqual({
      class: 'config',
      code: 'CONFIG_INVALID',
      message: expect.stringMatching(/reference/),
      path: 'providers.generic.client_secret',
    });
    expect(result.stdout).not.toContain(secret);
    expect(result.stderr).not.toContain(secret);
  });

  it('for a missing config file: exit 2 with a problem about the file as a whole', async () => {
    const path = join(scenario.dir, 'nope.yaml');

    const result = await runBin(['validate', '--json', '--config', path]);

    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      schema: 1,
      valid: false,
      problems: [{ class: 'config', code: 'CONFIG_INVALID', message: expect.stringContaining('nope.yaml'), path: '' }],
    });
    expect(result.stderr).toContain(`token-rotator validate: invalid config ${path}\n`);
  });

  it('for a store that cannot be reached: exit 1 with a store problem, and the store error on stderr', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    const vaultToken = `hvs.${'x'.repeat(24)}`;
    scenario.canary.addSecret(vaultToken);
    const result = await validateEdited(
      (config) => {
        config.store = {
          kind: 'vault',
          address: closed,
          request_timeout_seconds: 1,
          auth: { method: 'token', token: '${env:TEST_VAULT_TOKEN}' },
        };
        config.providers['generic']!['client_secret'] = '${store:credentials/generic#client_secret}';
      },
      { TEST_VAULT_TOKEN: vaultToken },
    );

    expect(result.code, result.stderr.slice(-2000)).toBe(1);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(output).toEqual({
      schema: 1,
      valid: false,
      problems: [{ class: 'store', code: 'STORE_UNAVAILABLE', message: expect.stringMatching(/Vault/), path: 'store' }],
    });
    expect(result.stderr).toMatch(/^token-rotator validate: .*Vault.* \[STORE_UNAVAILABLE\]$/m);
    expect(result.stderr).not.toMatch(/invalid config/);
  }, 90_000);

  it('never printed a credential or token in any output', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(10);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});

describe('token-rotator run --json', () => {
  it('prints one object with the schema, snake_case keys at every depth, every outcome key present, and logs in the same style', async () => {
    const result = await scenario.cli(['run', '--json', '--force', '--log-level', 'debug']);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const output = JSON.parse(result.stdout) as Record<string, any>;
    expect(Object.keys(output)).toEqual(['schema', 'started_at', 'duration_ms', 'ok', 'counts', 'outcomes']);
    expect(output).toMatchObject({ schema: 1, started_at: expect.stringMatching(ISO), ok: true });
    expect(output['counts']).toEqual({
      fresh: 0,
      rotated: PROVIDERS.length,
      repaired: 0,
      busy: 0,
      backoff: 0,
      paced: 0,
      failed: 0,
      would_rotate: 0,
    });
    for (const outcome of output['outcomes']) {
      expect(Object.keys(outcome)).toEqual([
        'provider',
        'status',
        'ok',
        'method',
        'reason',
        'expires_at',
        'generation',
        'error',
        'duration_ms',
      ]);
      expect(outcome).toMatchObject({ status: 'rotated', ok: true, reason: 'forced', error: null });
      expect(outcome.expires_at).toMatch(ISO);
    }
    expect(keysOf(output).filter((key) => !/^[a-z]+(_[a-z]+)*$/.test(key))).toEqual([]);
    // The log lines on stderr: one JSON object each, the same key style (pino's own keys are single words).
    const lines = result.stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as unknown);
    expect(lines.length).toBeGreaterThan(PROVIDERS.length);
    expect(keysOf(lines).filter((key) => !/^[a-z]+(_[a-z]+)*$/.test(key))).toEqual([]);
  });
});
