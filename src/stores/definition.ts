/**
 * What a store kind registers: everything about it in one object, defined in its own
 * folder (`stores/<kind>/kind.ts`) and listed once in `stores/registry.ts`.
 */
import type { FieldKit } from '../common/fields.js';
import type * as z from '../common/zod.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore } from './contract.js';

/** A zod schema of one kind's `store:` section: an object with a literal `kind`. */
export type StoreSchema = z.ZodMiniObject<{ kind: z.ZodMiniLiteral<string> }>;

/** What every store factory may use besides its config section. */
export interface StoreOptions {
  /** For the store's own events (a Vault token renewed, about to expire); never a secret. */
  readonly logger?: Logger;
}

/**
 * One store kind: its config section, its factory and, when its settings follow from the
 * schedule, a hook that completes them at load (the AWS ring size). Methods are declared
 * as methods so a definition of one kind is usable where any kind is expected.
 */
export interface StoreKindDefinition<S extends StoreSchema = StoreSchema> {
  /** The value of `kind` in config (`file`, `vault`, `aws`). */
  readonly kind: z.output<S>['kind'];
  /** The section's schema for one parsing pass, built with the shared field builders. */
  schema(kit: FieldKit): S;
  /**
   * Builds the store; it must not reach its server before the first call. Asynchronous so
   * the kind's implementation (and its client libraries) is imported only when a config
   * names the kind.
   */
  create(config: z.output<S>, options: StoreOptions): Promise<SecretStore>;
}

/** Declares a store kind; an identity function that lets the compiler infer the section's type. */
export function defineStoreKind<S extends StoreSchema>(definition: StoreKindDefinition<S>): StoreKindDefinition<S> {
  return Object.freeze(definition);
}
