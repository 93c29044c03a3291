import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { fieldKit } from '../../src/config/schema.js';
import { StoreError } from '../../src/errors.js';
import type { Logger } from '../../src/observability/logger.js';
import type { VaultAuth } from '../../src/stores/vault/auth.js';
import { appRoleAuth } from '../../src/stores/vault/auth-approle.js';
import { tokenAuth } from '../../src/stores/vault/auth-token.js';
import { createVaultStore, VaultStore, vaultStoreSchema } from '../../src/stores/vault/index.js';
import { fetchTransport, type VaultTransport } from '../../src/stores/vault/transport.js';
import { captureLogs } from '../helpers/captured-logger.js';
import { enableJwtAuth, type OpenBao, startOpenBao } from '../helpers/openbao.js';
import { serviceAccount, startTokenReviewServer, type TokenReviewServer } from '../helpers/tokenreview-server.js';

let bao: OpenBao;
let k8s: TokenReviewServer;
let workdir: string;
/** The service account the Kubernetes role binds, known to the TokenReview server. */
const rotatorAccount = serviceAccount('rotation', 'token-rotator');
/** The RSA key the JWT auth method trusts, generated for this run only. */
const jwtKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });

beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'tr-vault-auth-'));
  bao = await startOpenBao();
  await bao.ok('POST', 'sys/policies/acl/token-rotator', {
    policy: await readFile('deploy/vault/rotator-policy.hcl', 'utf8'),
  });

  // The TokenReview server serves HTTPS with a certificate from OpenBao's own PKI engine,
  // as an API server would; OpenBao trusts it through kubernetes_ca_cert.
  await bao.ok('POST', 'sys/mounts/pki', { type: 'pki' });
  const ca = (await bao.ok('POST', 'pki/root/generate/internal', { common_name: 'test-kubernetes-ca', ttl: '2h' })).data
    .certificate as string;
  await bao.ok('POST', 'pki/roles/apiserver', { allow_any_name: true, allow_ip_sans: true, max_ttl: '2h' });
  const issued = (
    await bao.ok('POST', 'pki/issue/apiserver', { common_name: 'kubernetes', ip_sans: '127.0.0.1', ttl: '1h' })
  ).data;
  k8s = await startTokenReviewServer({
    accounts: [rotatorAccount],
    tls: { cert: issued.certificate, key: issued.private_key },
  });

  await bao.ok('POST', 'sys/auth/kubernetes', { type: 'kubernetes' });
  // Outside a pod there is no local CA or token to default to: OpenBao then requires the CA.
  await bao.ok('POST', 'auth/kubernetes/config', {
    kubernetes_host: k8s.url,
    kubernetes_ca_cert: ca,
    token_reviewer_jwt: k8s.reviewerToken,
    disable_local_ca_jwt: true,
  });
  await bao.ok('POST', 'auth/kubernetes/role/rotator', {
    bound_service_account_names: ['token-rotator'],
    bound_service_account_namespaces: ['rotation'],
    audience: 'vault',
    token_policies: ['token-rotator'],
    token_ttl: '1h',
  });

  await bao.ok('POST', 'sys/auth/approle', { type: 'approle' });
  await enableJwtAuth(bao, jwtKeys.publicKey);
});
afterAll(async () => {
  await Promise.all([bao?.stop(), k8s?.close()]);
  if (workdir) await rm(workdir, { recursive: true, force: true });
});

const resolvedVaultSchema = vaultStoreSchema(fieldKit('resolved'));
/** A record path of its own for each test: the rotator policy covers the default prefix only. */
const uniqueRecord = (folder: string) => `${folder}/auth-${randomBytes(4).toString('hex')}`;

/** A store built from a config section, through the schema, logging to `logger`. */
function storeFrom(auth: Record<string, unknown>, logger?: Logger) {
  const config = resolvedVaultSchema.parse({ kind: 'vault', address: bao.address, auth });
  return createVaultStore(config, logger === undefined ? {} : { logger });
}

async function tempFile(name: string, content: string): Promise<string> {
  const path = join(workdir, `${randomBytes(4).toString('hex')}-${name}`);
  await writeFile(path, content, { mode: 0o600 });
  return path;
}

function signJwt(claims: Record<string, unknown>): string {
  const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
  const input = `${encode({ alg: 'RS256', typ: 'JWT' })}.${encode(claims)}`;
  return `${input}.${sign('sha256', Buffer.from(input), jwtKeys.privateKey).toString('base64url')}`;
}

