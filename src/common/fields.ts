/**
 * Field builders shared by every section of the config schema: the core (`config/`) and
 * each backend's own section (`providers/<kind>/schema.ts`, `stores/<kind>/schema.ts`), so
 * that credentials are references and URLs are safe everywhere, by construction.
 *
 * A config is parsed twice with the same definitions. The `raw` pass checks the file as
 * written, where any string may hold references and credentials must be references. The
 * `resolved` pass checks the values the references produced (URLs, UUIDs, PEM keys), so a
 * bad value is reported with its field path too.
 */
import { isWholeReference } from './reference-syntax.js';
import { isSafeTokenUrl } from './urls.js';
import * as z from './zod.js';

/** Which pass a schema is built for. */
export type SchemaMode = 'raw' | 'resolved';

/** The message of a credential written in plain text. */
export const REFERENCE_HINT = 'must be a reference (${env:NAME}, ${file:/path} or ${store:PATH#KEY}), never plain text';

/** The first line of a PKCS#8 PEM private key (RFC 7468 §10): a header, not a key. */
const PKCS8_ARMOUR = '-----BEGIN PRIVATE KEY-----';

/** The first line of a PEM private key of any encoding (PKCS#8, PKCS#1, SEC 1). */
const PEM_KEY_ARMOUR = /-----BEGIN [A-Z ]*PRIVATE KEY-----/;

const URL_HINT = 'must be an https:// URL (http:// only on loopback)';

/**
 * The field builders of one pass.
 * @example
 * ```ts
 * const { text, secret } = fieldKit('raw');
 * z.strictObject({ client_id: text(), client_secret: secret() });
 * ```
 */
export function fieldKit(mode: SchemaMode) {
  const raw = mode === 'raw';
  return {
    raw,
    /** Any non-empty string; in the raw pass it may contain references. */
    text: () => z.string().check(z.minLength(1, 'must not be empty')),
    /** A credential: in the file it must be a reference, so no secret is ever committed. */
    secret: () =>
      raw
        ? z.string().check(z.refine(isWholeReference, REFERENCE_HINT))
        : z.string().check(z.minLength(1, 'resolved to an empty value')),
    /** A URL that carries credentials: HTTPS, or HTTP on loopback (the sandbox and tests). */
    url: () =>
      raw
        ? z.string().check(z.refine((v) => isWholeReference(v) || isSafeTokenUrl(v), URL_HINT))
        : z.string().check(z.refine(isSafeTokenUrl, URL_HINT)),
    seconds: () => z.number().check(z.int('must be a whole number of seconds'), z.positive('must be positive')),
    /** A PKCS#8 PEM private key, as a credential; the resolved pass checks its armour, never echoing it. */
    pkcs8Key: () =>
      raw
        ? z.string().check(z.refine(isWholeReference, REFERENCE_HINT))
        : z.string().check(z.refine((v) => v.includes(PKCS8_ARMOUR), `must be a PKCS#8 PEM key (${PKCS8_ARMOUR})`)),
    /** A PEM private key of any encoding, as a credential; the resolved pass checks its armour. */
    pemKey: () =>
      raw
        ? z.string().check(z.refine(isWholeReference, REFERENCE_HINT))
        : z.string().check(z.refine((v) => PEM_KEY_ARMOUR.test(v), 'must be a PEM private key')),
  };
}

/** The field builders of one pass. */
export type FieldKit = ReturnType<typeof fieldKit>;

/**
 * A check that exactly one of two alternative fields is given, naming the field at fault.
 * @example z.strictObject({ token: …, token_file: … }).check(z.superRefine(exactlyOne('token', 'token_file')))
 */
export function exactlyOne<A extends string, B extends string>(first: A, second: B) {
  return (value: Partial<Record<A | B, unknown>>, ctx: z.core.$RefinementCtx): void => {
    const hasFirst = value[first] !== undefined;
    const hasSecond = value[second] !== undefined;
    if (hasFirst && hasSecond)
      ctx.addIssue({ code: 'custom', path: [second], message: `give either ${first} or ${second}, not both` });
    if (!hasFirst && !hasSecond)
      ctx.addIssue({ code: 'custom', path: [first], message: `required: give ${first} or ${second}` });
  };
}
