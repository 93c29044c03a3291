/**
 * Revocation end to end (issue 14): the built CLI against a real `oidc-provider` with its
 * revocation (RFC 7009) and introspection (RFC 7662) endpoints on, every credential read
 * through `${file:…}` references as a user would configure it.
 *
 * - `revoke_superseded: true`: after a forced second rotation the first access token is
 *   inactive by the server's introspection and the new one active; a revocation endpoint
 *   that fails leaves the rotation `rotated`, with a warning.
 * - `token-rotator revoke P`: the current token becomes inactive and the records are gone
 *   from the store and from the provider's `publish_to` store (`get` finds no token); a
 *   provider without `revocation_url` is refused unless `--remove-only`; a failed
 *   revocation removes nothing.
 *
 * - Refresh tokens: a refresh token the test mints at the server (as an authorization-code
 *   flow would leave one) is imported into a `grant: refresh_token` provider. After a
 *   refresh nothing is revoked, and the grant survives: oidc-provider revokes a whole grant
 *   when one of its tokens is revoked (RFC 7009 §2.1 allows it), so revoking the superseded
 *   access token would have revoked the new one. `token-rotator revoke` then makes the
 *   refresh token and the access token inactive.
 *
 * The server's client-credentials tokens belong to no grant, so revoking one never touches
 * another. Every output goes through the leak canary.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type OidcServer, startOidcProvider } from '../helpers/oidc-provider.js';
import { Canary, type CliResult, runCli } from '../helpers/scenario.js';

/** Providers by name, each its own client at the server. */
const CLIENTS = ['billing', 'ledger', 'plain', 'broken'] as const;
/** The refresh-only provider, whose refresh token comes from the test. */
const REFRESHING = 'crm';
const SECRETS = Object.fromEntries(
  [...CLIENTS, REFRESHING].map((name) => [name, randomBytes(24).toString('hex')]),
) as Record<(typeof CLIENTS)[number] | typeof REFRESHING, string>;

let server: OidcServer;
let dir: string;
let configPath: string;
const canary = new Canary();
for (const secret of Object.values(SECRETS)) canary.addSecret(secret);

interface Outcome {
  provider: string;
  status: string;
  ok: boolean;
  method?: string;
}

function cli(args: readonly string[], input = ''): Promise<CliResult> {
  return runCli(args, { config: configPath, canary, input });
}

