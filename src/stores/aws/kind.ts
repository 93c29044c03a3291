/**
 * The `aws` store kind: AWS Secrets Manager. Its ring size follows from the schedule, so
 * it plans its section at config load.
 */
import { defineStoreKind } from '../definition.js';
import { createAwsStore } from './index.js';
import { awsStoreSchema, sizeRing } from './schema.js';

/** The `aws` kind, as the registry lists it. */
export const awsStoreKind = defineStoreKind({
  kind: 'aws',
  schema: awsStoreSchema,
  create: (config) => createAwsStore(config),
  plan(config, schedule) {
    const sized = sizeRing(config, schedule.passesPerDay());
    return { config: sized.store, issues: sized.issues };
  },
});
