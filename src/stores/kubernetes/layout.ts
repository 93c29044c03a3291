/**
 * How records become Secrets: the name of a record's Secret, and its keys. A public
 * interface, documented in docs/kubernetes.md: consumers mount these Secrets.
 *
 * Record `tokens/<p>` is the Secret `<prefix>tokens-<p>`, `state/<p>` is
 * `<prefix>state-<p>`, `runner/heartbeat` is `<prefix>runner-heartbeat`: the path with
 * `/` made `-`, when that gives a valid name (lower-case letters, digits and `-`; at most
 * 253 characters with the prefix). Any other path (upper case, `_`, `.`) gets a readable
 * form and a hash of the exact path: `tokens/my_api` is `<prefix>tokens-my-api-<12 hex>`.
 * Each Secret names its record path in an annotation, and the store refuses a Secret
 * that names another path, so two paths with the same name (`a-b/c` and `a/b-c`) cannot
 * read each other's record.
 *
 * Keys: `record.json` holds the record's JSON, the only key the store reads back; beside
 * it, each field of the public record ({@link PUBLIC_KEYS}: `access_token`, `token_type`,
 * `expires_at`, `issued_at`, `generation`, `provider`) that the record has as a string or
 * a number is its own key, as text, so each is a file of a mounted volume. Other fields
 * live in `record.json` only: the JSON keeps their types and any key, which Secret keys
 * (`[-._a-zA-Z0-9]+`, text) could not.
 */
import { createHash } from 'node:crypto';

/** The key that holds the record's JSON, the only one the store reads. */
export const RECORD_KEY = 'record.json';

/** A Secret name: a DNS-1123 subdomain. */
const MAX_NAME_LENGTH = 253;
const PLAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** The public record's fields, each also a key of its own (see the module doc). */
export const PUBLIC_KEYS = Object.freeze([
  'access_token',
  'token_type',
  'expires_at',
  'issued_at',
  'generation',
  'provider',
] as const);
const HASH_LENGTH = 12;

/**
 * The name of the Secret that holds the record at `path` (a valid record path).
 * @example secretNameOf('token-rotator-', 'tokens/klikoo') // 'token-rotator-tokens-klikoo'
 */
export function secretNameOf(prefix: string, path: string): string {
  const plain = path.replaceAll('/', '-');
  if (PLAIN.test(plain) && prefix.length + plain.length <= MAX_NAME_LENGTH) return prefix + plain;
  const hash = createHash('sha256').update(path, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  const room = MAX_NAME_LENGTH - prefix.length - HASH_LENGTH - 1;
  const readable = path
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .slice(0, Math.max(0, room))
    .replace(/^-+|-+$/g, '');
  return `${prefix}${readable === '' ? '' : `${readable}-`}${hash}`;
}

/** A Secret's data before base64: `record.json` and the {@link PUBLIC_KEYS} the record has. */
export function secretDataOf(json: string, value: Record<string, unknown>): Record<string, string> {
  const data: Record<string, string> = {};
  for (const key of PUBLIC_KEYS) {
    const field = value[key];
    if (typeof field === 'string') data[key] = field;
    else if (typeof field === 'number' && Number.isFinite(field)) data[key] = JSON.stringify(field);
  }
  data[RECORD_KEY] = json;
  return data;
}

/** The size Kubernetes counts for a Secret's data: the bytes of every value, summed. */
export function secretDataBytes(data: Readonly<Record<string, string>>): number {
  let total = 0;
  for (const value of Object.values(data)) total += Buffer.byteLength(value, 'utf8');
  return total;
}

/**
 * The size the Kubernetes store counts for `value`: its Secret's data, as
 * {@link secretDataBytes}; `undefined` when `value` has no JSON form.
 */
export function recordSecretBytes(value: Record<string, unknown>): number | undefined {
  let json: unknown;
  try {
    json = JSON.stringify(value);
  } catch {
    return undefined;
  }
  if (typeof json !== 'string' || !json.startsWith('{')) return undefined;
  return secretDataBytes(secretDataOf(json, value));
}
