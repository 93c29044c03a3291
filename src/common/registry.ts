/**
 * The shape shared by the registries of provider kinds and store kinds: a list of
 * definitions keyed by `kind`, where registering a kind twice is an error, and the
 * discriminated union of their config sections.
 */
import type { FieldKit } from './fields.js';
import * as z from './zod.js';

/** What both registries need of a definition: its kind and its section's schema. */
export interface KindDefinition {
  readonly kind: string;
  schema(kit: FieldKit): z.ZodMiniObject<{ kind: z.ZodMiniLiteral<string> }>;
}

/** The schemas of a tuple of definitions, position by position. */
type SchemasOf<D extends readonly KindDefinition[]> = { -readonly [I in keyof D]: ReturnType<D[I]['schema']> };

/**
 * Indexes `definitions` by kind.
 * @throws {Error} when two definitions declare the same kind.
 */
export function indexByKind<T extends { readonly kind: string }>(
  concept: string,
  definitions: readonly T[],
): ReadonlyMap<string, T> {
  const byKind = new Map<string, T>();
  for (const definition of definitions) {
    if (byKind.has(definition.kind)) throw new Error(`${concept} kind "${definition.kind}" is registered twice`);
    byKind.set(definition.kind, definition);
  }
  return byKind;
}

/**
 * A registry of `definitions`: the union schema of their sections for one parsing pass,
 * and the definition of a section's kind, typed as `Base` so any section can be given to it.
 * Curried so that `Base` is named and the tuple of definitions inferred.
 * @example
 * const registry = kindRegistry<ProviderKindDefinition>('provider')([oauth2Kind, keliwebKind]);
 * @throws {Error} when two definitions declare the same kind.
 */
export function kindRegistry<Base extends KindDefinition>(concept: string) {
  return <const D extends readonly [Base, ...Base[]]>(definitions: D) => registryOf<Base, D>(concept, definitions);
}

function registryOf<Base extends KindDefinition, D extends readonly [Base, ...Base[]]>(
  concept: string,
  definitions: D,
) {
  const byKind: ReadonlyMap<string, Base> = indexByKind(concept, definitions);
  return {
    definitions,
    /** The discriminated union of every kind's section. */
    schema(kit: FieldKit) {
      return z.discriminatedUnion('kind', definitions.map((definition) => definition.schema(kit)) as SchemasOf<D>);
    },
    /** The definition of `kind`; a section that passed {@link schema} always has one. */
    definitionOf(kind: string): Base {
      const definition = byKind.get(kind);
      if (definition === undefined) throw new TypeError(`no ${concept} kind "${kind}" is registered`);
      return definition;
    },
  };
}
