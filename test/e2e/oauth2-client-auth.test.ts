/**
 * The built CLI rotates `oauth2` providers that authenticate with a private key
 * (`private_key_jwt`) and with a TLS client certificate (`tls_client_auth`) against a real
 * `oidc-provider`, every key and certificate read through `${file:…}` references, as a
 * user would configure it (issue 14). A wrong key and a wrong certificate are permanent
 * failures, shown by `status`; and no key, certificate key or token reaches any output.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import {
  type ClientCertificate,
  clientCertificate,
  type OidcServer,
  signingKey,
  startOidcProvider,
} from '../helpers/oidc-provider.js';
import { Canary, type CliResult, runCli } from '../helpers/scenario.js';

const KEY = signingKey('ec');
const STRANGER_KEY = signingKey('ec');

let server: OidcServer;
let dir: string;
let configPath: string;
let trusted: ClientCertificate;
let stranger: ClientCertificate;
const canary = new Canary();

interface Outcome {
  provider: string;
  status: string;
  error?: { class: string; code: string; message: string };
}

function cli(args: readonly string[]): Promise<CliResult> {
  return runCli(args, { config: configPath, canary });
}

/** Writes `text` as a 0600 file in the workspace and returns its `${file:…}` reference. */
async function secretFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text, { mode: 0o600 });
  return `\${file:${path}}`;
}

async function publicRecord(provider: string): Promise<Record<string, unknown>> {
  const text = await readFile(join(dir, 'store', 'tokens', `${provider}.json`), 'utf8');
  return (JSON.parse(text) as { data: Record<string, unknown> }).data;
}

beforeAll(async () => {
  server = await startOidcProvider({
    clients: [
      {
        client_id: 'billing-jwt',
        token_endpoint_auth_method: 'private_key_jwt',
        jwks: { keys: [{ ...KEY.publicJwk, kid: 'billing-2026', use: 'sig' }] },
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
      {
        client_id: 'billing-mtls',
        token_endpoint_auth_method: 'tls_client_auth',
        tls_client_auth_subject_dn: 'CN=billing-mtls',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      },
    ],
  });
  trusted = await clientCertificate(server, 'billing-mtls');
  stranger = await clientCertificate(server, 'billing-mtls', { trusted: false });
  for (const secret of [KEY.privateKeyPem, STRANGER_KEY.privateKeyPem, trusted.key, stranger.key])
    canary.addSecret(secret);

  dir = await mkdtemp(join(tmpdir(), 'tr-e2e-clientauth-'));
  const ca = await secretFile('ca.pem', server.ca);
  const common = { kind: 'oauth2', token_url: server.tokenUrl, tls_ca: ca };
  const signed = { ...common, client_id: 'billing-jwt', client_auth: 'private_key_jwt', key_id: 'billing-2026' };
  const mutual = { ...common, client_id: 'billing-mtls', client_auth: 'tls_client_auth' };
  configPath = join(dir, 'config.yaml');
  await writeFile(
    configPath,
    stringify({
      store: { kind: 'file', directory: join(dir, 'store') },
      log_level: 'debug',
      policy: { retries: 0, request_timeout_seconds: 10, lease_seconds: 5 },
      providers: {
        signed: { ...signed, private_key: await secretFile('signed.pem', KEY.privateKeyPem) },
        mutual: {
          ...mutual,
          tls_certificate: await secretFile('client.crt', trusted.certificate),
          tls_key: await secretFile('client.key', trusted.key),
        },
        'signed-wrong-key': { ...signed, private_key: await secretFile('stranger.pem', STRANGER_KEY.privateKeyPem) },
        'mutual-wrong-certificate': {
          ...mutual,
          tls_certificate: await secretFile('stranger.crt', stranger.certificate),
          tls_key: await secretFile('stranger.key', stranger.key),
        },
      },
    }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('token-rotator with oauth2 client authentication beyond a shared secret', () => {
  it('validates the config, describing each provider without its key material', async () => {
    const result = await cli(['validate', '--json']);

    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ valid: true });
  });

  it('rotates a private_key_jwt and a tls_client_auth provider, and the server introspects both stored tokens as active', async () => {
    const result = await cli(['run', '--json', '--provider', 'signed', '--provider', 'mutual']);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    const { outcomes } = JSON.parse(result.stdout) as { outcomes: Outcome[] };
    expect(outcomes.map((o) => [o.provider, o.status]).sort()).toEqual([
      ['mutual', 'rotated'],
      ['signed', 'rotated'],
    ]);
    for (const [provider, clientId] of [
      ['signed', 'billing-jwt'],
      ['mutual', 'billing-mtls'],
    ] as const) {
      const record = await publicRecord(provider);
      canary.addSecret(record['access_token'] as string);
      await expect(server.introspect(record['access_token'] as string)).resolves.toMatchObject({
        active: true,
        client_id: clientId,
      });
    }
  });

  it('fails a wrong key and a wrong certificate permanently (invalid_client), and status shows it', async () => {
    const result = await cli([
      'run',
      '--json',
      '--provider',
      'signed-wrong-key',
      '--provider',
      'mutual-wrong-certificate',
    ]);

    expect(result.code).toBe(1);
    const { outcomes } = JSON.parse(result.stdout) as { outcomes: Outcome[] };
    for (const provider of ['signed-wrong-key', 'mutual-wrong-certificate']) {
      expect(outcomes.find((o) => o.provider === provider)).toMatchObject({
        status: 'failed',
        error: { class: 'permanent', code: 'PROVIDER_PERMANENT', message: expect.stringMatching(/invalid_client/) },
      });
    }
    const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
      providers: Array<Record<string, unknown>>;
    };
    for (const provider of ['signed-wrong-key', 'mutual-wrong-certificate']) {
      expect(status.providers.find((row) => row['provider'] === provider)?.['last_error']).toMatchObject({
        class: 'permanent',
        code: 'PROVIDER_PERMANENT',
      });
    }
  });

  it('never printed a private key, a certificate key or a token in any output', () => {
    expect(canary.outputs.join('').length).toBeGreaterThan(500);
    expect(canary.secrets.size).toBeGreaterThan(8);
    expect(canary.leaks()).toEqual([]);
  });
});
