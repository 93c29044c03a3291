/**
 * The Vault store's `remove` (issue 14, `token-rotator revoke`) against a real OpenBao dev
 * server: the record goes with every version (its metadata is deleted, nothing left to
 * undelete), a second removal says there was nothing, a write that read the removed
 * version loses its check-and-set, and a token under the rotator's own policy, which
 * grants no delete, is refused with a StoreError that is not retryable.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, StoreError } from '../../src/errors.js';
import { isRecordRemover } from '../../src/stores/contract.js';
import { tokenAuth } from '../../src/stores/vault/auth-token.js';
import { VaultStore } from '../../src/stores/vault/index.js';
import { type OpenBao, startOpenBao } from '../helpers/openbao.js';

let bao: OpenBao;

beforeAll(async () => {
  bao = await startOpenBao();
  await bao.ok('POST', 'sys/policies/acl/token-rotator', {
    policy: await readFile('deploy/vault/rotator-policy.hcl', 'utf8'),
  });
});
afterAll(async () => {
  await bao?.stop();
});

function storeWith(token: string, prefix: string): VaultStore {
  return new VaultStore({
    address: bao.address,
    mount: 'secret',
    prefix,
    auth: tokenAuth({ token }),
    maxVersions: 10,
    timeoutMs: 10_000,
  });
}

const uniquePrefix = () => `test-${randomBytes(4).toString('hex')}`;

describe('VaultStore', () => {
  describe('remove', () => {
    it('is a RecordRemover', () => {
      expect(isRecordRemover(storeWith(bao.rootToken, uniquePrefix()))).toBe(true);
    });

    it('removes the record with every version, leaving no metadata behind, and the other records alone', async () => {
      const prefix = uniquePrefix();
      const store = storeWith(bao.rootToken, prefix);
      const first = await store.write('tokens/billing', { access_token: 'a' }, null);
      await store.write('tokens/billing', { access_token: 'b' }, first);
      await store.write('state/billing', { schema: 1 }, null);

      await expect(store.remove('tokens/billing')).resolves.toBe(true);

      await expect(store.read('tokens/billing')).resolves.toBeUndefined();
      const metadata = await bao.api('GET', `secret/metadata/${prefix}/tokens/billing`);
      expect(metadata.status).toBe(404);
      const version1 = await bao.api('GET', `secret/data/${prefix}/tokens/billing?version=1`);
      expect(version1.status).toBe(404);
      await expect(store.read('state/billing')).resolves.toMatchObject({ value: { schema: 1 } });
      expect(await store.list('')).toEqual(['state/billing']);
      await store.close();
    });

    it('answers false for a record that does not exist, and for one removed already', async () => {
      const store = storeWith(bao.rootToken, uniquePrefix());
      await expect(store.remove('tokens/none')).resolves.toBe(false);
      await store.write('tokens/billing', { access_token: 'a' }, null);
      await expect(store.remove('tokens/billing')).resolves.toBe(true);
      await expect(store.remove('tokens/billing')).resolves.toBe(false);
      await store.close();
    });

    it('makes a write over the removed version a conflict, and a create start again at version 1 with its metadata', async () => {
      const prefix = uniquePrefix();
      const store = storeWith(bao.rootToken, prefix);
      const version = await store.write('state/billing', { n: 1 }, null);
      await store.write('state/billing', { n: 2 }, version);
      await store.remove('state/billing');

      await expect(store.write('state/billing', { n: 3 }, '2')).rejects.toBeInstanceOf(ConflictError);
      await expect(store.write('state/billing', { n: 3 }, null)).resolves.toBe('1');
      const metadata = await bao.ok('GET', `secret/metadata/${prefix}/state/billing`);
      expect(metadata.data.custom_metadata).toMatchObject({ 'managed-by': 'token-rotator' });
      await store.close();
    });

    it('is refused, not retryable, under the rotator policy, which grants no delete', async () => {
      const prefix = 'token-rotator';
      const created = await bao.ok('POST', 'auth/token/create', { policies: ['token-rotator'], ttl: '10m' });
      const store = storeWith(created.auth.client_token as string, prefix);
      await store.write(`tokens/${uniquePrefix()}`, { access_token: 'a' }, null);
      const [path] = await store.list('tokens');

      const error = await store.remove(path!).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).retryable).toBe(false);
      expect((error as StoreError).message).toMatch(/permission denied/);
      await expect(store.read(path!)).resolves.toBeDefined();
      await store.close();
    });
  });
});
