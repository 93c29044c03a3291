/**
 * References let a config name where a value lives instead of holding it:
 * `${env:NAME}`, `${file:/path}` (contents, trimmed) and `${store:PATH#KEY}` (a key of a
 * record in the configured store). They are resolved at each run and never written back.
 * A reference may stand alone or inside a longer string; `$${` writes a literal `${`.
 */
import { readFileSync } from 'node:fs';
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

/**
 * At most this many store lookups are in flight at once during one resolution: a few
 * dozen already keep a store busy. Files are read one at a time, synchronously: credential
 * files are small and local (a mounted Secret, a tmpfs), where a synchronous read takes
 * microseconds, while `fs/promises` spends four thread-pool round trips and a file handle
 * on each; at 10,000 `${file:…}` references that was half the config phase's CPU, and
 * reading them all at once had failed with `EMFILE` (issue 13).
 */
export const MAX_READS_IN_FLIGHT = 64;

/** Runs tasks with at most `max` of them in flight, the others waiting in order of arrival. */
function limiter(max: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  // A queue by index: `shift()` on 20,000 waiting tasks would copy the array each time.
  let waiting: (() => void)[] = [];
  let head = 0;
  return async <T>(task: () => Promise<T>): Promise<T> => {
    if (active < max) active++;
    else await new Promise<void>((start) => waiting.push(start));
    try {
      return await task();
    } finally {
      const next = waiting[head];
      if (next === undefined) {
        active--;
        waiting = [];
        head = 0;
      } else {
        // The slot passes to the next task, so `active` stays as it is.
        waiting[head++] = noop;
        next();
      }
    }
  };
}

function noop(): void {}

/**
 * The reads of one resolution: each distinct file read once however many references name
 * it (many providers may share a credential file), each distinct store reference looked up
 * once, and never more than {@link MAX_READS_IN_FLIGHT} lookups in flight together.
 */
class Reads {
  readonly #limit = limiter(MAX_READS_IN_FLIGHT);
  /** A file's contents, trimmed, or the errno code it could not be read with. */
  readonly #files = new Map<string, { readonly text: string } | { readonly code: string }>();
  readonly #lookups = new Map<string, Promise<string | undefined>>();

  /** The file's contents, trimmed. @throws {ReferenceProblem} naming the file and the errno code. */
  file(path: string): string {
    let read = this.#files.get(path);
    if (read === undefined) {
      try {
        read = { text: readFileSync(path, 'utf8').trim() };
      } catch (error) {
        read = { code: (error as NodeJS.ErrnoException).code ?? 'error' };
      }
      this.#files.set(path, read);
    }
    if ('code' in read) throw new ReferenceProblem(`cannot read file ${path} (${read.code})`);
    return read.text;
  }

  /** What the store answered for `PATH#KEY`, or what it threw, unchanged. */
  store(lookup: StoreLookup, path: string, key: string): Promise<string | undefined> {
    const target = `${path}#${key}`;
    let value = this.#lookups.get(target);
    if (value === undefined) {
      value = this.#limit(() => lookup(path, key));
      this.#lookups.set(target, value);
    }
    return value;
  }
}

/** The value of an `env` or `file` reference, read at once. @throws {ReferenceProblem} */
function resolveLocal(kind: string, target: string, sources: ReferenceSources, reads: Reads): string {
  switch (kind) {
    case 'env': {
      const value = sources.env[target];
      if (value === undefined || value === '') throw new ReferenceProblem(`environment variable ${target} is not set`);
      return value;
    }
    case 'file':
      return reads.file(target);
    default:
      throw new ReferenceProblem(`unknown reference kind ${kind}`);
  }
}

/** The value of a `store` reference. @throws {ReferenceProblem} or {LookupFailed} */
async function resolveStored(target: string, sources: ReferenceSources, reads: Reads): Promise<string> {
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
    value = await reads.store(sources.store, path, key);
  } catch (error) {
    throw new LookupFailed('the store lookup failed', { cause: error });
  }
  if (value === undefined) throw new ReferenceProblem(`store record ${path} has no key ${key}`);
  return value;
}

/**
 * `value` with its references replaced: at once when it names no store reference (env
 * and file references are read synchronously), otherwise once the store has answered.
 * @throws {ReferenceProblem} or {LookupFailed} (the promise rejects with them, for a
 *   string that names the store).
 */
