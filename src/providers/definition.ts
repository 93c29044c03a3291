/**
 * What a provider kind registers: everything about it in one object, defined in its own
 * folder (`providers/<kind>/kind.ts`) and listed once in `providers/registry.ts`.
 */
import type { FieldKit } from '../common/fields.js';
import type * as z from '../common/zod.js';
import type { TokenProvider } from './contract.js';

/** A zod schema of one kind's config section: an object with a literal `kind`. */
export type ProviderSchema = z.ZodMiniObject<{ kind: z.ZodMiniLiteral<string> }>;

/** What every provider factory is given besides its config section. */
export interface ProviderBuildOptions {
  /** Longest wait for one call to the token endpoint. */
  readonly timeoutMs: number;
  /** The provider's name in config, for messages that tell an operator what to run. */
  readonly name?: string | undefined;
}

/**
 * One provider kind: its config section, its factory and what the engine must know
 * before the first token. Methods are declared as methods so a definition of one kind
 * is usable where any kind is expected.
 */
export interface ProviderKindDefinition<S extends ProviderSchema = ProviderSchema> {
  /** The value of `kind` in config (`oauth2`, `keliweb`, `klikoo`). */
  readonly kind: z.output<S>['kind'];
  /**
   * The section's schema for one parsing pass, built with the shared field builders so
   * credentials are references and URLs are safe.
   */
  schema(kit: FieldKit): S;
  /** Builds the provider from its resolved section. */
  create(config: z.output<S>, options: ProviderBuildOptions): TokenProvider;
  /** The token lifetime, in seconds, to plan the schedule for before the first token reveals the real one. */
  expectedLifetime(config: z.output<S>): number;
}

/**
 * Declares a provider kind; an identity function that lets the compiler infer the
 * section's type for the factory.
 */
export function defineProviderKind<S extends ProviderSchema>(
  definition: ProviderKindDefinition<S>,
): ProviderKindDefinition<S> {
  return Object.freeze(definition);
}
