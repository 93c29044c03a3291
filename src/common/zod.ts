/**
 * The one way into zod: its tree-shakable `zod/mini` build, with English messages.
 *
 * Every schema of the rotator (the config, the records, the answers of Vault and
 * Kubernetes) imports this module as `z`, never `zod` itself. `zod/mini` has functions
 * where classic zod has methods (`z.optional(s)` for `s.optional()`, `s.check(z.minLength(1))`
 * for `s.min(1)`), so a bundle keeps only what it uses, where classic zod brought all of
 * itself. Unlike classic zod, `zod/mini` configures no locale: this module configures
 * English once, and since every schema module imports it, before any parse. The messages
 * are classic zod's English ones, which config errors print as they are.
 *
 * Import it as a namespace (`import * as z`), which a bundler can tree-shake member by
 * member; a namespace object passed around as a value would keep all of zod.
 *
 * A description for the JSON Schema is `.check(z.describe(text))`. `.check()` copies the
 * schema's definition, which turns a `z._default` value into one object shared by every
 * parse: describe such a field only when its default is a primitive (all are, today).
 * @example
 * ```ts
 * import * as z from '../common/zod.js';
 * const port = z._default(z.number().check(z.int(), z.positive()), 8080);
 * ```
 */
import { en } from 'zod/locales';
import { config } from 'zod/mini';

config(en());

export * from 'zod/mini';
