/**
 * Imported refresh tokens end to end (issue 14): the built CLI imports a refresh token the
 * sandbox's OAuth 2.0 endpoint issued, piped on standard input, into a provider with
 * `grant: refresh_token` (no way to re-authenticate), and rotation continues by refresh
 * while the sandbox rotates the refresh token at each use. A refresh token the sandbox
 * refuses (one already spent) fails the provider permanently with a message asking for a
 * new import, which `run --json`, `status`, `status --json` and the pushed metrics show.
 * Every output, the pushed metrics included, goes through the leak canary.
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { Canary, type CliResult, runCli } from '../helpers/scenario.js';

const PROVIDER = 'crm';
const CLIENT_ID = 'crm-rotator';
const CLIENT_SECRET = randomBytes(16).toString('hex');

let sandbox: Sandbox;
let dir: string;
let configPath: string;
let pushgateway: Server;
let pushgatewayUrl: string;
const pushed: string[] = [];
const canary = new Canary();
canary.addSecret(CLIENT_SECRET);

/** Runs the built CLI with `input` on standard input; every output goes to the canary. */
function cli(args: readonly string[], input = ''): Promise<CliResult> {
  return runCli(args, { config: configPath, canary, input });
}

/** A refresh token of a new token family, straight from the sandbox (as an authorization-code flow would give one). */
async function issueRefreshToken(): Promise<{ refresh: string; access: string }> {
  const response = await fetch(sandbox.tokenUrl('oauth2'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT_ID, client_secret: CLIENT_SECRET }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { refresh_token?: string; access_token: string };
  expect(body.refresh_token).toBeTypeOf('string');
  canary.addSecret(body.refresh_token);
  canary.addSecret(body.access_token);
  return { refresh: body.refresh_token!, access: body.access_token };
}

/** A record as the file store keeps it: `<store>/<path>.json`, the record under `data`. */
async function storeRecord(path: string): Promise<Record<string, unknown>> {
  const file = await readFile(join(dir, 'store', `${path}.json`), 'utf8');
  return (JSON.parse(file) as { data: Record<string, unknown> }).data;
}

const stateRecord = () => storeRecord(`state/${PROVIDER}`);

interface Outcome {
  provider: string;
  status: string;
  method?: string;
  error?: { class: string; code: string; message: string };
}

function outcomeOf(result: CliResult): Outcome {
  const pass = JSON.parse(result.stdout) as { outcomes: Outcome[] };
  const outcome = pass.outcomes.find((o) => o.provider === PROVIDER);
  expect(outcome).toBeDefined();
  return outcome!;
}

beforeAll(async () => {
  sandbox = await startSandbox({
    clients: [{ target: 'oauth2', clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, issueRefreshToken: true }],
  });
  pushgateway = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      pushed.push(Buffer.concat(chunks).toString('utf8'));
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => pushgateway.listen(0, '127.0.0.1', resolve));
  pushgatewayUrl = `http://127.0.0.1:${(pushgateway.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'token-rotator-import-'));
  const secretPath = join(dir, 'crm-client-secret');
  await writeFile(secretPath, `${CLIENT_SECRET}\n`, { mode: 0o600 });
  configPath = join(dir, 'token-rotator.yaml');
  const config = {
    store: { kind: 'file', directory: join(dir, 'store') },
    log_level: 'debug',
    policy: { schedule: '*/5 * * * *', retries: 0, lease_seconds: 5, request_timeout_seconds: 3 },
    providers: {
      [PROVIDER]: {
        kind: 'oauth2',
        grant: 'refresh_token',
        token_url: sandbox.tokenUrl('oauth2'),
        client_id: CLIENT_ID,
        client_secret: `\${file:${secretPath}}`,
      },
    },
  };
  await writeFile(configPath, stringify(config), { mode: 0o600 });
});

afterAll(async () => {
  await sandbox?.close();
  await new Promise<void>((resolve) => (pushgateway ? pushgateway.close(() => resolve()) : resolve()));
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('token-rotator import', () => {
  let spent: string;

  it('refuses a token given on the command line, without quoting it', async () => {
    const token = `cmdline-${randomBytes(12).toString('hex')}`;
    canary.addSecret(token);
    const result = await cli(['import', PROVIDER, token]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/standard input, never from the command line/);
    expect(result.stderr).not.toContain(token);
  });

  it('refuses empty standard input and writes nothing', async () => {
    const result = await cli(['import', PROVIDER], '\n');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/standard input is empty/);
  });

  it('fails permanently, asking for an import, while the refresh-only provider has no refresh token', async () => {
    const result = await cli(['run', '--json']);
    expect(result.code).toBe(1);
    const outcome = outcomeOf(result);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.class).toBe('permanent');
    expect(outcome.error?.message).toContain('token-rotator import');
    expect(sandbox.stats('oauth2').issued).toBe(0);
  });

  it('stores a piped refresh token, printing only its fingerprint, and clears the back-off', async () => {
    const { refresh } = await issueRefreshToken();
    spent = refresh;
    const result = await cli(['import', PROVIDER], `${refresh}\n`);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`imported a refresh token for ${PROVIDER} \\(fingerprint [^)]+\\)`));
    expect(result.stdout).not.toContain(refresh);
    const state = await stateRecord();
    expect(state['refresh_token']).toBe(refresh);
    expect(state['failures']).toEqual({ consecutive: 0 });
  });

  it('continues by refresh: the next pass refreshes with the imported token and keeps the new one', async () => {
    const result = await cli(['run', '--json']);
    expect(result.code).toBe(0);
    const outcome = outcomeOf(result);
    expect(outcome).toMatchObject({ status: 'rotated', method: 'refresh' });
    expect(sandbox.stats('oauth2').refreshed).toBe(1);
    const state = await stateRecord();
    expect(state['refresh_token']).toBeTypeOf('string');
    expect(state['refresh_token']).not.toBe(spent);
  });

  it('refreshes again with the refresh token the sandbox rotated (run --force)', async () => {
    const result = await cli(['run', '--json', '--force']);
    expect(result.code).toBe(0);
    expect(outcomeOf(result)).toMatchObject({ status: 'rotated', method: 'refresh' });
    expect(sandbox.stats('oauth2').refreshed).toBe(2);
    expect(sandbox.stats('oauth2').obtained).toBe(1); // only the test's own grant above
  });

  it('fails permanently, asking for a new import, when the imported refresh token is refused', async () => {
    // The first token again: already spent, so the sandbox refuses it (and revokes its family).
    expect((await cli(['import', PROVIDER], spent)).code).toBe(0);
    const result = await cli(['run', '--json', '--force', '--pushgateway', pushgatewayUrl]);
    expect(result.code).toBe(1);
    const outcome = outcomeOf(result);
    expect(outcome.status).toBe('failed');
    expect(outcome.error?.class).toBe('permanent');
    expect(outcome.error?.code).toBe('PROVIDER_PERMANENT');
    expect(outcome.error?.message).toContain(`import a new one with \`token-rotator import ${PROVIDER}\``);
    const state = await stateRecord();
    expect(state['refresh_token']).toBeUndefined();
  });

  it('shows the permanent failure in the pushed metric token_rotator_failures_total', () => {
    const body = pushed.at(-1) ?? '';
    expect(body).toMatch(new RegExp(`token_rotator_failures_total\\{provider="${PROVIDER}",class="permanent"\\} 1`));
  });

  it('shows the failure and what to do in status and status --json', async () => {
    const text = await cli(['status']);
    expect(text.stdout).toContain(PROVIDER);
    expect(text.stdout).toMatch(/permanent/);
    expect(text.stdout).toContain('token-rotator import');
    const json = await cli(['status', '--json']);
    const status = JSON.parse(json.stdout) as { providers: Record<string, unknown>[] };
    const row = status.providers.find((p) => p['provider'] === PROVIDER);
    expect(row).toBeDefined();
    expect(JSON.stringify(row)).toMatch(/"class":"permanent"/);
    expect(JSON.stringify(row)).toContain('token-rotator import');
  });

  it('recovers from a new import given as JSON with its access token, published at once', async () => {
    const { refresh, access } = await issueRefreshToken();
    const input = JSON.stringify({ refresh_token: refresh, access_token: access, expires_in: 3600 });
    const imported = await cli(['import', PROVIDER], input);
    expect(imported.code).toBe(0);
    expect(imported.stdout).toMatch(/published/);
    const published = await storeRecord(`tokens/${PROVIDER}`);
    expect(published['access_token']).toBe(access);
    const result = await cli(['run', '--json', '--force']);
    expect(result.code).toBe(0);
    expect(outcomeOf(result)).toMatchObject({ status: 'rotated', method: 'refresh' });
  });

  it('never prints or logs a token, a refresh token or the client secret (leak canary)', () => {
    for (const token of sandbox.issuedTokens()) canary.addSecret(token);
    canary.outputs.push(...pushed);
    expect(canary.secrets.size).toBeGreaterThan(5);
    expect(canary.leaks()).toEqual([]);
  });
});
