/**
 * References let a config name where a value lives instead of holding it:
 * `${env:NAME}`, `${file:/path}` (contents, trimmed) and `${store:PATH#KEY}` (a key of a
 * record in the configured store). They are resolved at each run and never written back.
 * A reference may stand alone or inside a longer string; `$${` writes a literal `${`.
 */
import { readFile } from 'node:fs/promises';
import { REFERENCE_PATTERN as REFERENCE } from '../common/reference-syntax.js';
import type { ConfigIssue } from '../errors.js';

export { hasReference, isWholeReference } from '../common/reference-syntax.js';

/**
 * Reads `${store:PATH#KEY}`; returns undefined when the record or key does not exist.
 * It throws when the store cannot answer: that is a store failure, not a wrong
 * reference, and {@link resolveReferences} reports it apart from the config issues.
 */
export type StoreLookup = (path: string, key: string) => Promise<string | undefined>;

/** A `${store:…}` reference the store could not answer for, with the field it sits in. */
export interface StoreFailure {
  readonly path: string;
  /** What the store threw, unchanged. */
  readonly error: unknown;
}

/** A reference that is wrong in itself (an unset variable, a missing file or key): a config issue. */
class ReferenceProblem extends Error {
  override readonly name = 'ReferenceProblem';
}

/** What the store lookup threw, kept apart from {@link ReferenceProblem}s. */
class LookupFailed extends Error {
  override readonly name = 'LookupFailed';
}

/** Where references come from; injectable for tests. */
export interface ReferenceSources {
  readonly env: NodeJS.ProcessEnv;
  /**
   * Reads `${store:…}` references. `'defer'` leaves them in place (checked later, once
   * the store exists); absent, they are an error (the store's own settings).
   */
  readonly store?: StoreLookup | 'defer';
}

async function resolveOne(kind: string, target: string, sources: ReferenceSources): Promise<string> {
  switch (kind) {
    case 'env': {
      const value = sources.env[target];
      if (value === undefined || value === '') throw new ReferenceProblem(`environment variable ${target} is not set`);
      return value;
    }
    case 'file': {
      try {
        return (await readFile(target, 'utf8')).trim();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'error';
        throw new ReferenceProblem(`cannot read file ${target} (${code})`);
      }
    }
    case 'store': {
      if (sources.store === undefined)
        throw new ReferenceProblem('${store:…} references cannot be used to configure the store itself');
      if (sources.store === 'defer') return `\${store:${target}}`;
      const hash = target.lastIndexOf('#');
      if (hash <= 0 || hash === target.length - 1)
        throw new ReferenceProblem(`store reference "${target}" must be PATH#KEY`);
      const path = target.slice(0, hash);
      const key = target.slice(hash + 1);
      let value: string | undefined;
      try {
        value = await sources.store(path, key);
      } catch (error) {
        throw new LookupFailed('the store lookup failed', { cause: error });
      }
      if (value === undefined) throw new ReferenceProblem(`store record ${path} has no key ${key}`);
      return value;
    }
    default:
      throw new ReferenceProblem(`unknown reference kind ${kind}`);
  }
}

async function resolveString(value: string, sources: ReferenceSources): Promise<string> {
  let out = '';
  let last = 0;
  for (const match of value.matchAll(REFERENCE)) {
    out += value.slice(last, match.index);
    out += match[1] === undefined ? '${' : await resolveOne(match[1], match[2] ?? '', sources);
    last = match.index + match[0].length;
  }
  return out + value.slice(last);
}

/** What {@link resolveReferences} found. */
export interface ResolvedReferences<T> {
  /** A copy with every reference that could be resolved replaced; the others left as written. */
  readonly value: T;
  /** References that are wrong in themselves (config errors), each with its field path. */
  readonly issues: ConfigIssue[];
  /** `${store:…}` references the store could not answer for (store errors, not config errors). */
  readonly storeFailures: StoreFailure[];
  /** Field paths of the `${store:…}` references left in place (`store: 'defer'`). */
  readonly deferred: string[];
}

/**
 * Returns a copy of `value` with every reference in every string replaced, with the
 * references that failed, each with its field path: a wrong reference is an issue, a
 * store that could not answer is a store failure. Secrets never enter messages.
 */
export async function resolveReferences<T>(
  value: T,
  sources: ReferenceSources,
  basePath: readonly (string | number)[] = [],
): Promise<ResolvedReferences<T>> {
  const issues: ConfigIssue[] = [];
  const storeFailures: StoreFailure[] = [];
  const deferred: string[] = [];
  async function walk(node: unknown, path: readonly (string | number)[]): Promise<unknown> {
    if (typeof node === 'string') {
      if (sources.store === 'defer' && /\$\{store:/.test(node)) deferred.push(path.join('.'));
      try {
        return await resolveString(node, sources);
      } catch (error) {
        if (error instanceof LookupFailed) storeFailures.push({ path: path.join('.'), error: error.cause });
        else if (error instanceof ReferenceProblem) issues.push({ path: path.join('.'), message: error.message });
        else throw error;
        return node;
      }
    }
    if (Array.isArray(node)) return Promise.all(node.map((item, index) => walk(item, [...path, index])));
    if (node !== null && typeof node === 'object') {
      const entries = await Promise.all(
        Object.entries(node).map(async ([key, child]) => [key, await walk(child, [...path, key])] as const),
      );
      return Object.fromEntries(entries);
    }
    return node;
  }
  const resolved = (await walk(value, basePath)) as T;
  return { value: resolved, issues, storeFailures, deferred };
}
