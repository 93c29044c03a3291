import { ConflictError, StoreError } from '../../src/errors.js';
import type { SecretStore, StoredRecord } from '../../src/stores/contract.js';

/**
 * An in-memory store with real compare-and-set, for unit tests of the engine above the
 * store contract. Never the proof that a store adapter works. Writes can be made to fail.
 */
export class MemoryStore implements SecretStore {
  readonly kind = 'memory';
  readonly capabilities = { compareAndSet: true };
  readonly records = new Map<string, { value: Record<string, unknown>; version: number }>();
  /** Paths whose next writes fail with a StoreError (count per path). */
  readonly failWrites = new Map<string, number>();
  /** Paths whose next writes succeed but then throw, as a lost acknowledgement would. */
  readonly loseAcks = new Map<string, number>();
  writes = 0;

  async read(path: string): Promise<StoredRecord | undefined> {
    await Promise.resolve();
    const record = this.records.get(path);
    return record && { value: structuredClone(record.value), version: String(record.version) };
  }

  async write(path: string, value: Record<string, unknown>, expectedVersion: string | null): Promise<string> {
    await Promise.resolve();
    const failures = this.failWrites.get(path) ?? 0;
    if (failures > 0) {
      this.failWrites.set(path, failures - 1);
      throw new StoreError(`injected write failure on ${path}`);
    }
    const current = this.records.get(path);
    const currentVersion = current === undefined ? null : String(current.version);
    if (currentVersion !== expectedVersion) throw new ConflictError(path);
    const version = (current?.version ?? 0) + 1;
    this.records.set(path, { value: structuredClone(value), version });
    this.writes++;
    const lost = this.loseAcks.get(path) ?? 0;
    if (lost > 0) {
      this.loseAcks.set(path, lost - 1);
      throw new StoreError(`injected lost acknowledgement on ${path}`);
    }
    return String(version);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.records.keys()].filter((key) => key.startsWith(prefix)).sort();
  }

  async close(): Promise<void> {}
}
