/**
 * The `vault` store kind: HashiCorp Vault or OpenBao, KV version 2.
 */
import { defineStoreKind } from '../definition.js';
import { vaultStoreSchema } from './schema.js';

/** The `vault` kind, as the registry lists it. */
export const vaultStoreKind = defineStoreKind({
  kind: 'vault',
  schema: vaultStoreSchema,
  // Imported on demand: a config that names one kind loads none of the others.
  create: async (config, options) => (await import('./index.js')).createVaultStore(config, options),
});
