import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { fieldKit } from '../../src/config/schema.js';
import { ConfigError, ConflictError, StoreError } from '../../src/errors.js';
import { createRotator } from '../../src/rotator.js';
import { createDemoClients, type DemoSecrets, type Sandbox, startSandbox } from '../../src/sandbox/index.js';
import { createStore } from '../../src/stores/registry.js';
import { appRoleAuth } from '../../src/stores/vault/auth-approle.js';
import { tokenAuth } from '../../src/stores/vault/auth-token.js';
import { VaultStore, vaultStoreSchema } from '../../src/stores/vault/index.js';
import { fetchTransport, type VaultTransport } from '../../src/stores/vault/transport.js';
import { enableJwtAuth, freePort, type OpenBao, startOpenBao } from '../helpers/openbao.js';
import { listRecords } from '../helpers/record-lister.js';

let bao: OpenBao;
let sandbox: Sandbox;
let secrets: DemoSecrets;
/** The RSA key the JWT auth method trusts, generated for this run only. */
const jwtKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

beforeAll(async () => {
  const demo = await createDemoClients();
  secrets = demo.secrets;
  [bao, sandbox] = await Promise.all([startOpenBao(), startSandbox({ clients: demo.clients })]);
  await bao.ok('POST', 'sys/policies/acl/token-rotator', {
    policy: await readFile('deploy/vault/rotator-policy.hcl', 'utf8'),
  });
  await bao.ok('POST', 'sys/policies/acl/token-rotator-consumer', {
    policy: await readFile('deploy/vault/consumer-policy.hcl', 'utf8'),
  });
  await bao.ok('POST', 'sys/auth/approle', { type: 'approle' });
  await bao.ok('POST', 'auth/approle/role/rotator', { token_policies: ['token-rotator'], token_ttl: '1h' });
  await enableJwtAuth(bao, jwtKeys.publicKey);
});
afterAll(async () => {
  await Promise.all([bao?.stop(), sandbox?.close()]);
});

const resolvedVaultSchema = vaultStoreSchema(fieldKit('resolved'));

/** A store built from a config section (through the schema, so its defaults apply), root token by default. */
function storeFrom(section: Record<string, unknown>) {
  return createStore(
    resolvedVaultSchema.parse({
      kind: 'vault',
      address: bao.address,
      auth: { method: 'token', token: bao.rootToken },
      ...section,
    }),
  );
}

const uniquePrefix = () => `test-${randomBytes(4).toString('hex')}`;

async function approleCredentials(role: string): Promise<{ roleId: string; secretId: string }> {
  const roleId = (await bao.ok('GET', `auth/approle/role/${role}/role-id`)).data.role_id as string;
  const secretId = (await bao.ok('POST', `auth/approle/role/${role}/secret-id`, {})).data.secret_id as string;
  return { roleId, secretId };
}

