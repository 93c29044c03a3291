/**
 * `token-rotator revoke` on a Vault store (issue 14): the built CLI against a real OpenBao
 * (the store) and a real `oidc-provider` (the vendor, with revocation and introspection).
 * With a token holding the rotator policy of deploy/vault/ plus the removal policy
 * docs/revocation.md gives, the command revokes the current token (inactive by
 * introspection) and removes the records with every version (no metadata left). With the
 * rotator policy alone, which grants no delete, the revocation happens but the removal is
 * refused: exit 1, the message says how to finish, and `--remove-only` with the fuller
 * token finishes. Every output, and the Vault tokens, go through the leak canary.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { type OidcServer, startOidcProvider } from '../helpers/oidc-provider.js';
import { type OpenBao, startOpenBao } from '../helpers/openbao.js';
import { Canary, type CliResult, runCli } from '../helpers/scenario.js';

const PROVIDERS = ['billing', 'ledger'] as const;
const SECRETS = Object.fromEntries(PROVIDERS.map((name) => [name, randomBytes(24).toString('hex')])) as Record<
  (typeof PROVIDERS)[number],
  string
>;
/** The removal policy of docs/revocation.md (`mount: secret`, `prefix: token-rotator`). */
const REMOVER_POLICY = `path "secret/metadata/token-rotator/*" {
  capabilities = ["read", "delete"]
}
`;

let bao: OpenBao;
let server: OidcServer;
let dir: string;
let configPath: string;
/** A token with the rotator policy only, and one with the removal policy too. */
let rotatorToken: string;
let operatorToken: string;
const canary = new Canary();
for (const secret of Object.values(SECRETS)) canary.addSecret(secret);

function cli(args: readonly string[], vaultToken: string): Promise<CliResult> {
  return runCli(args, { config: configPath, canary, env: { VAULT_TOKEN: vaultToken } });
}

/** The latest data of a record, read with the root token; undefined when there is none. */
async function vaultRecord(path: string): Promise<Record<string, unknown> | undefined> {
  const answer = await bao.api('GET', `secret/data/token-rotator/${path}`);
  if (answer.status === 404) return undefined;
  expect(answer.status).toBe(200);
  return answer.body.data.data as Record<string, unknown>;
}

/** The HTTP status of a record's metadata: 404 once it is removed with every version. */
async function metadataStatus(path: string): Promise<number> {
  return (await bao.api('GET', `secret/metadata/token-rotator/${path}`)).status;
}

async function publishedToken(provider: string): Promise<string> {
  const token = (await vaultRecord(`tokens/${provider}`))?.['access_token'];
  expect(token).toBeTypeOf('string');
  canary.addSecret(token as string);
  return token as string;
}

beforeAll(async () => {
  [bao, server] = await Promise.all([
    startOpenBao(),
    startOidcProvider({
      revocation: true,
      clients: PROVIDERS.map((name) => ({
        client_id: name,
        client_secret: SECRETS[name],
        token_endpoint_auth_method: 'client_secret_basic',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      })),
    }),
  ]);
  canary.addSecret(bao.rootToken);
  await bao.ok('POST', 'sys/policies/acl/token-rotator', {
    policy: await readFile('deploy/vault/rotator-policy.hcl', 'utf8'),
  });
  await bao.ok('POST', 'sys/policies/acl/token-rotator-remover', { policy: REMOVER_POLICY });
  const token = async (policies: string[]) =>
    (await bao.ok('POST', 'auth/token/create', { policies, ttl: '1h' })).auth.client_token as string;
  rotatorToken = await token(['token-rotator']);
  operatorToken = await token(['token-rotator', 'token-rotator-remover']);
  canary.addSecret(rotatorToken);
  canary.addSecret(operatorToken);

  dir = await mkdtemp(join(tmpdir(), 'tr-e2e-revocation-vault-'));
  const file = async (name: string, text: string) => {
    const path = join(dir, name);
    await writeFile(path, text, { mode: 0o600 });
    return `\${file:${path}}`;
  };
  const ca = await file('ca.pem', server.ca);
  const providers: Record<string, unknown> = {};
  for (const name of PROVIDERS) {
    providers[name] = {
      kind: 'oauth2',
      token_url: server.tokenUrl,
      revocation_url: server.revocationUrl,
      client_id: name,
      client_auth: 'basic',
      client_secret: await file(`${name}.secret`, SECRETS[name]),
      tls_ca: ca,
    };
  }
  configPath = join(dir, 'config.yaml');
  await writeFile(
    configPath,
    stringify({
      store: { kind: 'vault', address: bao.address, auth: { method: 'token', token: '${env:VAULT_TOKEN}' } },
      log_level: 'debug',
      policy: { retries: 0, request_timeout_seconds: 10, lease_seconds: 5 },
      providers,
    }),
    { mode: 0o600 },
  );
});

afterAll(async () => {
  await Promise.all([bao?.stop(), server?.close()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('token-rotator revoke on a Vault store', () => {
  it('rotates both providers into Vault under the rotator policy', async () => {
    const result = await cli(['run', '--json'], rotatorToken);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    for (const name of PROVIDERS)
      await expect(server.introspect(await publishedToken(name))).resolves.toMatchObject({ active: true });
  });

  it('revokes the token and removes both records with every version, given the removal policy', async () => {
    const current = await publishedToken('billing');

    const result = await cli(['revoke', 'billing'], operatorToken);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stdout).toMatch(/^revoked the access token of billing \(fingerprint sha256:[0-9a-f]{12}\)$/m);
    expect(result.stdout).toContain('removed state/billing\nremoved tokens/billing\n');
    await expect(server.introspect(current)).resolves.toMatchObject({ active: false });
    expect(await metadataStatus('tokens/billing')).toBe(404);
    expect(await metadataStatus('state/billing')).toBe(404);
    expect(await vaultRecord('tokens/ledger')).toBeDefined();
    const get = await cli(['get', 'billing'], rotatorToken);
    expect(get.code).toBe(1);
  });

  it('revokes but cannot remove under the rotator policy alone: exit 1, saying how to finish', async () => {
    const current = await publishedToken('ledger');

    const result = await cli(['revoke', 'ledger'], rotatorToken);

    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /could not remove state\/ledger: .*permission denied.*already revoked the access token; run `token-rotator revoke ledger --remove-only` to finish/,
    );
    await expect(server.introspect(current)).resolves.toMatchObject({ active: false });
    const state = await vaultRecord('state/ledger');
    expect(state).toBeDefined();
    // Left without the revoked token and without the lease, so --remove-only need not wait for it.
    expect(state?.['token']).toBeUndefined();
    expect(state?.['lease']).toBeUndefined();
  });

  it('finishes with --remove-only and the removal policy', async () => {
    const result = await cli(['revoke', 'ledger', '--remove-only'], operatorToken);

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    expect(result.stdout).toContain('removed state/ledger\nremoved tokens/ledger\n');
    expect(await metadataStatus('state/ledger')).toBe(404);
    expect(await metadataStatus('tokens/ledger')).toBe(404);
  });

  it('never prints or logs a token, a client secret or a Vault token (leak canary)', () => {
    expect(canary.secrets.size).toBeGreaterThan(5);
    expect(canary.leaks()).toEqual([]);
  });
});
