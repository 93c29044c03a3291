/**
 * `KubernetesStore.remove` (the `RecordRemover` of `token-rotator revoke`) against a real
 * kube-apiserver and etcd (test/helpers/kube.ts): every kind of record the store keeps
 * (the public record, the state, the heartbeat, a path named by a hash, an operator's
 * Secret) is gone from the API after a remove, a second remove finds nothing, the path
 * can be created again, and the neighbours are untouched; the delete's precondition is
 * honoured by the API server; and the RBAC of deploy/kubernetes/rbac/ is enforced: the
 * rotator's Role alone cannot delete, the revoke component can.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { isRecordRemover } from '../../src/stores/contract.js';
import { KubernetesClient, KubernetesHttpError } from '../../src/stores/kubernetes/client.js';
import { kubeconfigConnection } from '../../src/stores/kubernetes/connection.js';
import {
  createKubernetesStore,
  type KubernetesStore,
  RECORD_KEY,
  RECORD_PATH_ANNOTATION,
  REMOVE_ATTEMPTS,
  secretNameOf,
} from '../../src/stores/kubernetes/index.js';
import { everythingIn } from '../helpers/error-text.js';
import { type Kube, rbacManifests, startKube } from '../helpers/kube.js';

const PREFIX = 'token-rotator-';

let kube: Kube;
const stores: KubernetesStore[] = [];

beforeAll(async () => {
  kube = await startKube();
}, 90_000);

afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await kube?.stop();
}, 30_000);

async function namespace(): Promise<string> {
  const name = `t-${randomUUID().slice(0, 8)}`;
  await kube.createNamespace(name);
  return name;
}

/** A store in `ns` authenticated with `token` (the admin, above RBAC, by default). */
async function storeAs(ns: string, token = kube.tokens.admin): Promise<KubernetesStore> {
  const store = createKubernetesStore({
    kind: 'kubernetes',
    namespace: ns,
    prefix: PREFIX,
    kubeconfig: await kube.kubeconfig({ token }),
    request_timeout_seconds: 10,
  });
  stores.push(store);
  return store;
}

/** The names of the Secrets of `ns`, sorted, as the API lists them (admin). */
async function secretNames(ns: string): Promise<string[]> {
  const list = await kube.ok('GET', `/api/v1/namespaces/${ns}/secrets`);
  return (list.items as { metadata: { name: string } }[]).map((item) => item.metadata.name).sort();
}

const PUBLIC = {
  provider: 'klikoo',
  access_token: 'at-remove-secret-value',
  token_type: 'Bearer',
  issued_at: '2026-11-21T10:00:00.000Z',
  expires_at: '2026-11-21T10:15:00.000Z',
  generation: 3,
};
const STATE = { schema: 1, refresh_token: 'rt-remove-secret-value', generation: 3 };

