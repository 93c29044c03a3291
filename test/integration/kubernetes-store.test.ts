/**
 * The Kubernetes store against a real kube-apiserver and etcd (test/helpers/kube.ts),
 * beyond the store contract (store-conformance.test.ts): the Secrets' names, labels and
 * keys as a pod mounts them, each way of authenticating (kubeconfig with a client
 * certificate or a bearer token, in-cluster with a token file that rotates), the RBAC
 * of deploy/kubernetes/rbac/ really enforced, and how failures are classified.
 */
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import {
  createKubernetesStore,
  inClusterConnection,
  KubernetesStore,
  kubeconfigConnection,
  MANAGED_BY_LABEL,
  RECORD_KEY,
  RECORD_PATH_ANNOTATION,
  secretNameOf,
} from '../../src/stores/kubernetes/index.js';
import { everythingIn } from '../helpers/error-text.js';
import { type Kube, rbacManifests, startKube } from '../helpers/kube.js';
import { freePort } from '../helpers/ports.js';

let kube: Kube;
const stores: KubernetesStore[] = [];

beforeAll(async () => {
  kube = await startKube();
}, 90_000);

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await kube?.stop();
}, 30_000);

/** A fresh namespace per case. */
async function namespace(): Promise<string> {
  const name = `t-${randomUUID().slice(0, 8)}`;
  await kube.createNamespace(name);
  return name;
}

/** A store as `admin` (above RBAC) in `ns`, with the default prefix unless given. */
async function adminStore(ns: string, prefix = 'token-rotator-'): Promise<KubernetesStore> {
  const store = createKubernetesStore({
    kind: 'kubernetes',
    namespace: ns,
    prefix,
    kubeconfig: await kube.kubeconfig({ token: kube.tokens.admin }),
    request_timeout_seconds: 10,
  });
  stores.push(store);
  return store;
}

/** The Secret as the API holds it (admin). */
async function secretOf(ns: string, name: string): Promise<any> {
  return kube.ok('GET', `/api/v1/namespaces/${ns}/secrets/${name}`);
}

/** What a pod that mounts the Secret sees: each key a file, its content the base64-decoded value. */
function mounted(secret: any): Record<string, string> {
  return Object.fromEntries(
    Object.entries(secret.data as Record<string, string>).map(([key, value]) => [
      key,
      Buffer.from(value, 'base64').toString('utf8'),
    ]),
  );
}

const PUBLIC = {
  provider: 'klikoo',
  access_token: 'at-🔑-secret-value',
  token_type: 'Bearer',
  issued_at: '2026-11-21T10:00:00.000Z',
  expires_at: '2026-11-21T10:15:00.000Z',
  generation: 3,
};

