/**
 * The shape shared by the registries of provider kinds and store kinds: a list of
 * definitions keyed by `kind`, where registering a kind twice is an error.
 */

/**
 * Indexes `definitions` by kind.
 * @throws {Error} when two definitions declare the same kind.
 */
export function indexByKind<T extends { readonly kind: string }>(concept: string, definitions: readonly T[]): ReadonlyMap<string, T> {
  const byKind = new Map<string, T>();
  for (const definition of definitions) {
    if (byKind.has(definition.kind)) throw new Error(`${concept} kind "${definition.kind}" is registered twice`);
    byKind.set(definition.kind, definition);
  }
  return byKind;
}

/** The schemas of a tuple of definitions, position by position. */
export type SchemasOf<D extends readonly { schema(...args: never[]): unknown }[]> = {
  -readonly [I in keyof D]: ReturnType<D[I]['schema']>;
};
