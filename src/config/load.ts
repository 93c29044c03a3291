/**
 * Loading a config: read, parse YAML or JSON, validate, resolve references, freeze.
 * Everything that can be checked without the store is checked before the store is
 * built, so a bad file fails fast and touches nothing.
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import type { z } from 'zod';
import { passesPerDay } from '../common/schedule.js';
import { ConfigError, type ConfigIssue, ErrorCodes } from '../errors.js';
import { planStore } from '../stores/registry.js';
import { resolveReferences, type StoreLookup } from './references.js';
import { type Config, rawConfigSchema, resolvedConfigSchema, type StoreConfig } from './schema.js';

/** The default config path, unless `--config` or `TOKEN_ROTATOR_CONFIG` names another. */
export const DEFAULT_CONFIG_PATH = 'token-rotator.yaml';

type RawConfig = z.infer<typeof rawConfigSchema>;

function issuesOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): ConfigIssue[] {
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
  resolve(store: StoreLookup): Promise<Config>;
}

/** Parses config text (YAML or JSON) that came from `path`. */
export async function parseConfig(
  text: string,
  path: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<LoadedConfig> {
  let document: unknown;
  try {
    document = parseYaml(text, { prettyErrors: false });
  } catch (error) {
    const where = error instanceof YAMLParseError && error.linePos ? ` at line ${error.linePos[0].line}` : '';
    throw new ConfigError([{ path: '', message: `${path}: not valid YAML or JSON${where}` }], { cause: error });
  }
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
  const checked = resolvedConfigSchema.safeParse({ ...early.value, store: storeSection.value });
  if (!checked.success) {
    const deferred = new Set(early.deferred);
    const issues = issuesOf(checked.error).filter((issue) => !deferred.has(issue.path));
    if (issues.length > 0) throw new ConfigError(issues);
  }
  const policy = deepFreeze(resolvedConfigSchema.shape.policy.parse(early.value.policy));
  const store = deepFreeze(withStoreBudget(resolvedConfigSchema.shape.store.parse(storeSection.value), policy));

  return Object.freeze({
    path,
    store,
    policy,
    logLevel: raw.log_level,
    async resolve(lookup: StoreLookup): Promise<Config> {
      const resolved = await resolveReferences(raw, { env, store: lookup });
      if (resolved.issues.length > 0) throw new ConfigError(resolved.issues, { code: ErrorCodes.CONFIG_REFERENCE });
      const final = resolvedConfigSchema.safeParse({ ...resolved.value, store: storeSection.value });
      if (!final.success) throw new ConfigError(issuesOf(final.error));
      return deepFreeze(final.data);
    },
  });
}

/**
 * Settings of the store that follow from the schedule (the AWS ring size), completed by
 * the store kind's own hook.
 * @throws {ConfigError} when the schedule or a configured size would break the store's budget.
 */
function withStoreBudget(store: StoreConfig, policy: Config['policy']): StoreConfig {
  let passes: number | undefined;
  let planned: ReturnType<typeof planStore>;
  try {
    planned = planStore(store, { passesPerDay: () => (passes ??= passesPerDay(policy.schedule, policy.timezone)) });
  } catch {
    return store; // an invalid schedule is reported where the schedule is used
  }
  if (planned.issues.length > 0) throw new ConfigError(planned.issues);
  return resolvedConfigSchema.shape.store.parse(planned.config);
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
