/**
 * Credentials read from a file at each login rather than once at start, so a file that
 * something else rotates (a projected service account token, a Vault Agent sink) is
 * picked up by the next login without a restart.
 */
import { readFile } from 'node:fs/promises';
import { StoreError } from '../../errors.js';

/**
 * Reads `path` and returns its content, trimmed. `what` names the credential in errors
 * (`the Kubernetes service account token`); the content never appears in one.
 * @throws {StoreError} when the file cannot be read or is empty.
 * @example
 * ```ts
 * const jwt = await readCredentialFile('/var/run/secrets/tokens/vault', 'the JWT');
 * ```
 */
export async function readCredentialFile(path: string, what: string): Promise<string> {
  let content: string;
  try {
    content = (await readFile(path, 'utf8')).trim();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    // Denied stays denied; a missing file may yet be written (a Vault Agent sink, a projected token).
    throw new StoreError(`cannot read ${what} for the Vault login from ${path} (${code})`, {
      cause: error,
      retryable: code !== 'EACCES' && code !== 'EPERM',
    });
  }
  if (content === '') throw new StoreError(`${path} is empty: it should hold ${what} for the Vault login`);
  return content;
}

/**
 * How a method gets a credential that may be given as a value (resolved once at start)
 * or as a file (read at each login). The schema guarantees exactly one of the two.
 */
export function valueOrFile(value: string | undefined, file: string | undefined, what: string): () => Promise<string> {
  if (value !== undefined) return async () => value;
  if (file !== undefined) return () => readCredentialFile(file, what);
  throw new TypeError(`${what}: neither a value nor a file was given`);
}
