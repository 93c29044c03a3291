/**
 * The provider registry: every provider kind, listed once. The config's `providers`
 * union, the factories and the lifetimes all come from this list, so a kind cannot be
 * half-registered.
 *
 * Adding a kind: a folder `providers/<kind>/` with `schema.ts` (its section, built with the
 * shared field builders), its implementation, and `kind.ts` (a {@link defineProviderKind}),
 * then one entry in {@link PROVIDER_KINDS}.
 */
import { z } from 'zod';
import type { FieldKit } from '../common/fields.js';
import { indexByKind, type SchemasOf } from '../common/registry.js';
import type { TokenProvider } from './contract.js';
import type { ProviderBuildOptions, ProviderKindDefinition } from './definition.js';
import { keliwebKind } from './keliweb/kind.js';
import { klikooKind } from './klikoo/kind.js';
import { oauth2Kind } from './oauth2/kind.js';

/** Every provider kind. */
export const PROVIDER_KINDS = [oauth2Kind, keliwebKind, klikooKind] as const;

const byKind: ReadonlyMap<string, ProviderKindDefinition> = indexByKind('provider', PROVIDER_KINDS);

/** The schema of one `providers.<name>` entry: the union of every kind's section. */
export function providerSchema(kit: FieldKit) {
  const schemas = PROVIDER_KINDS.map((kind) => kind.schema(kit)) as SchemasOf<typeof PROVIDER_KINDS>;
  return z.discriminatedUnion('kind', schemas);
}

/** A resolved provider section, of any kind. */
export type ProviderConfig = z.output<ReturnType<typeof providerSchema>>;

function definitionOf(config: ProviderConfig): ProviderKindDefinition {
  const definition = byKind.get(config.kind);
  if (definition === undefined) throw new TypeError(`no provider kind "${config.kind}" is registered`);
  return definition;
}

/** Builds the provider a config section describes. */
export function createProvider(config: ProviderConfig, options: ProviderBuildOptions): TokenProvider {
  return definitionOf(config).create(config, options);
}

/** The lifetime to plan for before the first token. */
export function expectedLifetime(config: ProviderConfig): number {
  return definitionOf(config).expectedLifetime(config);
}