function signJwt(claims: Record<string, unknown>): string {
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), jwtKeys.privateKey).toString('base64url')}`;
}

/** A transport that counts logins, passing every request on to fetch. */
function countingTransport(): { transport: VaultTransport; logins: () => number } {
  let logins = 0;
  return {
    transport: async (request) => {
      if (/\/v1\/auth\/[^/]+\/login$/.test(request.url)) logins++;
      return fetchTransport(request);
    },
    logins: () => logins,
  };
}

describe('VaultStore (KV v2 on a real OpenBao)', () => {
  describe('write and read', () => {
    it('creates a record with check-and-set 0 and reads it back with its KV version', async () => {
      const prefix = uniquePrefix();
      const store = await storeFrom({ prefix });
      const version = await store.write('tokens/a', { access_token: 'one' }, null);
      expect(version).toBe('1');
      expect(await store.read('tokens/a')).toEqual({ value: { access_token: 'one' }, version: '1' });
      const raw = await bao.ok('GET', `secret/data/${prefix}/tokens/a`);
      expect(raw.data.data).toEqual({ access_token: 'one' });
    });

    it('updates a record when the expected version is current', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      const first = await store.write('tokens/a', { n: 1 }, null);
      const second = await store.write('tokens/a', { n: 2 }, first);
      expect(second).toBe('2');
      expect(await store.read('tokens/a')).toEqual({ value: { n: 2 }, version: '2' });
    });

    it('rejects a stale expected version with a ConflictError and keeps the newer value', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      const first = await store.write('state/a', { n: 1 }, null);
      await store.write('state/a', { n: 2 }, first);
      const error = await store.write('state/a', { n: 3 }, first).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConflictError);
      expect((error as ConflictError).path).toBe('state/a');
      expect(await store.read('state/a')).toEqual({ value: { n: 2 }, version: '2' });
    });

    it('rejects creating a record that already exists with a ConflictError', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      await store.write('state/a', { n: 1 }, null);
      await expect(store.write('state/a', { n: 2 }, null)).rejects.toBeInstanceOf(ConflictError);
      expect((await store.read('state/a'))?.value).toEqual({ n: 1 });
    });

    it('reads a missing record as undefined', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      expect(await store.read('tokens/none')).toBeUndefined();
    });

    it('reads a record whose latest version was deleted as undefined, and creates a record over it', async () => {
      const prefix = uniquePrefix();
      const store = await storeFrom({ prefix });
      await store.write('tokens/a', { n: 1 }, null);
      await bao.ok('DELETE', `secret/data/${prefix}/tokens/a`);
      expect(await store.read('tokens/a')).toBeUndefined();
      expect(await store.write('tokens/a', { n: 2 }, null)).toBe('2');
      expect(await store.read('tokens/a')).toEqual({ value: { n: 2 }, version: '2' });
    });

    it('still writes, and still detects conflicts, on a mount that requires check-and-set', async () => {
      await bao.ok('POST', 'sys/mounts/casreq', { type: 'kv', options: { version: '2' } });
      await bao.ok('POST', 'casreq/config', { cas_required: true });
      // The setting is in force: a write without cas is refused.
      expect((await bao.api('POST', 'casreq/data/token-rotator/probe', { data: { n: 1 } })).status).toBe(400);
      const store = await storeFrom({ mount: 'casreq' });
      const first = await store.write('state/a', { n: 1 }, null);
      expect(await store.write('state/a', { n: 2 }, first)).toBe('2');
      await expect(store.write('state/a', { n: 3 }, first)).rejects.toBeInstanceOf(ConflictError);
    });

    it('bounds the versions kept and marks each record managed-by token-rotator in its custom_metadata', async () => {
      const prefix = uniquePrefix();
      const store = await storeFrom({ prefix, max_versions: 3, custom_metadata: { team: 'payments' } });
      let version: string | null = null;
      for (let n = 1; n <= 5; n++) version = await store.write('tokens/a', { n }, version);
      const metadata = (await bao.ok('GET', `secret/metadata/${prefix}/tokens/a`)).data;
      expect(metadata.max_versions).toBe(3);
      expect(metadata.custom_metadata).toEqual({ team: 'payments', 'managed-by': 'token-rotator' });
      expect(Object.keys(metadata.versions).sort()).toEqual(['3', '4', '5']);
    });

    it('labels a record with provider and expires_at in custom_metadata at each write, keeping keys an operator added', async () => {
      const prefix = uniquePrefix();
      const store = await storeFrom({ prefix, custom_metadata: { team: 'payments' } });
      const v1 = await store.write('tokens/klikoo', { n: 1 }, null, {
        labels: { provider: 'klikoo', expires_at: '2026-11-21T10:15:00.000Z' },
      });
      const first = (await bao.ok('GET', `secret/metadata/${prefix}/tokens/klikoo`)).data.custom_metadata;
      await bao.ok('POST', `secret/metadata/${prefix}/tokens/klikoo`, { custom_metadata: { ...first, owner: 'ops' } });

      await store.write('tokens/klikoo', { n: 2 }, v1, {
        labels: { provider: 'klikoo', expires_at: '2026-11-21T10:30:00.000Z' },
      });

      expect(first).toEqual({
        team: 'payments',
        'managed-by': 'token-rotator',
        provider: 'klikoo',
        expires_at: '2026-11-21T10:15:00.000Z',
      });
      expect((await bao.ok('GET', `secret/metadata/${prefix}/tokens/klikoo`)).data.custom_metadata).toEqual({
        team: 'payments',
        'managed-by': 'token-rotator',
        provider: 'klikoo',
        expires_at: '2026-11-21T10:30:00.000Z',
        owner: 'ops',
      });
    });

    it('lists the records under a prefix, recursively and sorted', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      for (const path of ['tokens/b', 'tokens/a', 'tokens/nested/c', 'state/a'])
        await store.write(path, { path }, null);
      expect(await listRecords(store, 'tokens')).toEqual(['tokens/a', 'tokens/b', 'tokens/nested/c']);
      expect(await listRecords(store, 'tokens/')).toEqual(['tokens/a', 'tokens/b', 'tokens/nested/c']);
      expect(await listRecords(store, '')).toEqual(['state/a', 'tokens/a', 'tokens/b', 'tokens/nested/c']);
      expect(await listRecords(store, 'missing')).toEqual([]);
    });
  });

  describe('auth', () => {
    it('uses a token given by reference in the config (${env:VAULT_TOKEN})', async () => {
      const loaded = await parseConfig(
        `store: { kind: vault, address: "${bao.address}", prefix: ${uniquePrefix()}, auth: { method: token, token: "\${env:VAULT_TOKEN}" } }
