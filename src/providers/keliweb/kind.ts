/**
 * The `keliweb` provider kind.
 */
import { defineProviderKind } from '../definition.js';
import { createKeliwebProvider, KELIWEB_ACCESS_SECONDS } from './index.js';
import { keliwebSchema } from './schema.js';

/** The `keliweb` kind, as the registry lists it. */
export const keliwebKind = defineProviderKind({
  kind: 'keliweb',
  schema: keliwebSchema,
  expectedLifetime: (config) => config.default_lifetime_seconds ?? KELIWEB_ACCESS_SECONDS,
  create: (config, { timeoutMs }) => createKeliwebProvider(config, timeoutMs),
});
