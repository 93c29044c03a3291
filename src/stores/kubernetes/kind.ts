/**
 * The `kubernetes` store kind: records as Secrets that pods mount.
 */
import { defineStoreKind } from '../definition.js';
import { createKubernetesStore } from './index.js';
import { kubernetesStoreSchema } from './schema.js';

/** The `kubernetes` kind, as the registry lists it. */
export const kubernetesStoreKind = defineStoreKind({
  kind: 'kubernetes',
  schema: kubernetesStoreSchema,
  create: (config, options) => createKubernetesStore(config, options),
});