providers: { generic: { kind: oauth2, token_url: "${sandbox.tokenUrl('oauth2')}", client_id: x, client_secret: "\${env:UNUSED}" } }`,
        'inline.yaml',
        { VAULT_TOKEN: bao.rootToken, UNUSED: 'x' },
      );
      const store = await createStore(loaded.store);
      await store.write('tokens/a', { n: 1 }, null);
      expect(await store.read('tokens/a')).toEqual({ value: { n: 1 }, version: '1' });
    });

    it('refuses a token written in plain text in the config file, naming the field', async () => {
      const text = `store: { kind: vault, address: "${bao.address}", auth: { method: token, token: s.plain } }
providers: { generic: { kind: oauth2, token_url: "${sandbox.tokenUrl('oauth2')}", client_id: x, client_secret: "\${env:UNUSED}" } }`;
      const error = await parseConfig(text, 'inline.yaml', { UNUSED: 'x' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues.map((issue) => issue.path)).toEqual(['store.auth.token']);
      expect((error as ConfigError).message).not.toContain('s.plain');
    });

    it('sends the namespace as X-Vault-Namespace, so records live in that namespace', async () => {
      await bao.ok('POST', 'sys/namespaces/team-a', {});
      await bao.ok('POST', 'sys/mounts/secret', { type: 'kv', options: { version: '2' } }, undefined, 'team-a');
      const store = await storeFrom({ namespace: 'team-a', prefix: 'ns' });
      await store.write('tokens/a', { n: 1 }, null);
      expect((await bao.api('GET', 'secret/data/ns/tokens/a', undefined, undefined, 'team-a')).body.data.data).toEqual({
        n: 1,
      });
      expect((await bao.api('GET', 'secret/data/ns/tokens/a')).status).toBe(404);
    });

    it('logs in with AppRole, and the rotator policy allows every call the store makes', async () => {
      const { roleId, secretId } = await approleCredentials('rotator');
      const store = await storeFrom({ auth: { method: 'approle', role_id: roleId, secret_id: secretId } });
      const version = await store.write('tests/approle', { n: 1 }, null);
      expect(await store.write('tests/approle', { n: 2 }, version)).toBe('2');
      await expect(store.write('tests/approle', { n: 3 }, version)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('tests/approle')).toEqual({ value: { n: 2 }, version: '2' });
      expect(await listRecords(store, 'tests')).toContain('tests/approle');
      expect(await listRecords(store, '')).toContain('tests/approle');
    });

    it('logs in with a JWT signed by a key the JWT auth method trusts', async () => {
      const now = Math.floor(Date.now() / 1000);
      const jwt = signJwt({
        sub: 'system:serviceaccount:rotation:token-rotator',
        aud: 'openbao',
        iat: now,
        exp: now + 300,
      });
      const store = await storeFrom({ auth: { method: 'jwt', role: 'rotator', jwt } });
      await store.write('tests/jwt', { n: 1 }, null);
      expect(await store.read('tests/jwt')).toEqual({ value: { n: 1 }, version: '1' });
    });

    it('reports a refused login as a StoreError that does not contain the credentials', async () => {
      const { roleId } = await approleCredentials('rotator');
      const wrongSecret = randomBytes(16).toString('hex');
      const store = await storeFrom({ auth: { method: 'approle', role_id: roleId, secret_id: wrongSecret } });
      const error = await store.read('tests/approle').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/login at auth\/approle/);
      expect(JSON.stringify(error)).not.toContain(wrongSecret);
      expect((error as StoreError).message).not.toContain(wrongSecret);
    });

    it('logs in again once when Vault no longer accepts its expired token, and repeats the call', async () => {
      await bao.ok('POST', 'auth/approle/role/short', {
        token_policies: ['token-rotator'],
        token_ttl: '1s',
        token_max_ttl: '1s',
      });
      const { roleId, secretId } = await approleCredentials('short');
      const counting = countingTransport();
      const store = new VaultStore({
        address: bao.address,
        mount: 'secret',
        prefix: 'token-rotator',
        auth: appRoleAuth({ mount: 'approle', role_id: roleId, secret_id: secretId }),
        maxVersions: 10,
        timeoutMs: 5000,
        transport: counting.transport,
      });
      await store.write('tests/short', { n: 1 }, null);
      await new Promise((r) => setTimeout(r, 2100));
      expect(await store.read('tests/short')).toEqual({ value: { n: 1 }, version: '1' });
      expect(counting.logins()).toBe(2);
    });

    it('does not log in again when the policy denies a call with a valid token', async () => {
      const consumer = (await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator-consumer'] })).auth
        .client_token as string;
      const counting = countingTransport();
      const store = new VaultStore({
        address: bao.address,
        mount: 'secret',
        prefix: 'token-rotator',
        auth: tokenAuth({ token: consumer }),
        maxVersions: 10,
        timeoutMs: 5000,
        transport: counting.transport,
      });
      const error = await store.write('state/denied', { n: 1 }, null).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(ConflictError);
      expect((error as StoreError).message).toMatch(/HTTP 403.*permission denied/);
      expect(counting.logins()).toBe(0);
    });
  });

  describe('errors repeating cannot fix', () => {
    it('reports a path with no secrets engine mounted as a non-retryable StoreError naming the mount, never as a missing record', async () => {
      const store = await storeFrom({ mount: 'no-such-mount' });

      const read = await store.read('tokens/a').catch((e: unknown) => e);
      const write = await store.write('tokens/a', { n: 1 }, null).catch((e: unknown) => e);

      for (const error of [read, write]) {
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({
          retryable: false,
          message: expect.stringMatching(/HTTP 404.*no secrets engine is mounted at no-such-mount/),
        });
      }
    });

    it('reports a write the policy denies as a non-retryable StoreError naming the address', async () => {
      const consumer = (await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator-consumer'] })).auth
        .client_token as string;
      const store = await storeFrom({ auth: { method: 'token', token: consumer } });

      const error = await store.write('state/denied', { n: 1 }, null).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringMatching(
          /^could not write record state\/denied: Vault answered HTTP 403 .*\(permission denied\); Vault at http:\/\/127\.0\.0\.1:\d+$/,
        ),
      });
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(consumer);
    });

    it('refuses a record over 480 KiB before sending it, as a non-retryable StoreError', async () => {
      const store = await storeFrom({ prefix: uniquePrefix() });
      // Go escapes each "<" as \u003c: 100,000 of them echo as 600,000 bytes.
      const error = await store.write('tokens/a', { html: '<'.repeat(100_000) }, null).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringContaining("over the Vault store's limit of 491520"),
      });
      expect(await store.read('tokens/a')).toBeUndefined();
    });
  });

  describe('the consumer policy', () => {
    it('reads the public record and is denied the private state (403)', async () => {
      const root = await storeFrom({});
      await root.write('tokens/x', { access_token: 'public' }, null);
      await root.write('state/x', { refresh_token: 'private' }, null);
      const consumer = (await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator-consumer'] })).auth
        .client_token as string;
      const store = await storeFrom({ auth: { method: 'token', token: consumer } });
      expect((await store.read('tokens/x'))?.value).toEqual({ access_token: 'public' });
      const denied = await store.read('state/x').catch((e: unknown) => e);
      expect(denied).toBeInstanceOf(StoreError);
      expect((denied as StoreError).message).toMatch(/HTTP 403/);
      expect((await bao.api('GET', 'secret/data/token-rotator/state/x', undefined, consumer)).status).toBe(403);
    });
  });

  describe('the engine over Vault', () => {
    it('rotates a provider in one pass, with its credentials resolved from Vault, and publishes a token consumers can read', async () => {
      await (await storeFrom({})).write('credentials/generic', { client_secret: secrets.oauth2.clientSecret }, null);
      const { roleId, secretId } = await approleCredentials('rotator');
      const loaded = await parseConfig(
        `store:
  kind: vault
  address: "${bao.address}"
  auth: { method: approle, role_id: "${roleId}", secret_id: "\${env:VAULT_SECRET_ID}" }
