/**
 * The `aws` kind: AWS Secrets Manager, with SSM Parameter Store for the records written
 * too often for one secret.
 */
import { defineStoreKind } from '../definition.js';
import { awsStoreSchema } from './schema.js';

/** The `aws` kind, as the registry lists it. */
export const awsStoreKind = defineStoreKind({
  kind: 'aws',
  schema: awsStoreSchema,
  // Imported on demand: a config that names one kind loads none of the others.
  create: async (config, options) => (await import('./index.js')).createAwsStore(config, { logger: options.logger }),
});
