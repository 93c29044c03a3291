/**
 * The `file` store kind: the embedded default, for one host.
 */
import { defineStoreKind } from '../definition.js';
import { fileStoreSchema } from './schema.js';

/** The `file` kind, as the registry lists it. */
export const fileStoreKind = defineStoreKind({
  kind: 'file',
  schema: fileStoreSchema,
  // Imported on demand: a config that names one kind loads none of the others.
  create: async (config) => (await import('./index.js')).createFileStore(config),
});
