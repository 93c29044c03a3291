/**
 * The file store's `remove` (issue 14, `token-rotator revoke`), against the real file
 * system: the record's file goes, a second removal says there was nothing, a write that
 * read the removed version loses its compare-and-set, and a removal waits for the
 * record's lock like a write does.
 */
import { mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, StoreError } from '../../src/errors.js';
import { isRecordRemover } from '../../src/stores/contract.js';
import { FileStore } from '../../src/stores/file/index.js';
import { hostField } from '../../src/stores/file/lock.js';

let root: string;
let directory: string;
let store: FileStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'file-store-remove-'));
  directory = join(root, 'store');
  store = new FileStore({ directory, lockTimeoutMs: 300 });
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

describe('FileStore', () => {
  describe('remove', () => {
    it('is a RecordRemover', () => {
      expect(isRecordRemover(store)).toBe(true);
    });

    it('removes the record so it reads as absent, and leaves the other records alone', async () => {
      await store.write('tokens/billing', { access_token: 'a' }, null);
      await store.write('state/billing', { schema: 1 }, null);

      await expect(store.remove('tokens/billing')).resolves.toBe(true);

      await expect(store.read('tokens/billing')).resolves.toBeUndefined();
      await expect(store.read('state/billing')).resolves.toMatchObject({ value: { schema: 1 } });
      expect(await readdir(join(directory, 'tokens'))).toEqual([]);
      expect(await store.list('')).toEqual(['state/billing']);
    });

    it('answers false for a record that does not exist, also when its folder does not', async () => {
      await expect(store.remove('tokens/none')).resolves.toBe(false);
      await store.write('tokens/billing', { access_token: 'a' }, null);
      await expect(store.remove('tokens/billing')).resolves.toBe(true);
      await expect(store.remove('tokens/billing')).resolves.toBe(false);
    });

    it('makes a write over the removed version a conflict, and a create start again at version 1', async () => {
      const version = await store.write('state/billing', { n: 1 }, null);
      await store.write('state/billing', { n: 2 }, version);
      await store.remove('state/billing');

      await expect(store.write('state/billing', { n: 3 }, '2')).rejects.toBeInstanceOf(ConflictError);
      await expect(store.write('state/billing', { n: 3 }, null)).resolves.toBe('1');
    });

    it('waits for the record lock a live writer holds, and gives up with a StoreError', async () => {
      await store.write('tokens/billing', { access_token: 'a' }, null);
      // This very process holds it: alive, so never broken as stale.
      await symlink(
        `${process.pid} ${hostField(hostname())} held-by-test`,
        join(directory, 'tokens', 'billing.json.lock'),
      );

      const error = await store.remove('tokens/billing').catch((e: unknown) => e);

      expect(error).toBeInstanceOf(StoreError);
      expect((error as StoreError).message).toMatch(/lock on record tokens\/billing/);
      await expect(store.read('tokens/billing')).resolves.toBeDefined();
    });

    it('refuses a path outside the store', async () => {
      await expect(store.remove('../etc/passwd')).rejects.toBeInstanceOf(StoreError);
    });
  });
});
