/**
 * The `file` store kind: the embedded default, for one host.
 */
import { defineStoreKind } from '../definition.js';
import { createFileStore } from './index.js';
import { fileStoreSchema } from './schema.js';

/** The `file` kind, as the registry lists it. */
export const fileStoreKind = defineStoreKind({
  kind: 'file',
  schema: fileStoreSchema,
  create: (config) => createFileStore(config),
});
