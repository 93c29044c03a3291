/**
 * Listing records in tests. `list` is not part of the store contract (the engine and the
 * reader never list); the file, Vault and AWS stores offer it as {@link RecordLister}.
 */
import type { RecordLister, SecretStore } from '../../src/stores/contract.js';

/** True when `store` can list its records. */
export function canList(store: SecretStore): store is SecretStore & RecordLister {
  return typeof (store as Partial<RecordLister>).list === 'function';
}

/**
 * The record paths under `prefix` (`''` for all), sorted.
 * @throws {TypeError} when the store's backend offers no listing: the test chose the wrong store.
 */
export async function listRecords(store: SecretStore, prefix: string): Promise<string[]> {
  if (!canList(store)) throw new TypeError(`the ${store.kind} store cannot list its records`);
  return store.list(prefix);
}
