import { describe, expect, it } from 'vitest';
import { type RecordParser, updateRecord, writeWithRetry } from '../../src/engine/records-io.js';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import { MemoryStore } from '../helpers/memory-store.js';

const PATH = 'runner/thing';
const noWait = { sleep: async () => {} };

/** A store whose writes throw the queued errors first, counting every write call. */
class FailingStore extends MemoryStore {
  calls = 0;
  readonly errors: unknown[] = [];
  override async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    this.calls++;
    const error = this.errors.shift();
    if (error !== undefined) throw error;
    return super.write(path, value, expectedVersion);
  }
}

/** A store where another runner writes `{ n: 99 }` just before each of our next `races` writes. */
class RacedStore extends MemoryStore {
  races = 0;
  override async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    if (this.races > 0) {
      this.races--;
      const current = await this.read(path);
      await super.write(path, { n: 99 }, current?.version ?? null);
    }
    return super.write(path, value, expectedVersion);
  }
}

const parseCounter: RecordParser<{ n: number }> = (value) => (typeof value.n === 'number' ? { n: value.n } : undefined);

describe('writeWithRetry', () => {
  it('throws a store error marked not retryable at once, after exactly one write', async () => {
    const store = new FailingStore();
    const denied = new StoreError('permission denied on runner/thing', { retryable: false });
    store.errors.push(denied);

    await expect(writeWithRetry(store, PATH, { n: 1 }, { expectedVersion: null, retry: noWait })).rejects.toBe(denied);

    expect(store.calls).toBe(1);
    expect(store.records.has(PATH)).toBe(false);
  });

  it('retries a retryable store error and succeeds', async () => {
    const store = new FailingStore();
    store.errors.push(new StoreError('HTTP 503'), new StoreError('HTTP 503'));

    const version = await writeWithRetry(store, PATH, { n: 1 }, { expectedVersion: null, retry: noWait });

    expect(store.calls).toBe(3);
    expect(version).toBe('1');
  });

  it('stops after the configured attempts and throws the last store error, waiting longer each time', async () => {
    const store = new FailingStore();
    const waits: number[] = [];
    store.errors.push(new StoreError('down 1'), new StoreError('down 2'), new StoreError('down 3'));

    const failure = writeWithRetry(
      store,
      PATH,
      { n: 1 },
      { expectedVersion: null, retry: { attempts: 3, delayMs: 100, sleep: async (ms) => void waits.push(ms) } },
    );

    await expect(failure).rejects.toMatchObject({ message: 'down 3', code: ErrorCodes.STORE_UNAVAILABLE });
    expect(store.calls).toBe(3);
    expect(waits).toEqual([100, 200]);
  });

  it('retries an error the store did not classify, and wraps it in a StoreError', async () => {
    const store = new FailingStore();
    store.errors.push(new Error('socket hang up'), new Error('socket hang up'));

    const failure = writeWithRetry(
      store,
      PATH,
      { n: 1 },
      { expectedVersion: null, retry: { attempts: 2, sleep: async () => {} } },
    );

    await expect(failure).rejects.toMatchObject({
      name: 'StoreError',
      message: `writing ${PATH} failed after 2 attempts`,
    });
    expect(store.calls).toBe(2);
  });

  it('throws a conflict on the first attempt without retrying', async () => {
    const store = new FailingStore();
    await store.write(PATH, { n: 1 }, null);
    store.calls = 0;

    await expect(
      writeWithRetry(store, PATH, { n: 2 }, { expectedVersion: null, retry: noWait }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(store.calls).toBe(1);
  });
});

describe('updateRecord', () => {
  it('creates a missing record and returns what it wrote', async () => {
    const store = new MemoryStore();

    const result = await updateRecord(store, PATH, { parse: parseCounter, next: () => ({ n: 1 }), attempts: 3 });

    expect(result).toEqual({ written: true, version: '1', value: { n: 1 } });
    expect(store.records.get(PATH)?.value).toEqual({ n: 1 });
  });

  it('writes nothing when next says no write is needed', async () => {
    const store = new MemoryStore();
    await store.write(PATH, { n: 5 }, null);
    const seen: Array<{ n: number } | undefined> = [];

    const result = await updateRecord(store, PATH, {
      parse: parseCounter,
      next: (current) => {
        seen.push(current);
        return undefined;
      },
      attempts: 3,
    });

    expect(result).toEqual({ written: false });
    expect(seen).toEqual([{ n: 5 }]);
    expect(store.writes).toBe(1);
  });

  it('decides again on the record the winner of a lost compare-and-set left', async () => {
    const store = new RacedStore();
    await store.write(PATH, { n: 1 }, null);
    store.races = 1;
    const seen: Array<{ n: number } | undefined> = [];

    const result = await updateRecord(store, PATH, {
      parse: parseCounter,
      next: (current) => {
        seen.push(current);
        return { n: (current?.n ?? 0) + 1 };
      },
      attempts: 3,
    });

    expect(seen).toEqual([{ n: 1 }, { n: 99 }]);
    expect(result).toMatchObject({ written: true, value: { n: 100 } });
    expect(store.records.get(PATH)?.value).toEqual({ n: 100 });
  });

  it('gives up with a ConflictError when every round loses', async () => {
    const store = new RacedStore();
    store.races = 2;

    const update = updateRecord(store, PATH, { parse: parseCounter, next: () => ({ n: 1 }), attempts: 2 });

    await expect(update).rejects.toBeInstanceOf(ConflictError);
    expect(store.records.get(PATH)?.value).toEqual({ n: 99 });
  });

  it('replaces a record of another layout at the version it read', async () => {
    const store = new MemoryStore();
    await store.write(PATH, { n: 'not a number' }, null);
    const seen: Array<{ n: number } | undefined> = [];

    const result = await updateRecord(store, PATH, {
      parse: parseCounter,
      next: (current) => {
        seen.push(current);
        return { n: 1 };
      },
      attempts: 1,
    });

    expect(seen).toEqual([undefined]);
    expect(result).toMatchObject({ written: true, version: '2' });
  });

  it('passes a store failure marked not retryable straight through, after one write', async () => {
    const store = new FailingStore();
    const tooLarge = new StoreError('record too large', { retryable: false });
    store.errors.push(tooLarge);

    await expect(
      updateRecord(store, PATH, { parse: parseCounter, next: () => ({ n: 1 }), attempts: 3, retry: noWait }),
    ).rejects.toBe(tooLarge);
    expect(store.calls).toBe(1);
  });
});
