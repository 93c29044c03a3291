/**
 * The built CLI rotates `kind: http` providers against the sandbox, as a user would run
 * it: the Klikoo profile (signed with an RSA key read through `${file:…}`), the same
 * profile with a key Klikoo does not know (a permanent failure `status` shows), and an
 * OAuth 2.0 password-grant profile that refreshes. Every byte the CLI prints, at debug log
 * level, including a refused config, is checked by the leak canary: no key, credential or
 * token of the new kind ever reaches an output.
 */

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { DemoSecrets, Sandbox } from '../../src/sandbox/index.js';
import { createDemoClients, startSandbox } from '../../src/sandbox/index.js';
import { Canary, type CliResult, runCli } from '../helpers/scenario.js';

const STRANGER_KEY = generateKeyPairSync('rsa', { modulusLength: 2048 })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
/** A credential that a broken config references: the refusal must not print it. */
const REFERENCED_SECRET = 'ref-canary-7c41d09be35a';

let sandbox: Sandbox;
let secrets: DemoSecrets;
let dir: string;
let configPath: string;
const canary = new Canary();

interface Outcome {
  provider: string;
  status: string;
  method?: string;
  error?: { class: string; code: string; message: string };
}

function cli(args: readonly string[], config = configPath, env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(args, { config, canary, env });
}

async function secretFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  return `\${file:${path}}`;
}

async function publicRecord(provider: string): Promise<Record<string, unknown>> {
  const text = await readFile(join(dir, 'store', 'tokens', `${provider}.json`), 'utf8');
  return (JSON.parse(text) as { data: Record<string, unknown> }).data;
}

