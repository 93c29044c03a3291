/**
 * Loading a config: read, parse YAML or JSON, validate, resolve references, freeze.
 * Everything that can be checked without the store is checked before the store is
 * built, so a bad file fails fast and touches nothing.
 */
import { readFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import * as z from '../common/zod.js';
import { ConfigError, type ConfigIssue, ErrorCodes, RotatorError, StoreError } from '../errors.js';
import { parsePlainYaml } from './plain-yaml.js';
import { resolveReferences, type StoreFailure, type StoreLookup } from './references.js';
import { type Config, rawConfigSchema, resolvedConfigSchema, type StoreConfig } from './schema.js';

export { DEFAULT_CONFIG_PATH } from './default-path.js';

type RawConfig = z.infer<typeof rawConfigSchema>;

function issuesOf(error: z.core.$ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
  return error.issues.map((issue) => {
    const path = [...prefix, ...issue.path].map(String).join('.');
    const message =
      issue.code === 'invalid_type' && /received undefined$/.test(issue.message)
        ? 'required'
        : issue.code === 'invalid_key'
          ? `invalid name: ${issue.issues.map((inner) => inner.message).join('; ')}`
          : issue.message;
    return { path, message };
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * A config resolved provider by provider: the providers whose references resolved and
 * validated, and why each other one could not be resolved this time.
 */
export interface PartialConfig {
  /** Every configured provider's name, in the config's order, resolved or not. */
  readonly names: readonly string[];
  /** The config, its `providers` limited to those that resolved (possibly none). */
  readonly config: Config;
  /**
   * Per provider that did not resolve: a {@link ConfigError} (a wrong reference or value,
   * code `CONFIG_REFERENCE` or `CONFIG_INVALID`) or a {@link StoreError} (the store could
   * not answer a `${store:…}` reference).
   */
  readonly failures: ReadonlyMap<string, ConfigError | StoreError>;
}

/**
 * A config file that passed every check possible without the store. `store` is ready
 * to build the store from; `resolve()` produces the full config, reading `${store:…}`
 * references, and is called at each run so rotated credentials are picked up.
 */
export interface LoadedConfig {
  readonly path: string;
  readonly store: StoreConfig;
  /** The schedule and policy (env and file references only). */
  readonly policy: Config['policy'];
  readonly logLevel: Config['log_level'];
  /** The configured providers' names, in the config's order (known without the store). */
  readonly providerNames: readonly string[];
  /**
   * The full config, its references read anew at each call; except the first call of a
   * config without `${store:…}` references, which returns what loading resolved.
   * @throws {ConfigError} when a reference is wrong (an unset variable, a missing file, a
   *   key missing from a record the store returned) or a resolved value is invalid.
   * @throws {StoreError} when the store could not answer a `${store:…}` reference (and
   *   nothing else is wrong): an outage, not a config error.
   */
  resolve(store: StoreLookup): Promise<Config>;
  /**
   * Like {@link resolve}, but a problem confined to one provider's section fails that
   * provider only (the daemon keeps rotating the others, and retries it next pass).
   *
   * With `only`, just those providers' sections are resolved and validated (the others
   * are absent from `config.providers` and from `failures`): the daemon resolves the
   * providers about to run, not the whole config. A section (or the top level) that
   * resolves to the same values as at the previous call is not validated again: the
   * previous, frozen, object is returned, so a caller may keep what it built from it
   * until a referenced value changes.
   * @throws {ConfigError} or {StoreError} for a problem outside the providers' sections.
   */
  resolveEach(store: StoreLookup, only?: readonly string[]): Promise<PartialConfig>;
}

/** The provider a dotted field path belongs to (`providers.NAME.…`), if any. */
function providerOf(path: string): string | undefined {
  const [section, name] = path.split('.');
  return section === 'providers' && name !== undefined && name !== '' ? name : undefined;
}

/** The store's own error, unchanged, or a foreign one wrapped as a {@link StoreError}. */
function storeErrorOf(failure: StoreFailure): StoreError {
  if (failure.error instanceof StoreError) return failure.error;
  if (failure.error instanceof RotatorError)
    return new StoreError(failure.error.message, { cause: failure.error, code: failure.error.code });
  const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
  return new StoreError(`the store failed to read the reference in ${failure.path}: ${reason}`, {
    cause: failure.error,
  });
}

/** Groups items by the provider their path belongs to; items outside providers go under `undefined`. */
function byProvider<T>(items: readonly T[], pathOf: (item: T) => string): Map<string | undefined, T[]> {
  const groups = new Map<string | undefined, T[]>();
  for (const item of items) {
    const name = providerOf(pathOf(item));
    groups.set(name, [...(groups.get(name) ?? []), item]);
  }
  return groups;
}

const topLevelSchema = z.omit(resolvedConfigSchema, { providers: true });
const providersSchema = resolvedConfigSchema.shape.providers;

/**
 * A frozen config from its validated top level and providers, its keys in the schema's
 * order (as validating the whole config at once gives them).
 */
function assemble(top: Omit<Config, 'providers'>, providers: Record<string, unknown>): Config {
  const config: Record<string, unknown> = {};
  for (const key of Object.keys(resolvedConfigSchema.shape)) {
    if (key === 'providers') config[key] = Object.freeze(providers);
    else if (Object.hasOwn(top, key)) config[key] = (top as Record<string, unknown>)[key];
  }
  return Object.freeze(config) as Config;
}

/** `raw` with only the `names` providers (names not configured are left out), in that order. */
function withProviders(raw: RawConfig, names: readonly string[]): RawConfig {
  const providers: Record<string, RawConfig['providers'][string]> = {};
  for (const name of names) {
    const section = Object.hasOwn(raw.providers, name) ? raw.providers[name] : undefined;
    if (section !== undefined) providers[name] = section;
  }
  return { ...raw, providers };
}

/**
 * What the last {@link LoadedConfig.resolveEach} validated, per provider and for the top
 * level, with the resolved values it was validated from: values that resolve the same
 * again are not validated again, and the same frozen object comes back (issue 13: a daemon
 * pass validated every provider anew). A value that changed, a `${file:…}` credential
 * rotated between passes, is validated and replaces the entry.
 */
class ValidationMemo {
  #top: { readonly input: unknown; readonly output: Omit<Config, 'providers'> } | undefined;
  readonly #providers = new Map<string, { readonly input: unknown; readonly output: unknown }>();

  top(input: unknown, validate: () => Omit<Config, 'providers'>): Omit<Config, 'providers'> {
    if (this.#top !== undefined && isDeepStrictEqual(this.#top.input, input)) return this.#top.output;
    const output = validate();
    this.#top = { input, output };
    return output;
  }

  /** The validated section, or the ConfigError validating it gave (never remembered). */
  provider<T>(name: string, input: unknown, validate: () => T | ConfigError): T | ConfigError {
    const known = this.#providers.get(name);
    if (known !== undefined && isDeepStrictEqual(known.input, input)) return known.output as T;
    const output = validate();
    if (output instanceof ConfigError) this.#providers.delete(name);
    else this.#providers.set(name, { input, output });
    return output;
  }
}

/** Parses config text (YAML or JSON) that came from `path`. */
export async function parseConfig(
  text: string,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  // Most configs are plain block mappings, read without loading yaml at all (see plain-yaml.ts).
  const document = parsePlainYaml(text) ?? (await import('./yaml-text.js')).parseYamlText(text, path);
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError([{ path: '', message: `${path}: the config must be a mapping with a providers section` }]);
  }

  const parsedRaw = rawConfigSchema.safeParse(document);
  if (!parsedRaw.success) throw new ConfigError(issuesOf(parsedRaw.error));
  const raw: RawConfig = parsedRaw.data;

  // Everything but store references resolves now; values they produce are validated now.
  const early = await resolveReferences(raw, { env, store: 'defer' });
  const storeSection = await resolveReferences(raw.store, { env }, ['store']);
  const referenceIssues = [...early.issues.filter((i) => !i.path.startsWith('store')), ...storeSection.issues];
  if (referenceIssues.length > 0) throw new ConfigError(referenceIssues, { code: ErrorCodes.CONFIG_REFERENCE });
  const providerNames = Object.freeze(Object.keys(raw.providers));
  const validated = new ValidationMemo();
  const validateTop = (rest: object) => () => {
    const checked = topLevelSchema.safeParse({ ...rest, store: storeSection.value });
    if (!checked.success) throw new ConfigError(issuesOf(checked.error));
    return deepFreeze(checked.data);
  };
  const validateProvider = (name: string, section: unknown) => () => {
    const result = providersSchema.safeParse({ [name]: section });
    return result.success ? deepFreeze(result.data[name]) : new ConfigError(issuesOf(result.error, ['providers']));
  };
  /** The config validated part by part, when every part is valid and there is a provider; else `undefined`. */
  const validParts = (rest: object, sections: Record<string, unknown>): Config | undefined => {
    const names = Object.keys(sections);
    if (names.length === 0) return undefined;
    let top: Omit<Config, 'providers'>;
    try {
      top = validated.top(rest, validateTop(rest));
    } catch (error) {
      if (error instanceof ConfigError) return undefined;
      throw error;
    }
    const providers: Record<string, unknown> = {};
    for (const name of names) {
      const checked = validated.provider(name, sections[name], validateProvider(name, sections[name]));
      if (checked instanceof ConfigError) return undefined;
      providers[name] = checked;
    }
    return assemble(top, providers);
  };

  // Without `${store:…}` references the early values are the final ones: validated part by
  // part, they fill the memo, and are the first resolution's answer (see `resolve`).
  const { providers: earlySections, ...earlyRest } = early.value;
  let loaded = early.deferred.length > 0 ? undefined : validParts(earlyRest, earlySections);
  if (loaded === undefined) {
    const checked = resolvedConfigSchema.safeParse({ ...early.value, store: storeSection.value });
    if (!checked.success) {
      const deferred = new Set(early.deferred);
      const issues = issuesOf(checked.error).filter((issue) => !deferred.has(issue.path));
      if (issues.length > 0) throw new ConfigError(issues);
    }
  }
  const policy = deepFreeze(resolvedConfigSchema.shape.policy.parse(early.value.policy));
  const store = deepFreeze(resolvedConfigSchema.shape.store.parse(storeSection.value));

  return Object.freeze({
    path,
    store,
    policy,
    logLevel: raw.log_level,
    providerNames,
    async resolve(lookup: StoreLookup): Promise<Config> {
      // The first resolution of a config without store references is the one loading just
      // made, from the same environment and files: `run` and `validate` read each
      // `${file:…}` credential once, not twice. Later calls (the daemon's passes) read again.
      if (loaded !== undefined) {
        const config = loaded;
        loaded = undefined;
        return config;
      }
      const resolved = await resolveReferences(raw, { env, store: lookup });
      if (resolved.issues.length > 0) throw new ConfigError(resolved.issues, { code: ErrorCodes.CONFIG_REFERENCE });
      const [failure] = resolved.storeFailures;
      if (failure !== undefined) throw storeErrorOf(failure);
      const { providers: sections, ...rest } = resolved.value;
      // Validated part by part through the memo, so the daemon's first pass reuses what its
      // check at start validated (and built); the whole config is validated at once only
      // to report its issues, in the order the schema finds them.
      const parts = validParts(rest, sections);
      if (parts !== undefined) return parts;
      const final = resolvedConfigSchema.safeParse({ ...resolved.value, store: storeSection.value });
      if (!final.success) throw new ConfigError(issuesOf(final.error));
      return deepFreeze(final.data);
    },
    async resolveEach(lookup: StoreLookup, only?: readonly string[]): Promise<PartialConfig> {
      const resolved = await resolveReferences(only === undefined ? raw : withProviders(raw, only), {
        env,
        store: lookup,
      });
      const issues = byProvider(resolved.issues, (issue) => issue.path);
      const outside = issues.get(undefined);
      if (outside !== undefined) throw new ConfigError(outside, { code: ErrorCodes.CONFIG_REFERENCE });
      const storeFailures = byProvider(resolved.storeFailures, (failure) => failure.path);
      const [storeFailure] = storeFailures.get(undefined) ?? [];
      if (storeFailure !== undefined) throw storeErrorOf(storeFailure);

      const { providers: sections, ...rest } = resolved.value;
      const top = validated.top(rest, validateTop(rest));
      const failures = new Map<string, ConfigError | StoreError>();
      const providers: Record<string, unknown> = {};
      for (const [name, section] of Object.entries(sections)) {
        const referenceIssues = issues.get(name);
        const [failure] = storeFailures.get(name) ?? [];
        if (referenceIssues !== undefined) {
          failures.set(name, new ConfigError(referenceIssues, { code: ErrorCodes.CONFIG_REFERENCE }));
        } else if (failure !== undefined) {
          failures.set(name, storeErrorOf(failure));
        } else {
          const checked = validated.provider(name, section, validateProvider(name, section));
          if (checked instanceof ConfigError) failures.set(name, checked);
          else providers[name] = checked;
        }
      }
      return {
        names: providerNames,
        config: assemble(top, providers),
        failures,
      };
    },
  });
}

/** Reads and parses the config file at `path`. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new ConfigError([{ path: '', message: `cannot read config file ${path} (${code})` }], { cause: error });
  }
  return parseConfig(text, path, env);
}
