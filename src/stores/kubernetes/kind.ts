/**
 * The `kubernetes` store kind: records as Secrets that pods mount.
 */
import { defineStoreKind } from '../definition.js';
import { kubernetesStoreSchema } from './schema.js';

/** The `kubernetes` kind, as the registry lists it. */
export const kubernetesStoreKind = defineStoreKind({
  kind: 'kubernetes',
  schema: kubernetesStoreSchema,
  // Imported on demand: a config that names one kind loads none of the others.
  create: async (config, options) => (await import('./index.js')).createKubernetesStore(config, options),
});
