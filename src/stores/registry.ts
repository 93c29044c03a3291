/**
 * The store registry: every store kind, listed once. The config's `store` union, the
 * factories and the schedule hooks all come from this list, so a kind cannot be
 * half-registered.
 *
 * Adding a kind: a folder `stores/<kind>/` with `schema.ts` (its section, built with the
 * shared field builders), its {@link SecretStore} implementation, and `kind.ts` (a
 * {@link defineStoreKind}), then one entry in the list below. The store conformance
 * suite (`test/integration/store-conformance.test.ts`) takes one more setup object.
 */
import { kindRegistry } from '../common/registry.js';
import type * as z from '../common/zod.js';
import { awsStoreKind } from './aws/kind.js';
import type { SecretStore } from './contract.js';
import type { StoreKindDefinition, StoreOptions } from './definition.js';
import { fileStoreKind } from './file/kind.js';
import { DEFAULT_FILE_DIRECTORY } from './file/schema.js';
import { kubernetesStoreKind } from './kubernetes/kind.js';
import { vaultStoreKind } from './vault/kind.js';

export type { StoreOptions } from './definition.js';

/** Every store kind: one entry each. */
const registry = kindRegistry<StoreKindDefinition>('store')([
  fileStoreKind,
  vaultStoreKind,
  awsStoreKind,
  kubernetesStoreKind,
]);

/** Every store kind's definition. */
export const STORE_KINDS = registry.definitions;

/** The store used when a config has no `store:` section: the embedded file store. */
export const DEFAULT_STORE = Object.freeze({ kind: 'file', directory: DEFAULT_FILE_DIRECTORY } as const);

/** The schema of the `store:` section, the union of every kind's section, for one parsing pass. */
export const storeSchema = registry.schema;

/** A resolved `store:` section, of any kind. */
export type StoreConfig = z.output<ReturnType<typeof storeSchema>>;

/**
 * Builds the store a config describes, importing its kind's implementation on first use.
 * It reaches its server only at its first call.
 */
export async function createStore(config: StoreConfig, options: StoreOptions = {}): Promise<SecretStore> {
  return registry.definitionOf(config.kind).create(config, options);
}
