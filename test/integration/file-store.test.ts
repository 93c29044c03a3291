import { randomUUID } from 'node:crypto';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { createFileStore, FileStore } from '../../src/stores/file/index.js';
import { acquireLock, hostField } from '../../src/stores/file/lock.js';
import { exitedPid, startIdleProcess, stateAfter } from '../helpers/file-store-processes.js';

let root: string;
let directory: string;
let store: FileStore;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'file-store-'));
  directory = join(root, 'store');
  store = new FileStore({ directory });
});

afterEach(async () => {
  await store.close();
  await rm(root, { recursive: true, force: true });
});

/** Writes a lock file for `tokens/klikoo` as another process would. */
async function plantLock(owner: { pid: number; hostname?: string }): Promise<string> {
  const lockPath = join(directory, 'tokens', 'klikoo.json.lock');
  await mkdir(join(directory, 'tokens'), { recursive: true });
  const content = {
    pid: owner.pid,
    hostname: owner.hostname ?? hostname(),
    nonce: randomUUID(),
    acquired_at: new Date().toISOString(),
  };
  await writeFile(lockPath, JSON.stringify(content), { mode: 0o600 });
  return lockPath;
}

/** Every entry under `dir`, recursively, relative to it. */
async function entriesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

describe('FileStore', () => {
  describe('createFileStore', () => {
    it('builds a file store that declares compare-and-set and no write budget', () => {
      const built = createFileStore({ kind: 'file', directory });

      expect(built).toBeInstanceOf(FileStore);
      expect(built.kind).toBe('file');
      expect(built.capabilities).toEqual({ compareAndSet: true });
      expect(built.directory).toBe(directory);
    });
  });

  describe('write', () => {
    it('creates a record when the expected version is null and reads it back at version "1"', async () => {
      const version = await store.write('tokens/klikoo', { access_token: 'a1', expires_in: 3600 }, null);

      expect(version).toBe('1');
      expect(await store.read('tokens/klikoo')).toEqual({
        value: { access_token: 'a1', expires_in: 3600 },
        version: '1',
      });
    });

    it('updates a record when the expected version is current and returns the next version', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      const version = await store.write('tokens/klikoo', { access_token: 'a2' }, '1');

      expect(version).toBe('2');
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: '2' });
    });

    it('rejects a stale version with a ConflictError and keeps the record', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await store.write('tokens/klikoo', { access_token: 'a2' }, '1');

      const attempt = store.write('tokens/klikoo', { access_token: 'a3' }, '1');

      await expect(attempt).rejects.toBeInstanceOf(ConflictError);
      await expect(attempt).rejects.toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'tokens/klikoo' });
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: '2' });
    });

    it('rejects creation with a null version when the record exists with a ConflictError', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      await expect(store.write('tokens/klikoo', { access_token: 'other' }, null)).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1' }, version: '1' });
    });

    it('rejects an update of a record that does not exist with a ConflictError', async () => {
      await expect(store.write('tokens/klikoo', { access_token: 'a1' }, '1')).rejects.toBeInstanceOf(ConflictError);
      expect(await store.read('tokens/klikoo')).toBeUndefined();
    });

    it('keeps the record in <directory>/<path>.json in the Vault KV v2 layout', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await store.write('tokens/klikoo', { access_token: 'a2' }, '1');

      const content: unknown = JSON.parse(await readFile(join(directory, 'tokens', 'klikoo.json'), 'utf8'));

      expect(content).toEqual({
        data: { access_token: 'a2' },
        metadata: { version: 2, updated_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) },
      });
    });

    it('creates record files with mode 0600 and directories with mode 0700', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      expect((await stat(directory)).mode & 0o777).toBe(0o700);
      expect((await stat(join(directory, 'tokens'))).mode & 0o777).toBe(0o700);
      expect((await stat(join(directory, 'tokens', 'klikoo.json'))).mode & 0o777).toBe(0o600);
    });

    it('leaves no temporary or lock file behind', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await store.write('tokens/klikoo', { access_token: 'a2' }, '1');
      await expect(store.write('tokens/klikoo', { access_token: 'a3' }, '1')).rejects.toBeInstanceOf(ConflictError);

      expect(await entriesUnder(directory)).toEqual(['tokens', join('tokens', 'klikoo.json')]);
    });

    it('creates the store directory only on the first write', async () => {
      await store.read('tokens/klikoo');
      await store.list('tokens');
      await expect(stat(directory)).rejects.toMatchObject({ code: 'ENOENT' });

      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      expect((await stat(directory)).isDirectory()).toBe(true);
    });

    it("makes the record's directory again when it was removed after an earlier write", async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await rm(join(directory, 'tokens'), { recursive: true });

      expect(await store.write('tokens/klikoo', { access_token: 'a2' }, null)).toBe('1');

      expect((await stat(join(directory, 'tokens'))).mode & 0o777).toBe(0o700);
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: '1' });
    });

    it('rejects a value that is not a JSON object with a TypeError before touching the disk', async () => {
      await expect(store.write('tokens/klikoo', { big: 1n }, null)).rejects.toBeInstanceOf(TypeError);
      await expect(store.write('tokens/klikoo', [] as unknown as Record<string, unknown>, null)).rejects.toBeInstanceOf(
        TypeError,
      );
      await expect(stat(directory)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('never lets a concurrent reader see a partly written record', async () => {
      const large = (generation: number): Record<string, unknown> => ({ generation, padding: 'x'.repeat(512 * 1024) });
      await store.write('tokens/klikoo', large(0), null);
      let writing = true;
      const reader = (async () => {
        const seen: number[] = [];
        while (writing) {
          const record = await new FileStore({ directory }).read('tokens/klikoo');
          seen.push(Number(record?.value['generation']));
        }
        return seen;
      })();

      for (let generation = 1; generation <= 20; generation += 1) {
        await store.write('tokens/klikoo', large(generation), String(generation));
      }
      writing = false;

      const seen = await reader;
      expect(seen.length).toBeGreaterThan(0);
      expect(seen.every((generation) => Number.isInteger(generation))).toBe(true);
    });

    it('lets exactly one of ten store instances create the same record at once', async () => {
      const stores = Array.from({ length: 10 }, () => new FileStore({ directory }));

      const results = await Promise.allSettled(
        stores.map((each, index) => each.write('tokens/klikoo', { index }, null)),
      );

      const created = results.filter((result) => result.status === 'fulfilled');
      const conflicts = results.filter(
        (result) => result.status === 'rejected' && result.reason instanceof ConflictError,
      );
      expect(created).toHaveLength(1);
      expect(conflicts).toHaveLength(9);
    });

    it('loses no update when eight store instances, then eight writers of one instance, increment one counter concurrently', async () => {
      await store.write('counter', { count: 0 }, null);
      const increment = async (instance: FileStore, times: number): Promise<number> => {
        let writes = 0;
        while (writes < times) {
          const current = await instance.read('counter');
          if (current === undefined) throw new Error('counter disappeared');
          try {
            await instance.write('counter', { count: Number(current.value['count']) + 1 }, current.version);
            writes += 1;
          } catch (error) {
            if (!(error instanceof ConflictError)) throw error;
          }
        }
        return writes;
      };

      const writes = await Promise.all(Array.from({ length: 8 }, () => increment(new FileStore({ directory }), 15)));

      expect(writes.reduce((sum, each) => sum + each, 0)).toBe(120);
      expect(await store.read('counter')).toEqual({ value: { count: 120 }, version: '121' });
      // Eight writers sharing one instance: a write beside another takes the thread-pool path.
      const shared = await Promise.all(Array.from({ length: 8 }, () => increment(store, 15)));

      expect(shared.reduce((sum, each) => sum + each, 0)).toBe(120);
      expect(await store.read('counter')).toEqual({ value: { count: 240 }, version: '241' });
      expect((await readdir(directory)).filter((name) => name.startsWith('.') || name.endsWith('.lock'))).toEqual([]);
    });

    it('lets exactly one of ten concurrent writes of one store instance create the same record', async () => {
      const results = await Promise.allSettled(
        Array.from({ length: 10 }, (_, index) => store.write('tokens/keliweb', { index }, null)),
      );

      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      expect(
        results.filter((result) => result.status === 'rejected' && result.reason instanceof ConflictError),
      ).toHaveLength(9);
    });
  });

  describe('read', () => {
    it('returns undefined for a record that does not exist', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);

      expect(await store.read('tokens/absent')).toBeUndefined();
      expect(await store.read('other/absent')).toBeUndefined();
    });

    it.each([
      ['not JSON', 'access_token=secret-token-value'],
      ['JSON without the record layout', '{"access_token":"secret-token-value"}'],
      [
        'a record whose data is not an object',
        '{"data":"secret-token-value","metadata":{"version":1,"updated_time":"x"}}',
      ],
      [
        'a record without an integer version',
        '{"data":{"a":"secret-token-value"},"metadata":{"version":"1","updated_time":"x"}}',
      ],
    ])('rejects a file that is %s with STORE_RECORD_INVALID naming only the path', async (_, content) => {
      await mkdir(join(directory, 'tokens'), { recursive: true });
      await writeFile(join(directory, 'tokens', 'klikoo.json'), content);

      const error: unknown = await store.read('tokens/klikoo').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        code: ErrorCodes.STORE_RECORD_INVALID,
        message: expect.stringContaining('tokens/klikoo'),
      });
      expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain('secret-token-value');
      expect(String((error as Error).cause)).not.toContain('secret-token-value');
    });

    it('lets a timer run while a caller reads in a loop, as an asynchronous read would', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      let fired = false;
      setTimeout(() => (fired = true), 0);

      // Reads answer from the page cache synchronously; without a turn of the event loop
      // now and then, the timer would never fire and the loop would run to its cap.
      let reads = 0;
      while (!fired && reads < 1_000_000) {
        await store.read('tokens/klikoo');
        reads++;
      }

      expect(fired).toBe(true);
      expect(reads).toBeGreaterThan(0);
    });

    it('refuses to overwrite an invalid record file', async () => {
      await mkdir(join(directory, 'tokens'), { recursive: true });
      await writeFile(join(directory, 'tokens', 'klikoo.json'), 'garbage');

      await expect(store.write('tokens/klikoo', { access_token: 'a1' }, null)).rejects.toMatchObject({
        code: ErrorCodes.STORE_RECORD_INVALID,
      });
      expect(await readFile(join(directory, 'tokens', 'klikoo.json'), 'utf8')).toBe('garbage');
    });
  });

  describe('errors repeating cannot fix', () => {
    it('reports a record path blocked by a file where a directory should be as a non-retryable StoreError naming the code', async () => {
      await mkdir(directory, { recursive: true });
      await writeFile(join(directory, 'tokens'), 'not a directory');

      const error: unknown = await store
        .write('tokens/klikoo', { access_token: 'a1' }, null)
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringMatching(new RegExp(`tokens/klikoo in ${directory}: (EEXIST|ENOTDIR)$`)),
      });
    });

    it('refuses a record over 1 MiB before touching the disk, as a non-retryable StoreError', async () => {
      const error: unknown = await store
        .write('tokens/klikoo', { padding: 'x'.repeat(1024 * 1024) }, null)
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).toMatchObject({
        retryable: false,
        message: expect.stringContaining("over the file store's limit of 1048576"),
      });
      await expect(stat(directory)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('reports a failure that may pass, such as a lock held too long, as retryable', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await plantLock({ pid: process.pid });
      const impatient = new FileStore({ directory, lockTimeoutMs: 200 });

      await expect(impatient.write('tokens/klikoo', { access_token: 'a2' }, '1')).rejects.toMatchObject({
        name: 'StoreError',
        retryable: true,
      });
    });
  });

  describe('record paths', () => {
    it.each(['../x', '/abs', 'a//b', '', 'a/../b', 'tokens/', '.hidden'])(
      'rejects %j with a non-retryable StoreError before touching the disk',
      async (path) => {
        const invalid = { name: 'StoreError', retryable: false, message: `invalid record path "${path}"` };
        await expect(store.read(path)).rejects.toMatchObject(invalid);
        await expect(store.write(path, { access_token: 'a1' }, null)).rejects.toMatchObject(invalid);
        await expect(stat(directory)).rejects.toMatchObject({ code: 'ENOENT' });
        await expect(stat(join(root, 'x.json'))).rejects.toMatchObject({ code: 'ENOENT' });
      },
    );

    it.each(['../x', '/abs', 'a//b'])('rejects the list prefix %j with a non-retryable StoreError', async (prefix) => {
      await expect(store.list(prefix)).rejects.toMatchObject({ name: 'StoreError', retryable: false });
    });
  });

  describe('list', () => {
    it('lists the record paths under a prefix recursively and sorted, without temporary, lock or foreign files', async () => {
      for (const path of ['tokens/zeta', 'tokens/alpha', 'tokens/nested/beta', 'state/klikoo', 'tokens-other']) {
        await store.write(path, { access_token: 'x' }, null);
      }
      await writeFile(join(directory, 'tokens', '.alpha.json.0123.tmp'), '{}');
      await writeFile(join(directory, 'tokens', 'alpha.json.lock'), '{}');
      await writeFile(join(directory, 'tokens', 'notes.txt'), 'not a record');
      await writeFile(join(directory, 'tokens', '.hidden.json'), '{}');
      await writeFile(join(directory, 'tokens', 'not a path.json'), '{}');

      expect(await store.list('tokens')).toEqual(['tokens/alpha', 'tokens/nested/beta', 'tokens/zeta']);
      expect(await store.list('tokens/')).toEqual(['tokens/alpha', 'tokens/nested/beta', 'tokens/zeta']);
      expect(await store.list('tokens/nested')).toEqual(['tokens/nested/beta']);
      expect(await store.list('')).toEqual([
        'state/klikoo',
        'tokens-other',
        'tokens/alpha',
        'tokens/nested/beta',
        'tokens/zeta',
      ]);
    });

    it('returns an empty list when nothing exists under the prefix', async () => {
      expect(await store.list('tokens')).toEqual([]);
      await store.write('tokens/klikoo', { access_token: 'x' }, null);
      expect(await store.list('state')).toEqual([]);
      expect(await store.list('tokens/klikoo')).toEqual([]);
    });
  });

  describe('close', () => {
    it('can be closed between writes and stays usable', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await store.write('state/klikoo', { generation: 1 }, null);

      await store.close();

      expect(await store.write('tokens/klikoo', { access_token: 'a2' }, '1')).toBe('2');
      await store.close();
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a2' }, version: '2' });
    });

    it('succeeds when a directory written in was removed since', async () => {
      await store.write('tokens/nested/klikoo', { access_token: 'a1' }, null);
      await rm(join(directory, 'tokens'), { recursive: true });

      await expect(store.close()).resolves.toBeUndefined();
    });
  });

  describe('locking', () => {
    it('names a host by its hostname when short and plain, else by a hash that keeps a lock under 60 bytes', () => {
      expect(hostField('vm-1.example')).toBe('vm-1.example');
      const long = hostField(`token-rotator-${'x'.repeat(60)}.cluster.local`);
      expect(long).toMatch(/^#[A-Za-z0-9_-]{8}$/);
      expect(hostField(`token-rotator-${'y'.repeat(60)}.cluster.local`)).not.toBe(long);
      // A nonce is 12 characters and a counter of up to 7 (base 36, two billion locks).
      expect(`${2 ** 22} ${'h'.repeat(24)} ${'n'.repeat(19)}`.length).toBeLessThan(60);
    });

    it("gives each acquisition its own nonce, all sharing this process's random part", async () => {
      await mkdir(join(directory, 'tokens'), { recursive: true });
      const lockPath = join(directory, 'tokens', 'klikoo.json.lock');
      const nonces: string[] = [];
      for (let i = 0; i < 50; i++) {
        const lock = await acquireLock(lockPath, { record: 'tokens/klikoo' });
        nonces.push(lock.owner.nonce);
        await lock.release();
      }

      expect(new Set(nonces).size).toBe(50);
      const prefix = nonces[0]!.slice(0, 12);
      expect(prefix).toMatch(/^[A-Za-z0-9_-]{12}$/);
      for (const nonce of nonces) expect(nonce).toMatch(new RegExp(`^${prefix}[0-9a-z]{1,7}$`));
    });

    it('takes the lock as one symbolic link naming this process, and removes it on release', async () => {
      await mkdir(join(directory, 'tokens'), { recursive: true });
      const lockPath = join(directory, 'tokens', 'klikoo.json.lock');

      const lock = await acquireLock(lockPath, { record: 'tokens/klikoo' });

      const target = await readlink(lockPath);
      expect((await lstat(lockPath)).isSymbolicLink()).toBe(true);
      expect(target).toBe(`${process.pid} ${hostField(hostname())} ${lock.owner.nonce}`);
      // Under 60 bytes, ext4 keeps the target in the inode instead of allocating a block.
      expect(Buffer.byteLength(target)).toBeLessThan(60);
      expect(await lock.isHeld()).toBe(true);
      await lock.release();
      await expect(lstat(lockPath)).rejects.toMatchObject({ code: 'ENOENT' });
    });

    it('breaks a symbolic-link lock left by a dead process on this host and writes within a second', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const target = `${await exitedPid()} ${hostField(hostname())} dead-holder`;
      await symlink(target, join(directory, 'tokens', 'klikoo.json.lock'));

      const started = Date.now();
      const version = await store.write('tokens/klikoo', { access_token: 'a2' }, '1');

      expect(version).toBe('2');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await entriesUnder(directory)).toEqual(['tokens', join('tokens', 'klikoo.json')]);
    });

    it('waits for a symbolic-link lock of a live process, not conflict, until it is released', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const holder = await startIdleProcess();
      try {
        const lockPath = join(directory, 'tokens', 'klikoo.json.lock');
        await symlink(`${holder.pid} ${hostField(hostname())} live-holder`, lockPath);

        const write = store.write('tokens/klikoo', { access_token: 'a2' }, '1');

        expect(await stateAfter(write, 400)).toBe('pending');
        await rm(lockPath); // the holder releases
        expect(await write).toBe('2');
      } finally {
        holder.kill('SIGKILL');
      }
    });

    it('breaks a lock left by a dead process on this host and writes within a second', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await plantLock({ pid: await exitedPid() });

      const started = Date.now();
      const version = await store.write('tokens/klikoo', { access_token: 'a2' }, '1');

      expect(version).toBe('2');
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await entriesUnder(directory)).toEqual(['tokens', join('tokens', 'klikoo.json')]);
    });

    it('breaks a lock older than 30 s even if its pid is alive', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const lockPath = await plantLock({ pid: process.pid });
      const minuteAgo = new Date(Date.now() - 60_000);
      await utimes(lockPath, minuteAgo, minuteAgo);

      expect(await store.write('tokens/klikoo', { access_token: 'a2' }, '1')).toBe('2');
    });

    it('makes a write wait for a lock held by another live process, not conflict', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      const holder = await startIdleProcess();
      try {
        const lockPath = await plantLock({ pid: holder.pid });

        const write = store.write('tokens/klikoo', { access_token: 'a2' }, '1');

        expect(await stateAfter(write, 400)).toBe('pending');
        await rm(lockPath); // the holder releases
        expect(await write).toBe('2');
      } finally {
        holder.kill('SIGKILL');
      }
    });

    it('gives up with a StoreError, not a ConflictError, when a live holder keeps the lock past the timeout', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await plantLock({ pid: process.pid });
      const impatient = new FileStore({ directory, lockTimeoutMs: 300 });

      const error: unknown = await impatient
        .write('tokens/klikoo', { access_token: 'a2' }, '1')
        .catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(StoreError);
      expect(error).not.toBeInstanceOf(ConflictError);
      expect(error).toMatchObject({
        code: ErrorCodes.STORE_UNAVAILABLE,
        message: expect.stringContaining(`pid ${process.pid}`),
      });
      expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1' }, version: '1' });
    });

    it('does not judge a lock of another host by its pid', async () => {
      await store.write('tokens/klikoo', { access_token: 'a1' }, null);
      await plantLock({ pid: await exitedPid(), hostname: `not-${hostname()}` });
      const impatient = new FileStore({ directory, lockTimeoutMs: 300 });

      await expect(impatient.write('tokens/klikoo', { access_token: 'a2' }, '1')).rejects.toMatchObject({
        code: ErrorCodes.STORE_UNAVAILABLE,
      });
    });
  });
});