function resolveString(value: string, sources: ReferenceSources, reads: Reads): string | Promise<string> {
  if (value.includes('${store:')) return resolveWithStore(value, sources, reads);
  let out = '';
  let last = 0;
  for (const match of value.matchAll(REFERENCE)) {
    out += value.slice(last, match.index);
    out += match[1] === undefined ? '${' : resolveLocal(match[1], match[2] ?? '', sources, reads);
    last = match.index + match[0].length;
  }
  return out + value.slice(last);
}

async function resolveWithStore(value: string, sources: ReferenceSources, reads: Reads): Promise<string> {
  let out = '';
  let last = 0;
  for (const match of value.matchAll(REFERENCE)) {
    out += value.slice(last, match.index);
    if (match[1] === undefined) out += '${';
    else if (match[1] === 'store') out += await resolveStored(match[2] ?? '', sources, reads);
    else out += resolveLocal(match[1], match[2] ?? '', sources, reads);
    last = match.index + match[0].length;
  }
  return out + value.slice(last);
}

/** A field's path below the base path, as a chain from the field up (spelt out only when reported). */
type FieldPath = { readonly parent: FieldPath; readonly key: string | number } | undefined;

function pathText(base: readonly (string | number)[], path: FieldPath): string {
  const keys: (string | number)[] = [];
  for (let at = path; at !== undefined; at = at.parent) keys.push(at.key);
  return [...base, ...keys.reverse()].join('.');
}

function isPromise(value: unknown): value is Promise<unknown> {
  return value instanceof Promise;
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
 *
 * Strings with only `env` and `file` references resolve at once; those naming the store
 * concurrently, with at most {@link MAX_READS_IN_FLIGHT} lookups in flight. Each distinct
 * file or store reference is read once; issues and store failures come in the order of
 * their fields in `value`, however lookups complete.
 */
export async function resolveReferences<T>(
  value: T,
  sources: ReferenceSources,
  basePath: readonly (string | number)[] = [],
): Promise<ResolvedReferences<T>> {
  const reads = new Reads();
  const issues: { order: number; issue: ConfigIssue }[] = [];
  const storeFailures: { order: number; failure: StoreFailure }[] = [];
  const deferred: string[] = [];
  let strings = 0;
  // The walk is synchronous wherever it can be: a string without a store reference is
  // returned resolved, and a field's path is spelt out only when something is reported.
  // Only strings naming the store wait. At 10,000 providers an async frame, a
  // promise and a path per field, all pending at once, were most of the config phase's
  // peak memory (issue 13).
  function walk(node: unknown, path: FieldPath): unknown {
    if (typeof node === 'string') {
      if (sources.store === 'defer' && /\$\{store:/.test(node)) deferred.push(pathText(basePath, path));
      if (!node.includes('${')) return node;
      // Counted before the first await: walks start in field order, whatever order they end in.
      const order = strings++;
      const failed = (error: unknown) => {
        if (error instanceof LookupFailed)
          storeFailures.push({ order, failure: { path: pathText(basePath, path), error: error.cause } });
        else if (error instanceof ReferenceProblem)
          issues.push({ order, issue: { path: pathText(basePath, path), message: error.message } });
        else throw error;
        return node;
      };
      try {
        const resolved = resolveString(node, sources, reads);
        return typeof resolved === 'string' ? resolved : resolved.catch(failed);
      } catch (error) {
        return failed(error);
      }
    }
    if (Array.isArray(node)) {
      const items = node.map((item, index) => walk(item, { parent: path, key: index }));
      return items.some(isPromise) ? Promise.all(items) : items;
    }
    if (node !== null && typeof node === 'object') {
      const keys = Object.keys(node);
      const values = keys.map((key) => walk((node as Record<string, unknown>)[key], { parent: path, key }));
      const build = (resolved: readonly unknown[]) => Object.fromEntries(keys.map((key, i) => [key, resolved[i]]));
      return values.some(isPromise) ? Promise.all(values).then(build) : build(values);
    }
    return node;
  }
  const resolved = (await walk(value, undefined)) as T;
  const inFieldOrder = (a: { order: number }, b: { order: number }) => a.order - b.order;
  return {
    value: resolved,
    issues: issues.sort(inFieldOrder).map(({ issue }) => issue),
    storeFailures: storeFailures.sort(inFieldOrder).map(({ failure }) => failure),
    deferred,
  };
}
