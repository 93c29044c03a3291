/**
 * The provider registry: every provider kind, listed once. The config's `providers`
 * union, the factories and the lifetimes all come from this list, so a kind cannot be
 * half-registered.
 *
 * Adding a kind: a folder `providers/<kind>/` with `schema.ts` (its section, built with the
 * shared field builders), its implementation, and `kind.ts` (a {@link defineProviderKind}),
 * then one entry in the list below.
 */
import { kindRegistry } from '../common/registry.js';
import type * as z from '../common/zod.js';
import type { TokenProvider } from './contract.js';
import type { ProviderBuildOptions, ProviderKindDefinition } from './definition.js';
import { httpKind } from './http/kind.js';
import { keliwebKind } from './keliweb/kind.js';
import { klikooKind } from './klikoo/kind.js';
import { oauth2Kind } from './oauth2/kind.js';

/** Every provider kind: one entry each. */
const registry = kindRegistry<ProviderKindDefinition>('provider')([oauth2Kind, keliwebKind, klikooKind, httpKind]);

/** Every provider kind's definition. */
export const PROVIDER_KINDS = registry.definitions;

/** The schema of one `providers.<name>` entry, the union of every kind's section, for one parsing pass. */
export const providerSchema = registry.schema;

/** A resolved provider section, of any kind. */
export type ProviderConfig = z.output<ReturnType<typeof providerSchema>>;

/** Builds the provider a config section describes. */
export function createProvider(config: ProviderConfig, options: ProviderBuildOptions): TokenProvider {
  return registry.definitionOf(config.kind).create(config, options);
}

/** The lifetime to plan for before the first token. */
export function expectedLifetime(config: ProviderConfig): number {
  return registry.definitionOf(config.kind).expectedLifetime(config);
}