describe('KubernetesStore.remove against a real API server', () => {
  it('is offered: the store is a RecordRemover', async () => {
    expect(isRecordRemover(await storeAs('default'))).toBe(true);
  });

  it.each([
    ['the public record', 'tokens/klikoo', PUBLIC],
    ['the state', 'state/klikoo', STATE],
    ['the heartbeat', 'runner/heartbeat', { last_pass_at: '2026-11-21T10:00:00.000Z' }],
    ['a path named by a hash', 'tokens/my_api', { ...PUBLIC, provider: 'my_api' }],
  ])(
    'deletes the Secret of %s: a read finds nothing, a second remove returns false, and the path can be created again',
    async (_what, path, value) => {
      const ns = await namespace();
      const store = await storeAs(ns);
      await store.write(path, value, null);
      const name = store.secretName(path);
      expect(await secretNames(ns)).toContain(name);

      const removed = await store.remove(path);

      expect(removed).toBe(true);
      expect(await store.read(path)).toBeUndefined();
      expect(await secretNames(ns)).not.toContain(name);
      expect((await kube.api('GET', `/api/v1/namespaces/${ns}/secrets/${name}`)).status).toBe(404);
      expect(await store.remove(path)).toBe(false);
      const again = await store.write(path, { ...value, generation: 1 }, null);
      expect(await store.read(path)).toEqual({ value: { ...value, generation: 1 }, version: again });
    },
  );

  it("removes one provider's records and leaves every other Secret of the namespace as it was", async () => {
    const ns = await namespace();
    const store = await storeAs(ns);
    await store.write('tokens/klikoo', PUBLIC, null);
    await store.write('state/klikoo', STATE, null);
    const others = {
      'tokens/klikoo-b': { ...PUBLIC, provider: 'klikoo-b' },
      'state/klikoo-b': STATE,
      'tokens/keliweb': { ...PUBLIC, provider: 'keliweb' },
      'runner/heartbeat': { last_pass_at: '2026-11-21T10:00:00.000Z' },
    };
    const versions: Record<string, string> = {};
    for (const [path, value] of Object.entries(others)) versions[path] = await store.write(path, value, null);
    await kube.apply(
      [{ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'unrelated' }, stringData: { password: 'pw-secret' } }],
      ns,
    );

    expect(await store.remove('tokens/klikoo')).toBe(true);
    expect(await store.remove('state/klikoo')).toBe(true);

    expect(await secretNames(ns)).toEqual(
      [...Object.keys(others).map((path) => secretNameOf(PREFIX, path)), 'unrelated'].sort(),
    );
    for (const [path, value] of Object.entries(others)) {
      expect(await store.read(path), path).toEqual({ value, version: versions[path] });
    }
  });

  it("removes an operator's Secret that has no record.json (a ${store:} credential)", async () => {
    const ns = await namespace();
    const store = await storeAs(ns);
    await kube.apply(
      [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'token-rotator-credentials-klikoo' },
          stringData: { client_secret: 'cs-secret-value' },
        },
      ],
      ns,
    );

    expect(await store.remove('credentials/klikoo')).toBe(true);
    expect(await store.read('credentials/klikoo')).toBeUndefined();
  });

  it('refuses to remove a Secret that holds another record path, and leaves it in place', async () => {
    const ns = await namespace();
    const store = await storeAs(ns);
    await kube.apply(
      [
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'token-rotator-tokens-a-b', annotations: { [RECORD_PATH_ANNOTATION]: 'tokens-a/b' } },
          stringData: { [RECORD_KEY]: '{"access_token":"someone-elses-secret"}' },
        },
      ],
      ns,
    );

    const error = await store.remove('tokens/a-b').catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: ErrorCodes.STORE_RECORD_INVALID, retryable: false });
    expect(everythingIn(error)).not.toContain('someone-elses-secret');
    expect(await secretNames(ns)).toEqual(['token-rotator-tokens-a-b']);
  });

  it('returns false in a namespace that does not exist', async () => {
    const store = await storeAs('no-such-namespace');

    expect(await store.remove('tokens/klikoo')).toBe(false);
  });

  describe('a write between the read and the delete', () => {
    /**
     * Makes a real write of `path` land right after each of the store's reads of its
     * Secret, `times` times: the race a remove meets when a runner writes meanwhile.
     */
    function writeAfterEachRead(writer: KubernetesStore, path: string, times: number) {
      const original = KubernetesClient.prototype.getSecret;
      let writes = 0;
      return vi.spyOn(KubernetesClient.prototype, 'getSecret').mockImplementation(async function (
        this: KubernetesClient,
        namespace: string,
        name: string,
      ) {
        const secret = await original.call(this, namespace, name);
        if (secret !== undefined && writes < times) {
          writes++;
          const current = await original.call(this, namespace, name);
          await writer.write(path, { ...STATE, generation: 10 + writes }, current!.metadata.resourceVersion);
        }
        return secret;
      });
    }

    it('reads again and deletes the changed Secret: the precondition failed once, the remove did not', async () => {
      const ns = await namespace();
      const store = await storeAs(ns);
      const writer = await storeAs(ns);
      await store.write('state/klikoo', STATE, null);
      const spy = writeAfterEachRead(writer, 'state/klikoo', 1);
      try {
        expect(await store.remove('state/klikoo')).toBe(true);
      } finally {
        spy.mockRestore();
      }

      expect(await store.read('state/klikoo')).toBeUndefined();
      expect(await secretNames(ns)).toEqual([]);
    });

    it(`gives up with a ConflictError after ${REMOVE_ATTEMPTS} tries when every delete meets a newer write, and deletes nothing`, async () => {
      const ns = await namespace();
      const store = await storeAs(ns);
      const writer = await storeAs(ns);
      await store.write('state/klikoo', STATE, null);
      const spy = writeAfterEachRead(writer, 'state/klikoo', REMOVE_ATTEMPTS);
      let error: unknown;
      try {
        error = await store.remove('state/klikoo').catch((caught: unknown) => caught);
      } finally {
        spy.mockRestore();
      }

      expect(error).toBeInstanceOf(ConflictError);
      expect((await store.read('state/klikoo'))?.value).toEqual({ ...STATE, generation: 10 + REMOVE_ATTEMPTS });
    });
  });

  describe('the delete precondition (KubernetesClient.deleteSecret)', () => {
    it('is refused with 409 when the Secret changed since the resourceVersion it names, and deletes nothing', async () => {
      const ns = await namespace();
      const store = await storeAs(ns);
      const first = await store.write('state/klikoo', STATE, null);
      const second = await store.write('state/klikoo', { ...STATE, generation: 4 }, first);
      const client = new KubernetesClient({
        connection: kubeconfigConnection({ files: [await kube.kubeconfig({ token: kube.tokens.admin })] }),
        timeoutMs: 10_000,
      });
      try {
        const stale = await client
          .deleteSecret(ns, 'token-rotator-state-klikoo', first)
          .catch((caught: unknown) => caught);

        expect(stale).toBeInstanceOf(KubernetesHttpError);
        expect(stale).toMatchObject({ status: 409, reason: 'Conflict' });
        expect(await store.read('state/klikoo')).toEqual({ value: { ...STATE, generation: 4 }, version: second });
        expect(await client.deleteSecret(ns, 'token-rotator-state-klikoo', second)).toBe(true);
        expect(await client.deleteSecret(ns, 'token-rotator-state-klikoo', second)).toBe(false);
      } finally {
        client.close();
      }
    });
  });

  describe('RBAC from deploy/kubernetes/rbac', () => {
    it("refuses the rotator's Role alone any delete (403, not retryable, naming the revoke Role), and keeps the Secret", async () => {
      const ns = await namespace();
      await kube.apply(await rbacManifests('rotator-role.yaml'), ns);
      const token = await kube.serviceAccountToken(ns, 'token-rotator');
      const rotator = await storeAs(ns, token);
      await rotator.write('state/klikoo', STATE, null);

      const error = await rotator.remove('state/klikoo').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({ retryable: false, message: expect.stringContaining('HTTP 403 Forbidden') });
      expect((error as Error).message).toContain('may not delete this Secret');
      expect((error as Error).message).toContain('deploy/kubernetes/rbac/revoke');
      expect(everythingIn(error)).not.toContain(token);
      expect(everythingIn(error)).not.toContain(STATE.refresh_token);
      expect((await rotator.read('state/klikoo'))?.value).toEqual(STATE);
    });

    it('lets the rotator with the revoke component remove the named Secrets, and no other', async () => {
      const ns = await namespace();
      await kube.apply(
        [...(await rbacManifests('rotator-role.yaml')), ...(await rbacManifests('revoke/revoke-role.yaml'))],
        ns,
      );
      const token = await kube.serviceAccountToken(ns, 'token-rotator');
      const rotator = await storeAs(ns, token);
      for (const path of ['tokens/klikoo', 'state/klikoo', 'runner/heartbeat']) {
        await rotator.write(path, { generation: 1 }, null);
      }

      expect(await rotator.remove('tokens/klikoo')).toBe(true);
      expect(await rotator.remove('state/klikoo')).toBe(true);
      const heartbeat = await rotator.remove('runner/heartbeat').catch((caught: unknown) => caught);

      expect(heartbeat).toMatchObject({ name: 'StoreError', retryable: false });
      expect(await secretNames(ns)).toEqual(['token-rotator-runner-heartbeat']);
      // The names are free again for the provider's records.
      expect(typeof (await rotator.write('tokens/klikoo', PUBLIC, null))).toBe('string');
    });
  });
});