describe('KubernetesStore', () => {
  describe('layout', () => {
    it('names the Secret of record a/b <prefix>a-b, and a path that is no valid name by a readable form and a hash', async () => {
      const ns = await namespace();
      const store = await adminStore(ns);

      for (const path of ['tokens/klikoo', 'state/klikoo', 'runner/heartbeat', 'tokens/my_api', 'tokens/Klikoo']) {
        await store.write(path, { generation: 1 }, null);
      }

      const names = ((await kube.ok('GET', `/api/v1/namespaces/${ns}/secrets`)).items as any[])
        .map((item) => [item.metadata.annotations[RECORD_PATH_ANNOTATION], item.metadata.name])
        .sort();
      expect(names).toEqual([
        ['runner/heartbeat', 'token-rotator-runner-heartbeat'],
        ['state/klikoo', 'token-rotator-state-klikoo'],
        ['tokens/Klikoo', expect.stringMatching(/^token-rotator-tokens-klikoo-[0-9a-f]{12}$/)],
        ['tokens/klikoo', 'token-rotator-tokens-klikoo'],
        ['tokens/my_api', expect.stringMatching(/^token-rotator-tokens-my-api-[0-9a-f]{12}$/)],
      ]);
      expect(secretNameOf('token-rotator-', 'tokens/my_api')).toBe(names[4]![1]);
      expect(secretNameOf('', 'tokens/klikoo')).toBe('tokens-klikoo');
      expect(secretNameOf('p.', `tokens/${'x'.repeat(300)}`)).toMatch(/^p\.tokens-x+-[0-9a-f]{12}$/);
      expect(secretNameOf('p.', `tokens/${'x'.repeat(300)}`)).toHaveLength(253);
    });

    it("keeps the public record's fields as keys a mounted volume shows as files, and the whole record as record.json", async () => {
      const ns = await namespace();
      const store = await adminStore(ns);

      const version = await store.write('tokens/klikoo', { ...PUBLIC, extra: { nested: [1, 2] } }, null);

      const secret = await secretOf(ns, 'token-rotator-tokens-klikoo');
      expect(secret.type).toBe('Opaque');
      expect(secret.metadata.resourceVersion).toBe(version);
      expect(mounted(secret)).toEqual({
        provider: 'klikoo',
        access_token: 'at-🔑-secret-value',
        token_type: 'Bearer',
        issued_at: '2026-11-21T10:00:00.000Z',
        expires_at: '2026-11-21T10:15:00.000Z',
        generation: '3',
        [RECORD_KEY]: JSON.stringify({ ...PUBLIC, extra: { nested: [1, 2] } }),
      });
      expect(await store.read('tokens/klikoo')).toEqual({ value: { ...PUBLIC, extra: { nested: [1, 2] } }, version });
    });

    it('labels every Secret managed-by token-rotator and annotates it with the record path and the write labels', async () => {
      const ns = await namespace();
      const store = await adminStore(ns);

      const first = await store.write('tokens/klikoo', PUBLIC, null, {
        labels: { provider: 'klikoo', expires_at: PUBLIC.expires_at },
      });
      await store.write('tokens/klikoo', { ...PUBLIC, generation: 4 }, first, {
        labels: { provider: 'klikoo', expires_at: '2026-11-21T10:30:00.000Z' },
      });

      const { metadata } = await secretOf(ns, 'token-rotator-tokens-klikoo');
      expect(metadata.labels).toEqual({ [MANAGED_BY_LABEL]: 'token-rotator' });
      expect(metadata.annotations).toEqual({
        [RECORD_PATH_ANNOTATION]: 'tokens/klikoo',
        'token-rotator/provider': 'klikoo',
        'token-rotator/expires_at': '2026-11-21T10:30:00.000Z',
      });
      const selected = await kube.ok(
        'GET',
        `/api/v1/namespaces/${ns}/secrets?labelSelector=${encodeURIComponent(`${MANAGED_BY_LABEL}=token-rotator`)}`,
      );
      expect(selected.items).toHaveLength(1);
    });

    it("reads an operator's Secret without record.json as its keys, and refuses a Secret of another record path", async () => {
      const ns = await namespace();
      const store = await adminStore(ns);
      await kube.apply(
        [
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'token-rotator-credentials-klikoo' },
            stringData: { client_id: 'id-1', client_secret: 'cs-secret-value' },
          },
          {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: { name: 'token-rotator-tokens-a-b', annotations: { [RECORD_PATH_ANNOTATION]: 'tokens-a/b' } },
            stringData: { [RECORD_KEY]: '{"access_token":"someone-elses-secret"}' },
          },
        ],
        ns,
      );

      expect((await store.read('credentials/klikoo'))?.value).toEqual({
        client_id: 'id-1',
        client_secret: 'cs-secret-value',
      });
      const error = await store.read('tokens/a-b').catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID, retryable: false });
      expect((error as Error).message).toContain('holds record tokens-a/b, not tokens/a-b');
      expect(everythingIn(error)).not.toContain('someone-elses-secret');
    });
  });

  describe('authentication', () => {
    it('works with a kubeconfig whose user is a client certificate, and takes the namespace from its context', async () => {
      const ns = await namespace();
      const { certFile, keyFile } = kube.clientCertificate('cert-rotator', ['rotators']);
      await kube.apply(
        [
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: 'secrets' },
            rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] }],
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: 'secrets' },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' },
            subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'rotators' }],
          },
        ],
        ns,
      );
      const store = createKubernetesStore({
        kind: 'kubernetes',
        prefix: 'token-rotator-',
        kubeconfig: await kube.kubeconfig({ certFile, keyFile }, { namespace: ns }),
        request_timeout_seconds: 10,
      });
      stores.push(store);

      const version = await store.write('tokens/klikoo', PUBLIC, null);

      expect(store.namespace).toBe(ns);
      expect(await store.read('tokens/klikoo')).toEqual({ value: PUBLIC, version });
      expect((await secretOf(ns, 'token-rotator-tokens-klikoo')).metadata.managedFields[0].manager).toBe(
        'token-rotator',
      );
    });

    it('works with a kubeconfig whose user is a bearer token, inline or in a tokenFile, with the CA given inline', async () => {
      const ns = await namespace();
      const config = await kube.kubeconfig({ token: kube.tokens.admin });
      const ca = (await readFile(kube.caFile)).toString('base64');
      const inlineCa = (await readFile(config, 'utf8')).replace(
        `certificate-authority: ${kube.caFile}`,
        `certificate-authority-data: ${ca}`,
      );
      expect(inlineCa).toContain('certificate-authority-data');
      await writeFile(config, inlineCa);
      const tokenFile = join(kube.directory, `admin-token-${randomUUID()}`);
      await writeFile(tokenFile, `${kube.tokens.admin}\n`);

      for (const connection of [
        kubeconfigConnection({ files: [config] }),
        kubeconfigConnection({ files: [await kube.kubeconfig({ tokenFile })] }),
      ]) {
        const store = new KubernetesStore({
          connection,
          namespace: ns,
          prefix: `p${stores.length}-`,
          timeoutMs: 10_000,
        });
        stores.push(store);
        const version = await store.write('state/klikoo', { generation: 1 }, null);
        expect(await store.read('state/klikoo')).toEqual({ value: { generation: 1 }, version });
      }
    });

    it('works in-cluster with the service-account token file and CA, re-reading the token file at each call', async () => {
      const ns = await namespace();
      await kube.apply(
        [
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'Role',
            metadata: { name: 'secrets' },
            rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'create', 'update'] }],
          },
          {
            apiVersion: 'rbac.authorization.k8s.io/v1',
            kind: 'RoleBinding',
            metadata: { name: 'secrets' },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'secrets' },
            subjects: [{ kind: 'ServiceAccount', name: 'rotator', namespace: ns }],
          },
        ],
        ns,
      );
      const tokenFile = join(kube.directory, `sa-token-${randomUUID()}`);
      const namespaceFile = join(kube.directory, `sa-namespace-${randomUUID()}`);
      await writeFile(tokenFile, await kube.serviceAccountToken(ns, 'rotator'));
      await writeFile(namespaceFile, ns);
      const connection = inClusterConnection({
        env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(kube.port) },
        tokenFile,
        caFile: kube.caFile,
        namespaceFile,
      });
      expect(connection).toMatchObject({ server: kube.server, namespace: ns, source: 'in-cluster' });
      const store = new KubernetesStore({
        connection,
        namespace: connection.namespace!,
        prefix: 'ic-',
        timeoutMs: 10_000,
      });
      stores.push(store);
      const version = await store.write('state/klikoo', { generation: 1 }, null);

      // The kubelet rotates the token: the next call must use what is in the file now.
      await writeFile(tokenFile, 'not-a-valid-token');
      const refused = await store.read('state/klikoo').catch((caught: unknown) => caught);
      await writeFile(tokenFile, await kube.serviceAccountToken(ns, 'rotator'));
      const after = await store.read('state/klikoo');

      expect(refused).toBeInstanceOf(StoreError);
      expect(refused).toMatchObject({ retryable: false, message: expect.stringContaining('HTTP 401') });
      expect(everythingIn(refused)).not.toContain('not-a-valid-token');
      expect(after).toEqual({ value: { generation: 1 }, version });
    });

    it('refuses kubeconfigs it cannot honour by name: exec plugins, skipped TLS verification, no context', async () => {
      const config = await kube.kubeconfig({ token: kube.tokens.admin });
      const text = await readFile(config, 'utf8');
      const variants = {
        exec: text.replace(/token: .*/, 'exec: { apiVersion: client.authentication.k8s.io/v1, command: aws }'),
        insecure: text.replace(/certificate-authority: .*/, 'insecure-skip-tls-verify: true'),
        http: text.replace(kube.server, `http://127.0.0.1:${kube.port}`),
        context: text.replace('current-context: test', 'current-context: elsewhere'),
      };
      const messages: Record<string, string> = {};
      for (const [name, variant] of Object.entries(variants)) {
        const file = join(kube.directory, `bad-${name}-${randomUUID()}.yaml`);
        await writeFile(file, variant);
        const error = (() => {
          try {
            kubeconfigConnection({ files: [file] });
            return undefined;
          } catch (caught) {
            return caught;
          }
        })();
        expect(error, name).toBeInstanceOf(ConfigError);
        expect(everythingIn(error)).not.toContain(kube.tokens.admin);
        messages[name] = (error as Error).message;
      }

      expect(messages['exec']).toContain('exec is not supported');
      expect(messages['insecure']).toContain('insecure-skip-tls-verify is refused');
      expect(messages['http']).toContain('server must be an https:// URL');
      expect(messages['context']).toContain('has no context "elsewhere"');
    });
  });

  describe('RBAC from deploy/kubernetes/rbac', () => {
    it("lets a consumer with the consumer Role get its provider's public Secret, and refuses it the state Secret and others", async () => {
      const ns = await namespace();
      const writer = await adminStore(ns);
      await writer.write('tokens/klikoo', PUBLIC, null);
      await writer.write('state/klikoo', { refresh_token: 'rt-secret-value' }, null);
      await writer.write('tokens/other', { ...PUBLIC, provider: 'other' }, null);
      const consumer = await rbacManifests('consumer-role.yaml');
      const binding = consumer.find((object) => object['kind'] === 'RoleBinding')!;
      binding['subjects'] = [{ kind: 'ServiceAccount', name: 'klikoo-consumer', namespace: ns }];
      await kube.apply(consumer, ns);
      const token = await kube.serviceAccountToken(ns, 'klikoo-consumer');
      const store = createKubernetesStore({
        kind: 'kubernetes',
        namespace: ns,
        prefix: 'token-rotator-',
        kubeconfig: await kube.kubeconfig({ token }),
        request_timeout_seconds: 10,
      });
      stores.push(store);

      const read = await store.read('tokens/klikoo');
      const state = await store.read('state/klikoo').catch((caught: unknown) => caught);
      const other = await store.read('tokens/other').catch((caught: unknown) => caught);
      const list = await kube.api('GET', `/api/v1/namespaces/${ns}/secrets`, undefined, token);

      expect(read?.value).toEqual(PUBLIC);
      for (const refused of [state, other]) {
        expect(refused).toBeInstanceOf(StoreError);
        expect(refused).toMatchObject({ retryable: false, message: expect.stringContaining('HTTP 403 Forbidden') });
        expect(everythingIn(refused)).not.toContain(token);
        expect(everythingIn(refused)).not.toContain('rt-secret-value');
      }
      expect(list.status).toBe(403);
    });

    it("lets the rotator's Role create and update its Secrets, and refuses it every other Secret of its namespace", async () => {
      const ns = await namespace();
      await kube.apply(await rbacManifests('rotator-role.yaml'), ns);
      await kube.apply(
        [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated' }, stringData: { password: 'pw-secret' } }],
        ns,
      );
      const token = await kube.serviceAccountToken(ns, 'token-rotator');
      const store = createKubernetesStore({
        kind: 'kubernetes',
        namespace: ns,
        prefix: 'token-rotator-',
        kubeconfig: await kube.kubeconfig({ token }),
        request_timeout_seconds: 10,
      });
      stores.push(store);

      for (const path of ['tokens/klikoo', 'state/klikoo', 'runner/heartbeat']) {
        expect(await store.read(path), path).toBeUndefined();
        const first = await store.write(path, { generation: 1 }, null);
        const second = await store.write(path, { generation: 2 }, first);
        expect(await store.read(path), path).toEqual({ value: { generation: 2 }, version: second });
      }
      const foreign = await kube.api('GET', `/api/v1/namespaces/${ns}/secrets/unrelated`, undefined, token);
      const unnamed = await store.write('tokens/other', PUBLIC, null);
      const unnamedRead = await store.read('tokens/other').catch((caught: unknown) => caught);
      const overwrite = await kube.api(
        'POST',
        `/api/v1/namespaces/${ns}/secrets`,
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated' }, stringData: { password: 'x' } },
        token,
      );

      expect(foreign.status).toBe(403);
      // create cannot be limited by name; a name the Role does not list is then unusable…
      expect(typeof unnamed).toBe('string');
      expect(unnamedRead).toMatchObject({ name: 'StoreError', retryable: false });
      // …and an existing Secret cannot be replaced by a create.
      expect(overwrite.status).toBe(409);
      expect(mounted(await secretOf(ns, 'unrelated'))).toEqual({ password: 'pw-secret' });
    });
  });

  describe('failures', () => {
    it('classifies refused credentials (401) as not retryable, without quoting the token', async () => {
      const ns = await namespace();
      const store = createKubernetesStore({
        kind: 'kubernetes',
        namespace: ns,
        prefix: 'token-rotator-',
        kubeconfig: await kube.kubeconfig({ token: 'wrong-token-value' }),
        request_timeout_seconds: 10,
      });
      stores.push(store);

      const error = await store.write('tokens/klikoo', PUBLIC, null).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({
        code: ErrorCodes.STORE_UNAVAILABLE,
        retryable: false,
        message: expect.stringContaining('HTTP 401'),
      });
      expect((error as Error).message).toContain('refused the credentials');
      expect(everythingIn(error)).not.toContain('wrong-token-value');
      expect(everythingIn(error)).not.toContain(PUBLIC.access_token);
    });

    it('classifies an API server that is not running as retryable, naming the system error', async () => {
      const closed = await freePort();
      const store = createKubernetesStore({
        kind: 'kubernetes',
        namespace: 'default',
        prefix: 'token-rotator-',
        kubeconfig: await kube.kubeconfig({ token: kube.tokens.admin }, { server: `https://127.0.0.1:${closed}` }),
        request_timeout_seconds: 5,
      });
      stores.push(store);

      const read = await store.read('tokens/klikoo').catch((caught: unknown) => caught);
      const write = await store.write('tokens/klikoo', PUBLIC, null).catch((caught: unknown) => caught);

      for (const error of [read, write]) {
        expect(error).toBeInstanceOf(StoreError);
        expect(error).toMatchObject({ code: ErrorCodes.STORE_UNAVAILABLE, retryable: true });
        expect((error as Error).message).toContain('ECONNREFUSED');
        expect(everythingIn(error)).not.toContain(kube.tokens.admin);
        expect(everythingIn(error)).not.toContain(PUBLIC.access_token);
      }
    });

    it('says a missing namespace is missing, not retryable, on the first write', async () => {
      const store = await adminStore('no-such-namespace');

      expect(await store.read('tokens/klikoo')).toBeUndefined();
      const error = await store.write('tokens/klikoo', PUBLIC, null).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringContaining('namespace no-such-namespace does not exist'),
      });
    });

    it('turns a replace of a Secret deleted since it was read into a ConflictError', async () => {
      const ns = await namespace();
      const store = await adminStore(ns);
      const version = await store.write('state/klikoo', { generation: 1 }, null);
      await kube.ok('DELETE', `/api/v1/namespaces/${ns}/secrets/token-rotator-state-klikoo`);

      const error = await store.write('state/klikoo', { generation: 2 }, version).catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConflictError);
      expect(await store.read('state/klikoo')).toBeUndefined();
    });
  });
});
