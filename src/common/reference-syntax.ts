/**
 * The syntax of config references: `${env:NAME}`, `${file:/path}`, `${store:PATH#KEY}`, and
 * `$${` for a literal `${`. Only the syntax lives here, so the field builders every backend
 * uses can require a reference; resolving them is `config/references.ts`.
 */

/** Every reference or escaped `$${` in a string; group 1 is the kind, group 2 the target. */
export const REFERENCE_PATTERN = /\$\$\{|\$\{(env|file|store):([^}]*)\}/g;

const WHOLE_REFERENCE = /^\$\{(env|file|store):([^}]+)\}$/;

/** True when `value` is exactly one reference. */
export function isWholeReference(value: string): boolean {
  return WHOLE_REFERENCE.test(value);
}

/** True when `value` contains at least one reference. */
export function hasReference(value: string): boolean {
  return [...value.matchAll(REFERENCE_PATTERN)].some((match) => match[1] !== undefined);
}
