/**
 * The `http` provider kind: a token endpoint described in config (issue 14).
 */
import { defineProviderKind } from '../definition.js';
import { createHttpProvider, HTTP_FALLBACK_SECONDS } from './index.js';
import { httpSchema } from './schema.js';

/** The `http` kind, as the registry lists it. */
export const httpKind = defineProviderKind({
  kind: 'http',
  schema: httpSchema,
  expectedLifetime: (config) => config.default_lifetime_seconds ?? HTTP_FALLBACK_SECONDS,
  create: (config, { timeoutMs }) => createHttpProvider(config, timeoutMs),
});
