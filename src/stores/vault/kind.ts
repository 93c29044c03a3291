/**
 * The `vault` store kind: HashiCorp Vault or OpenBao, KV version 2.
 */
import { defineStoreKind } from '../definition.js';
import { createVaultStore } from './index.js';
import { vaultStoreSchema } from './schema.js';

/** The `vault` kind, as the registry lists it. */
export const vaultStoreKind = defineStoreKind({
  kind: 'vault',
  schema: vaultStoreSchema,
  create: (config, options) => createVaultStore(config, options),
});