function ciJwt(): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({
    sub: 'system:serviceaccount:rotation:token-rotator',
    aud: 'openbao',
    iat: now,
    exp: now + 300,
    jti: randomBytes(8).toString('hex'),
  });
}

/** The accessors of every token the store logged in with, in order. */
function loginAccessors(logs: ReturnType<typeof captureLogs>): string[] {
  return logs
    .lines()
    .filter((line) => line.msg === 'logged in to Vault')
    .map((line) => line.accessor as string);
}

describe('Vault auth (real OpenBao)', () => {
  describe('kubernetes', () => {
    it('logs in with the service account token read from jwt_file, and the store reads and writes', async () => {
      const jwt = k8s.issue(rotatorAccount);
      const jwtFile = await tempFile('token', `${jwt}\n`);
      const before = k8s.reviews.length;
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: jwtFile });

      const record = uniqueRecord('tests');
      const version = await store.write(record, { n: 1 }, null);
      expect(await store.write(record, { n: 2 }, version)).toBe('2');
      expect(await store.read(record)).toEqual({ value: { n: 2 }, version: '2' });
      expect(await store.list('tests')).toContain(record);

      // OpenBao asked the API server about exactly this token, with the role's audience, and was answered yes.
      expect(k8s.reviews.slice(before)).toEqual([{ token: jwt, audiences: ['vault'], authenticated: true }]);
      expect(k8s.unauthorized).toBe(0);
      await store.close();
    });

    it('refuses a service account the role does not bind, before any TokenReview, with a StoreError naming the login', async () => {
      const intruder = serviceAccount('rotation', 'intruder');
      const jwt = k8s.issue(intruder);
      const before = k8s.reviews.length;
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: await tempFile('token', jwt) });

      const error = await store.read('tokens/k8s').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/HTTP 403 to login at auth\/kubernetes \(permission denied\)/);
      expect((error as StoreError).message).not.toContain(jwt);
      expect(JSON.stringify(error)).not.toContain(jwt);
      // OpenBao read the claims and refused on its own: the API server was never asked.
      expect(k8s.reviews.length).toBe(before);
    });

    it('refuses a token the Kubernetes API does not authenticate (unknown key), after asking it', async () => {
      const forgedKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const jwt = k8s.issue(rotatorAccount, { signingKey: forgedKey });
      const before = k8s.reviews.length;
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: await tempFile('token', jwt) });

      const error = await store.write('tokens/forged', { n: 1 }, null).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/HTTP 403 to login at auth\/kubernetes/);
      expect((error as StoreError).message).not.toContain(jwt);
      expect(k8s.reviews.slice(before)).toEqual([{ token: jwt, audiences: ['vault'], authenticated: false }]);
    });

    it('refuses a service account that no longer exists (same name, another uid)', async () => {
      const recreated = { ...rotatorAccount, uid: serviceAccount('rotation', 'token-rotator').uid };
      const jwt = k8s.issue(recreated);
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: await tempFile('token', jwt) });
      const error = await store.read('tokens/k8s').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/HTTP 403 to login at auth\/kubernetes/);
      expect(k8s.reviews.at(-1)).toEqual({ token: jwt, audiences: ['vault'], authenticated: false });
    });

    it('reads the jwt_file again at the next login, so a rotated projected token is used', async () => {
      const first = k8s.issue(rotatorAccount);
      const jwtFile = await tempFile('token', first);
      const logs = captureLogs();
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: jwtFile }, logs.logger);
      const record = uniqueRecord('tests');
      await store.write(record, { n: 1 }, null);
      const [firstAccessor] = loginAccessors(logs);
      expect(firstAccessor).toBeTruthy();

      // The kubelet rotates the projected token; then the store's Vault token is revoked.
      const second = k8s.issue(rotatorAccount);
      expect(second).not.toBe(first);
      await writeFile(jwtFile, second);
      await bao.ok('POST', 'auth/token/revoke-accessor', { accessor: firstAccessor });

      expect(await store.read(record)).toEqual({ value: { n: 1 }, version: '1' });
      const reviewed = k8s.reviews
        .filter((review) => review.token === first || review.token === second)
        .map((review) => review.token);
      expect(reviewed).toEqual([first, second]);
      const accessors = loginAccessors(logs);
      expect(accessors).toHaveLength(2);
      expect(accessors[1]).not.toBe(firstAccessor);
      expect(logs.lines().at(-1)).toMatchObject({ msg: 'logged in to Vault', reason: 'refused by Vault' });
      // Logs name tokens by accessor and fingerprint, never by value.
      expect(logs.text()).not.toContain(first);
      expect(logs.text()).not.toContain(second);
      await store.close();
    });

    it('reports a missing jwt_file as a StoreError naming the file', async () => {
      const missing = join(workdir, 'no-such-token');
      const store = storeFrom({ method: 'kubernetes', role: 'rotator', jwt_file: missing });
      const error = await store.read('tokens/k8s').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toBe(
        `cannot read the Kubernetes service account token for the Vault login from ${missing} (ENOENT)`,
      );
    });
  });

  describe('jwt with jwt_file', () => {
    it('reads the JWT from the file at each login: a bad JWT written there is sent at the next login, a good one works again', async () => {
      const jwtFile = await tempFile('jwt', ciJwt());
      const logs = captureLogs();
      const store = storeFrom({ method: 'jwt', role: 'rotator', jwt_file: jwtFile }, logs.logger);
      const record = uniqueRecord('tests');
      await store.write(record, { n: 1 }, null);
      const [accessor] = loginAccessors(logs);

      // A JWT this mount does not trust: the next login must send it, and be refused.
      const untrusted = `${ciJwt().split('.').slice(0, 2).join('.')}.${randomBytes(256).toString('base64url')}`;
      await writeFile(jwtFile, untrusted);
      await bao.ok('POST', 'auth/token/revoke-accessor', { accessor });
      const refused = await store.read(record).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(StoreError);
      expect((refused as StoreError).message).toMatch(/login at auth\/jwt/);
      expect((refused as StoreError).message).not.toContain(untrusted);

      await writeFile(jwtFile, ciJwt());
      expect(await store.read(record)).toEqual({ value: { n: 1 }, version: '1' });
      expect(loginAccessors(logs)).toHaveLength(2);
      await store.close();
    });

    it('accepts jwt_file given as a reference in the config file', async () => {
      const jwtFile = await tempFile('jwt', ciJwt());
      const loaded = await parseConfig(
        `store: { kind: vault, address: "${bao.address}", auth: { method: jwt, role: rotator, jwt_file: "\${env:JWT_PATH}" } }
providers: { generic: { kind: oauth2, token_url: "https://auth.example.com/token", client_id: x, client_secret: "\${env:UNUSED}" } }`,
        'inline.yaml',
        { JWT_PATH: jwtFile, UNUSED: 'x' },
      );
      if (loaded.store.kind !== 'vault') throw new Error('expected a vault store section');
      expect(loaded.store.auth).toMatchObject({ method: 'jwt', jwt_file: jwtFile });
      const store = createVaultStore(loaded.store);
      const record = uniqueRecord('tests');
      await store.write(record, { n: 1 }, null);
      expect(await store.read(record)).toEqual({ value: { n: 1 }, version: '1' });
      await store.close();
    });
  });

  describe('token renewal and re-login', () => {
    /** A transport that counts logins, renewals and refused calls, passing everything on to fetch. */
    function countingTransport() {
      const counts = { logins: 0, renewals: 0, refused: 0 };
      const transport: VaultTransport = async (request) => {
        if (/\/v1\/auth\/[^/]+\/login$/.test(request.url)) counts.logins++;
        if (request.url.endsWith('/v1/auth/token/renew-self')) counts.renewals++;
        const response = await fetchTransport(request);
        if (response.status === 403) counts.refused++;
        return response;
      };
      return { transport, counts };
    }

    function storeWith(auth: VaultAuth, transport: VaultTransport, logger: Logger): VaultStore {
      return new VaultStore({
        address: bao.address,
        mount: 'secret',
        prefix: 'token-rotator',
        auth,
        maxVersions: 10,
        timeoutMs: 5000,
        transport,
        logger,
      });
    }

    async function lookupAccessor(accessor: string): Promise<{ expire_time: string; ttl: number; issue_time: string }> {
      return (await bao.ok('POST', 'auth/token/lookup-accessor', { accessor })).data;
    }

    async function waitFor<T>(what: string, probe: () => T | undefined, timeoutMs: number): Promise<T> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = probe();
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    it('renews an AppRole token ahead of its TTL, logs in again before its max TTL, and keeps working throughout', async () => {
      await bao.ok('POST', 'auth/approle/role/brief', {
        token_policies: ['token-rotator'],
        // Short enough to see two renewals and a login within the test, long enough that a
        // renewal delayed by a loaded machine still comes before the token expires.
        token_ttl: '6s',
        token_max_ttl: '14s',
      });
      const roleId = (await bao.ok('GET', 'auth/approle/role/brief/role-id')).data.role_id as string;
      const secretId = (await bao.ok('POST', 'auth/approle/role/brief/secret-id', {})).data.secret_id as string;
      const logs = captureLogs();
      const { transport, counts } = countingTransport();
      const store = storeWith(
        appRoleAuth({ mount: 'approle', role_id: roleId, secret_id: secretId }),
        transport,
        logs.logger,
      );

      const record = uniqueRecord('state');
      let version = await store.write(record, { n: 0 }, null);
      const [first] = loginAccessors(logs);
      const issued = await lookupAccessor(first as string);

      // Calls keep flowing across the whole life of the first token and into the second's.
      let n = 0;
      const started = Date.now();
      let renewedExpiry: string | undefined;
      while (Date.now() - started < 16_000) {
        await new Promise((r) => setTimeout(r, 400));
        version = await store.write(record, { n: ++n }, version);
        expect(await store.read(record)).toEqual({ value: { n }, version });
        if (renewedExpiry === undefined && logs.lines().some((line) => line.msg === 'renewed the Vault token')) {
          renewedExpiry = (await lookupAccessor(first as string)).expire_time;
        }
      }

      // Renewal: the same token (accessor), its expiry moved later, twice before its max TTL stops it.
      expect(renewedExpiry).toBeDefined();
      expect(Date.parse(renewedExpiry as string)).toBeGreaterThan(Date.parse(issued.expire_time));
      const lines = logs.lines();
      const relogin = lines.findIndex((line) => line.msg === 'logged in to Vault' && line.reason === 'ahead of expiry');
      expect(relogin).toBeGreaterThan(0);
      const renewalsOfFirst = lines.slice(0, relogin).filter((line) => line.msg === 'renewed the Vault token');
      expect(renewalsOfFirst.length).toBeGreaterThanOrEqual(2);
      expect(renewalsOfFirst.every((line) => line.accessor === first)).toBe(true);
      // Re-login: a new token before the first one's max TTL, never after a refusal.
      const accessors = loginAccessors(logs);
      expect(accessors.length).toBeGreaterThanOrEqual(2);
      expect(accessors[1]).not.toBe(first);
      expect(
        logs
          .lines()
          .filter((line) => line.msg === 'logged in to Vault')
          .map((line) => line.reason),
      ).toEqual(['first use', ...accessors.slice(1).map(() => 'ahead of expiry')]);
      expect(Date.parse((await lookupAccessor(accessors.at(-1) as string)).expire_time)).toBeGreaterThan(Date.now());
      expect(counts.refused).toBe(0);
      expect(counts.logins).toBe(accessors.length);
      expect(logs.text()).not.toContain(secretId);

      // close() stops the upkeep: no renewal or login after it.
      await store.close();
      const after = { ...counts };
      await new Promise((r) => setTimeout(r, 2_500));
      expect(counts).toEqual(after);
    }, 45_000);

    it('renews a token given in the config while it can, then warns that it will expire, and never logs in', async () => {
      // Long enough that a loaded machine still renews it before it expires: renewal at two thirds
      // of 6 s, capped by the 9 s max TTL to less than asked for, which is the last renewal.
      const created = (
        await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator'], ttl: '6s', explicit_max_ttl: '9s' })
      ).auth;
      const logs = captureLogs();
      const { transport, counts } = countingTransport();
      const store = storeWith(tokenAuth({ token: created.client_token }), transport, logs.logger);
      await store.write(uniqueRecord('state'), { n: 1 }, null);
      const issued = await lookupAccessor(created.accessor);

      const warning = await waitFor('the expiry warning', () => logs.lines().find((line) => line.level === 40), 8_000);
      // A failed renewal warns first, with Vault's reason: show it rather than only the message.
      expect(warning, JSON.stringify(warning)).toMatchObject({
        accessor: created.accessor,
        msg: expect.stringMatching(/cannot be renewed further.*give it a new token/),
      });
      expect(Date.parse(warning.expires_at)).toBeLessThanOrEqual(Date.parse(issued.issue_time) + 9_000 + 1_000);
      const renewals = logs.lines().filter((line) => line.msg === 'renewed the Vault token');
      expect(renewals.length).toBeGreaterThanOrEqual(1);
      expect(renewals.every((line) => line.accessor === created.accessor)).toBe(true);
      expect(counts).toMatchObject({ renewals: renewals.length, logins: 0, refused: 0 });
      expect(logs.text()).not.toContain(created.client_token);
      await store.close();
    });
  });
});
