/**
 * The `klikoo` provider kind.
 */
import { defineProviderKind } from '../definition.js';
import { createKlikooProvider, KLIKOO_ACCESS_SECONDS } from './index.js';
import { klikooSchema } from './schema.js';

/** The `klikoo` kind, as the registry lists it. */
export const klikooKind = defineProviderKind({
  kind: 'klikoo',
  schema: klikooSchema,
  expectedLifetime: (config) => config.default_lifetime_seconds ?? KLIKOO_ACCESS_SECONDS,
  create: (config, { timeoutMs }) => createKlikooProvider(config, timeoutMs),
});