function outcomesOf(result: CliResult): Outcome[] {
  return (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;
}

async function klikooProfile(key: string): Promise<Record<string, unknown>> {
  const timestamp = '{{now:yyyy-MM-ddTHH:mm:ssXXX@+07:00}}';
  return {
    kind: 'http',
    url: sandbox.tokenUrl('klikoo'),
    headers: { accept: 'application/json', 'Open-Api-Timestamp': timestamp, 'Open-Api-Signature': '{{signature}}' },
    secrets: { client_secret: await secretFile('klikoo-secret', secrets.klikoo.clientSecret) },
    body: {
      json: {
        grant_type: 'client_credentials',
        additional_info: { client_id: secrets.klikoo.clientId, client_secret: '{{secret:client_secret}}' },
      },
    },
    signature: { algorithm: 'rsa-sha256', key, over: `${secrets.klikoo.clientId}|${timestamp}` },
    response: {
      success: { status: [200], pointer: '/response_code', starts_with: '200' },
      access_token: '/data/access_token',
      token_type: '/data/token_type',
      expires_in: '/data/expires_in',
    },
    errors: { pointer: '/response_code' },
    default_lifetime_seconds: 900,
  };
}

beforeAll(async () => {
  const demo = await createDemoClients();
  secrets = demo.secrets;
  sandbox = await startSandbox({ clients: demo.clients });
  canary.addDemoSecrets(secrets);
  canary.addSecret(STRANGER_KEY);
  canary.addSecret(REFERENCED_SECRET);

  dir = await mkdtemp(join(tmpdir(), 'tr-e2e-http-'));
  const keliweb = secrets['keliweb-api-v2'];
  const form = { client_id: keliweb.clientId, client_secret: '{{secret:client_secret}}' };
  configPath = join(dir, 'config.yaml');
  await writeFile(
    configPath,
    stringify({
      store: { kind: 'file', directory: join(dir, 'store') },
      log_level: 'debug',
      policy: { retries: 0, request_timeout_seconds: 10, lease_seconds: 5 },
      providers: {
        'klikoo-http': await klikooProfile(await secretFile('klikoo.pem', secrets.klikoo.privateKeyPem)),
        'klikoo-wrong-key': await klikooProfile(await secretFile('stranger.pem', STRANGER_KEY)),
        'keliweb-http': {
          kind: 'http',
          url: sandbox.tokenUrl('keliweb-api-v2'),
          headers: { 'X-Requested-With': 'XMLHttpRequest' },
          secrets: {
            client_secret: await secretFile('keliweb-secret', keliweb.clientSecret),
            password: await secretFile('keliweb-password', keliweb.password),
          },
          body: {
            form: { grant_type: 'password', ...form, username: keliweb.username, password: '{{secret:password}}' },
          },
          refresh: { body: { form: { grant_type: 'refresh_token', ...form, refresh_token: '{{refresh_token}}' } } },
          refresh_lifetime_seconds: 864_000,
        },
      },
    }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await sandbox?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('token-rotator with providers of kind http, against the sandbox', () => {
  it('validates the config', async () => {
    const result = await cli(['validate', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: true });
  });

  it('rotates the Klikoo and the password-grant profiles, and fails the unknown key permanently', async () => {
    const result = await cli(['run', '--json']);

    expect(result.code).toBe(1);
    const outcomes = outcomesOf(result);
    expect(outcomes.map((o) => [o.provider, o.status, o.method]).sort()).toEqual([
      ['keliweb-http', 'rotated', 'obtain'],
      ['klikoo-http', 'rotated', 'obtain'],
      ['klikoo-wrong-key', 'failed', 'obtain'],
    ]);
    expect(outcomes.find((o) => o.provider === 'klikoo-wrong-key')?.error).toEqual({
      class: 'permanent',
      code: 'PROVIDER_PERMANENT',
      message: expect.stringMatching(/HTTP 401, 401012000/),
    });
    for (const provider of ['klikoo-http', 'keliweb-http']) {
      const record = await publicRecord(provider);
      expect(record).toMatchObject({ provider, token_type: 'Bearer', generation: 1 });
      expect(sandbox.isValid(record['access_token'] as string)).toBe(true);
    }
  });

  it('refreshes the password-grant profile with its refresh request', async () => {
    const before = await publicRecord('keliweb-http');

    const result = await cli(['run', '--json', '--force', '--provider', 'keliweb-http']);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(outcomesOf(result)).toMatchObject([{ provider: 'keliweb-http', status: 'rotated', method: 'refresh' }]);
    const after = await publicRecord('keliweb-http');
    expect(after['generation']).toBe(2);
    expect(sandbox.isValid(after['access_token'] as string)).toBe(true);
    expect(sandbox.isValid(before['access_token'] as string)).toBe(false);
    expect(sandbox.stats('keliweb-api-v2')).toMatchObject({ obtained: 1, refreshed: 1 });
  });

  it('shows the permanent failure in status', async () => {
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as { providers: Record<string, unknown>[] };

    expect(status.providers.find((row) => row['provider'] === 'klikoo-wrong-key')).toMatchObject({
      kind: 'http',
      last_error: { class: 'permanent', code: 'PROVIDER_PERMANENT' },
    });
  });

  it('refuses a template a reference broke, naming the field without printing the value', async () => {
    const broken = join(dir, 'broken.yaml');
    await writeFile(
      broken,
      stringify({
        store: { kind: 'file', directory: join(dir, 'store') },
        providers: {
          broken: {
            kind: 'http',
            url: sandbox.tokenUrl('oauth2'),
            headers: { 'X-Key': 'k ${env:BROKEN_VALUE}' },
            body: { json: { grant_type: 'client_credentials' } },
          },
        },
      }),
      { mode: 0o600 },
    );

    const result = await cli(['validate'], broken, { BROKEN_VALUE: `${REFERENCED_SECRET}{{x}}` });

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('providers.broken.headers.X-Key: unknown built-in: use one of');
  });

  it('never printed a key, a credential or a token in any output', async () => {
    for (const token of sandbox.issuedTokens()) canary.addSecret(token);
    for (const provider of ['klikoo-http', 'keliweb-http'])
      canary.addSecret((await publicRecord(provider))['access_token'] as string);

    expect(canary.outputs.join('').length).toBeGreaterThan(2000);
    expect(canary.secrets.size).toBeGreaterThan(20);
    expect(canary.leaks()).toEqual([]);
  });
});