providers:
  generic:
    kind: oauth2
    token_url: "${sandbox.tokenUrl('oauth2')}"
    body: json
    client_id: "${secrets.oauth2.clientId}"
    client_secret: "\${store:credentials/generic#client_secret}"
`,
        'inline.yaml',
        { VAULT_SECRET_ID: secretId },
      );
      const rotator = await createRotator(loaded);
      try {
        const summary = await rotator.pass();
        expect(summary.outcomes).toMatchObject([{ provider: 'generic', status: 'rotated', method: 'obtain' }]);
        // The second write of the record patches its metadata, under the rotator policy.
        expect((await rotator.pass({ force: true })).outcomes).toMatchObject([
          { provider: 'generic', status: 'rotated' },
        ]);
      } finally {
        await rotator.close();
      }
      const consumer = (await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator-consumer'] })).auth
        .client_token as string;
      const published = await bao.ok('GET', 'secret/data/token-rotator/tokens/generic', undefined, consumer);
      expect(published.data.data).toMatchObject({ provider: 'generic', generation: 2 });
      expect(sandbox.isValid(published.data.data.access_token)).toBe(true);
      // The rotator policy allows the metadata patch: operators see what each record holds.
      const metadata = (await bao.ok('GET', 'secret/metadata/token-rotator/tokens/generic')).data.custom_metadata;
      expect(metadata).toEqual({
        'managed-by': 'token-rotator',
        provider: 'generic',
        expires_at: published.data.data.expires_at,
      });
    });
  });

  describe('TLS with a custom CA', () => {
    it('trusts the server certificate through ca_file, and refuses it without', async () => {
      const tls = await startOpenBao({ tls: true });
      try {
        const section = { kind: 'vault', address: tls.address, auth: { method: 'token', token: tls.rootToken } };
        const trusting = await createStore(resolvedVaultSchema.parse({ ...section, ca_file: tls.caFile }));
        await trusting.write('tokens/a', { n: 1 }, null);
        expect(await trusting.read('tokens/a')).toEqual({ value: { n: 1 }, version: '1' });
        const untrusting = await createStore(resolvedVaultSchema.parse(section));
        const error = await untrusting.read('tokens/a').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).message).toMatch(/could not reach Vault/);
      } finally {
        await tls.stop();
      }
    });
  });

  describe('an unreachable Vault', () => {
    it('fails a read with a StoreError at once when the server was stopped', async () => {
      const other = await startOpenBao();
      const store = await createStore(
        resolvedVaultSchema.parse({
          kind: 'vault',
          address: other.address,
          request_timeout_seconds: 5,
          auth: { method: 'token', token: other.rootToken },
        }),
      );
      await store.write('tokens/a', { n: 1 }, null);
      await other.stop();
      const started = Date.now();
      const error = await store.read('tokens/a').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/could not read record tokens\/a/);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error).toMatchObject({
        retryable: true,
        message: expect.stringContaining(
          'could not reach Vault for read of secret/data/token-rotator/tokens/a (ECONNREFUSED)',
        ),
      });
      expect((error as StoreError).message).toContain(`; Vault at ${other.address}`);
    });

    it('fails a read with a StoreError within its timeout when the server accepts connections but never answers', async () => {
      const sockets = new Set<Socket>();
      const silent: Server = createServer((socket) => sockets.add(socket));
      const port = await freePort();
      await new Promise<void>((r) => silent.listen(port, '127.0.0.1', r));
      try {
        const store = await createStore(
          resolvedVaultSchema.parse({
            kind: 'vault',
            address: `http://127.0.0.1:${port}`,
            request_timeout_seconds: 1,
            auth: { method: 'token', token: 'hvs.unused' },
          }),
        );
        const started = Date.now();
        const error = await store.read('tokens/a').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreError);
        expect((error as StoreError).message).toMatch(/no answer from Vault within 1 s/);
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(Date.now() - started).toBeLessThan(3000);
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });
  });
});