/** The record at `path` in the file store under `root`, or undefined when there is none. */
async function record(root: string, path: string): Promise<Record<string, unknown> | undefined> {
  try {
    const text = await readFile(join(dir, root, `${path}.json`), 'utf8');
    return (JSON.parse(text) as { data: Record<string, unknown> }).data;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** The access token published for `provider`, added to the canary. */
async function publishedToken(provider: string): Promise<string> {
  const published = await record('store', `tokens/${provider}`);
  const token = published?.['access_token'];
  expect(token).toBeTypeOf('string');
  canary.addSecret(token as string);
  return token as string;
}

function outcomes(result: CliResult): Outcome[] {
  return (JSON.parse(result.stdout) as { outcomes: Outcome[] }).outcomes;
}

/** The JSON log lines of a run's stderr. */
function logLines(result: CliResult): Record<string, any>[] {
  return result.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, any>);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

beforeAll(async () => {
  server = await startOidcProvider({
    revocation: true,
    clients: [
      ...CLIENTS.map((name) => ({
        client_id: name,
        client_secret: SECRETS[name],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
      {
        client_id: REFRESHING,
        client_secret: SECRETS[REFRESHING],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: ['https://crm.example/callback'],
      },
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'tr-e2e-revocation-'));
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return `\${file:${path}}`;
  };
  const ca = await file('ca.pem', server.ca);
  const provider = async (name: keyof typeof SECRETS, extra: Record<string, unknown>) => ({
    kind: 'oauth2',
    token_url: server.tokenUrl,
    client_id: name,
    client_auth: 'basic',
    client_secret: await file(`${name}.secret`, SECRETS[name]),
    tls_ca: ca,
    ...extra,
  });
  configPath = join(dir, 'config.yaml');
  await writeFile(
    configPath,
    stringify({
      store: { kind: 'file', directory: join(dir, 'store') },
      stores: { files: { kind: 'file', directory: join(dir, 'public') } },
      publish_to: { ledger: ['files'] },
      log_level: 'debug',
      policy: { retries: 0, request_timeout_seconds: 10, lease_seconds: 5 },
      providers: {
        billing: await provider('billing', { revocation_url: server.revocationUrl, revoke_superseded: true }),
        ledger: await provider('ledger', { revocation_url: server.revocationUrl }),
        plain: await provider('plain', {}),
        // A revocation endpoint that does not exist: oidc-provider answers 404.
        [REFRESHING]: await provider(REFRESHING, {
          grant: 'refresh_token',
          revocation_url: server.revocationUrl,
          revoke_superseded: true,
        }),
        broken: await provider('broken', {
          revocation_url: `${server.issuer}/no-revocation-here`,
          revoke_superseded: true,
        }),
      },
    }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await server?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('revocation against oidc-provider', () => {
  it('validates the config with revocation_url and revoke_superseded', async () => {
    const result = await cli(['validate']);
    expect(result.code, result.stderr).toBe(0);
  });

  it('rotates every provider, each token active by introspection', async () => {
    const result = await cli(['run', '--json', ...CLIENTS.flatMap((name) => ['--provider', name])]);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(outcomes(result).map((o) => o.status)).toEqual(['rotated', 'rotated', 'rotated', 'rotated']);
    for (const name of CLIENTS)
      await expect(server.introspect(await publishedToken(name))).resolves.toMatchObject({
        active: true,
        client_id: name,
      });
  });

  describe('revoke_superseded', () => {
    it('revokes the superseded access token once the new one is published: the old one is inactive, the new one active', async () => {
      const first = await publishedToken('billing');

      const result = await cli(['run', '--json', '--force', '--provider', 'billing']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(outcomes(result)).toMatchObject([{ provider: 'billing', status: 'rotated', method: 'obtain' }]);
      const second = await publishedToken('billing');
      expect(second).not.toBe(first);
      await expect(server.introspect(first)).resolves.toMatchObject({ active: false });
      await expect(server.introspect(second)).resolves.toMatchObject({ active: true, client_id: 'billing' });
      const revoked = logLines(result).find((line) => line['msg'] === 'revoked superseded token');
      expect(revoked).toMatchObject({
        provider: 'billing',
        token_type_hint: 'access_token',
        access_token_fp: expect.stringMatching(/^sha256:/),
      });
    });

    it('leaves the superseded token of a provider without revoke_superseded active', async () => {
      const first = await publishedToken('ledger');

      const result = await cli(['run', '--json', '--force', '--provider', 'ledger']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      await expect(server.introspect(first)).resolves.toMatchObject({ active: true });
      await publishedToken('ledger');
    });

    it('keeps a rotation rotated, exit 0, when the revocation fails, and warns with REVOCATION_FAILED', async () => {
      const first = await publishedToken('broken');

      const result = await cli(['run', '--json', '--force', '--provider', 'broken']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(outcomes(result)).toMatchObject([{ provider: 'broken', status: 'rotated', ok: true }]);
      const warning = logLines(result).find((line) => line['err']?.code === 'REVOCATION_FAILED');
      expect(warning).toMatchObject({ level: 40, provider: 'broken', token_type_hint: 'access_token' });
      await expect(server.introspect(first)).resolves.toMatchObject({ active: true });
      await expect(server.introspect(await publishedToken('broken'))).resolves.toMatchObject({ active: true });
    });
  });

  describe('token-rotator revoke', () => {
    it('revokes the current token and removes the records from the store and the publish_to store', async () => {
      const current = await publishedToken('ledger');
      expect(await record('public', 'tokens/ledger')).toMatchObject({ access_token: current });

      const result = await cli(['revoke', 'ledger']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout).toMatch(/^revoked the access token of ledger \(fingerprint sha256:[0-9a-f]{12}\)$/m);
      expect(result.stdout).toContain('removed state/ledger\n');
      expect(result.stdout).toContain('removed tokens/ledger\n');
      expect(result.stdout).toContain('removed tokens/ledger from store files\n');
      expect(result.stdout).toMatch(/remove it from the config/);
      await expect(server.introspect(current)).resolves.toMatchObject({ active: false });
      expect(await record('store', 'tokens/ledger')).toBeUndefined();
      expect(await record('store', 'state/ledger')).toBeUndefined();
      expect(await record('public', 'tokens/ledger')).toBeUndefined();
      expect(await exists(join(dir, 'store', 'state', 'billing.json'))).toBe(true);
      const get = await cli(['get', 'ledger']);
      expect(get.code).toBe(1);
      expect(get.stdout).toBe('');
    });

    it('says there is nothing left when run again', async () => {
      const result = await cli(['revoke', 'ledger']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout).toContain('ledger held no token to revoke');
      expect(result.stdout).toContain('ledger had no records to remove');
    });

    it('refuses a provider without revocation_url, exit 2, touching nothing', async () => {
      const current = await publishedToken('plain');

      const result = await cli(['revoke', 'plain']);

      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/provider plain \(kind oauth2\) has no revocation endpoint \(revocation_url\)/);
      expect(result.stderr).toMatch(/--remove-only/);
      expect(await record('store', 'tokens/plain')).toMatchObject({ access_token: current });
      await expect(server.introspect(current)).resolves.toMatchObject({ active: true });
    });

    it('removes only the records with --remove-only, the token staying valid until it expires', async () => {
      const current = await publishedToken('plain');

      const result = await cli(['revoke', 'plain', '--remove-only']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout).not.toMatch(/revoked/);
      expect(result.stdout).toContain('removed tokens/plain\n');
      expect(await record('store', 'tokens/plain')).toBeUndefined();
      await expect(server.introspect(current)).resolves.toMatchObject({ active: true });
    });

    it('removes nothing, exit 1, when the revocation fails: the token is still valid', async () => {
      const current = await publishedToken('broken');

      const result = await cli(['revoke', 'broken']);

      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /could not revoke the access token of broken \(sha256:[0-9a-f]{12}\).*no record was removed/,
      );
      expect(await record('store', 'tokens/broken')).toMatchObject({ access_token: current });
      expect((await record('store', 'state/broken'))?.['lease']).toBeUndefined();
      await expect(server.introspect(current)).resolves.toMatchObject({ active: true });
    });

    it('revokes the token a revoke_superseded provider holds, and the next pass starts it over', async () => {
      const current = await publishedToken('billing');

      const result = await cli(['revoke', 'billing']);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      await expect(server.introspect(current)).resolves.toMatchObject({ active: false });
      expect(await record('store', 'tokens/billing')).toBeUndefined();
      const again = await cli(['run', '--json', '--provider', 'billing']);
      expect(outcomes(again)).toMatchObject([{ provider: 'billing', status: 'rotated', method: 'obtain' }]);
      await expect(server.introspect(await publishedToken('billing'))).resolves.toMatchObject({ active: true });
    });
  });

  describe('with refresh tokens', () => {
    let refreshToken: string;

    it('refreshes from an imported refresh token of the server', async () => {
      refreshToken = await server.mintRefreshToken(REFRESHING);
      canary.addSecret(refreshToken);
      expect((await cli(['import', REFRESHING], `${refreshToken}\n`)).code).toBe(0);

      const result = await cli(['run', '--json', '--provider', REFRESHING]);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(outcomes(result)).toMatchObject([{ provider: REFRESHING, status: 'rotated', method: 'refresh' }]);
      await expect(server.introspect(await publishedToken(REFRESHING))).resolves.toMatchObject({ active: true });
    });

    it('revokes nothing after a refresh, so the grant and the new tokens stay active', async () => {
      const first = await publishedToken(REFRESHING);

      const result = await cli(['run', '--json', '--force', '--provider', REFRESHING]);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(outcomes(result)).toMatchObject([{ provider: REFRESHING, status: 'rotated', method: 'refresh' }]);
      const second = await publishedToken(REFRESHING);
      expect(second).not.toBe(first);
      await expect(server.introspect(second)).resolves.toMatchObject({ active: true });
      const state = await record('store', `state/${REFRESHING}`);
      canary.addSecret(state?.['refresh_token'] as string);
      await expect(server.introspect(state?.['refresh_token'] as string)).resolves.toMatchObject({ active: true });
      expect(
        logLines(result).some((line) => line['msg']?.startsWith('superseded tokens not revoked after a refresh')),
      ).toBe(true);
    });

    it('token-rotator revoke makes the refresh token and the access token inactive and removes the records', async () => {
      const access = await publishedToken(REFRESHING);
      const refresh = (await record('store', `state/${REFRESHING}`))?.['refresh_token'] as string;

      const result = await cli(['revoke', REFRESHING]);

      expect(result.code, result.stderr.slice(-2000)).toBe(0);
      expect(result.stdout).toMatch(/^revoked the refresh token of crm \(fingerprint sha256:[0-9a-f]{12}\)$/m);
      expect(result.stdout).toMatch(/^revoked the access token of crm \(fingerprint sha256:[0-9a-f]{12}\)$/m);
      await expect(server.introspect(refresh)).resolves.toMatchObject({ active: false });
      await expect(server.introspect(access)).resolves.toMatchObject({ active: false });
      expect(await record('store', `state/${REFRESHING}`)).toBeUndefined();
      expect(await record('store', `tokens/${REFRESHING}`)).toBeUndefined();
    });
  });

  it('never prints or logs a token or a client secret (leak canary)', () => {
    expect(canary.secrets.size).toBeGreaterThan(8);
    expect(canary.leaks()).toEqual([]);
  });
});
