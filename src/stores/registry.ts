/**
 * The store registry: one factory per `kind` of the config's store union, checked by the
 * compiler to cover every kind.
 */
import type { StoreConfig, StoreConfigOf, StoreKind } from '../config/schema.js';
import type { SecretStore } from './contract.js';
import { createFileStore } from './file/index.js';
import { createAwsStore } from './aws/index.js';
import { createVaultStore } from './vault/index.js';

type StoreFactory<K extends StoreKind> = (config: StoreConfigOf<K>) => SecretStore;

const factories: { readonly [K in StoreKind]: StoreFactory<K> } = {
  file: createFileStore,
  vault: createVaultStore,
  aws: createAwsStore,
};

/** Builds the store a config describes. */
export function createStore(config: StoreConfig): SecretStore {
  return (factories[config.kind] as StoreFactory<StoreKind>)(config);
}
