/**
 * The store registry: one factory per `kind` of the config's store union, checked by the
 * compiler to cover every kind.
 */
import type { StoreConfig, StoreConfigOf, StoreKind } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore } from './contract.js';
import { createFileStore } from './file/index.js';
import { createAwsStore } from './aws/index.js';
import { createVaultStore } from './vault/index.js';

/** What every factory may use besides its config section. */
export interface StoreOptions {
  /** For the store's own events (a Vault token renewed, about to expire); never a secret. */
  readonly logger?: Logger;
}

type StoreFactory<K extends StoreKind> = (config: StoreConfigOf<K>, options: StoreOptions) => SecretStore;

const factories: { readonly [K in StoreKind]: StoreFactory<K> } = {
  file: createFileStore,
  vault: createVaultStore,
  aws: createAwsStore,
};

/** Builds the store a config describes. */
export function createStore(config: StoreConfig, options: StoreOptions = {}): SecretStore {
  return (factories[config.kind] as StoreFactory<StoreKind>)(config, options);
}
