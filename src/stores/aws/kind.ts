/**
 * The `aws` kind: AWS Secrets Manager, with SSM Parameter Store for the records written
 * too often for one secret.
 */
import { defineStoreKind } from '../definition.js';
import { createAwsStore } from './index.js';
import { awsStoreSchema } from './schema.js';

/** The `aws` kind, as the registry lists it. */
export const awsStoreKind = defineStoreKind({
  kind: 'aws',
  schema: awsStoreSchema,
  create: (config, options) => createAwsStore(config, { logger: options.logger }),
});
