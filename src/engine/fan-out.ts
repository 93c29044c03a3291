/**
 * Fan-out: a provider's public record also published to further stores (`publish_to`,
 * issue 14). The primary store keeps the state and the lease; a secondary holds only
 * public records, each a copy of the primary's, moved forward by generation exactly as
 * {@link publishBehind} moves the primary's (read, compare the generation, compare-and-set).
 *
 * A secondary never blocks the primary: its failures are logged (`warn`, code
 * {@link PUBLISH_SECONDARY_FAILED}) and reported, never thrown, and the next pass that
 * reads the provider's state publishes to it again.
 */

import { describeError } from '../errors.js';
import type { Logger } from '../observability/logger.js';
import type { SecretStore } from '../stores/contract.js';
import { publicFromState } from './publish.js';
import { recordPaths, type StateRecord, stateRecordSchema } from './records.js';
import { parsePublic, updateRecord } from './records-io.js';

/** The code a failed secondary write is logged and reported with. */
export const PUBLISH_SECONDARY_FAILED = 'PUBLISH_SECONDARY_FAILED';

/** A store a provider's public record is also published to, by the name config gives it (`stores.<name>`). */
export interface Secondary {
  readonly name: string;
  readonly store: SecretStore;
}

/** A secondary the public record could not be published to this pass (safe to print: no token). */
export interface PublishFailure {
  /** The secondary's name in config. */
  readonly store: string;
  readonly code: typeof PUBLISH_SECONDARY_FAILED;
  /** Why, as the store error described it (store errors never quote a record's value). */
  readonly message: string;
}

/** Rounds against other runners publishing to the same secondary before giving up this pass. */
const FAN_OUT_ATTEMPTS = 3;

/**
 * Publishes the public record `state` stands for to each secondary where it is missing,
 * of another layout, or of an older generation; a secondary holding the same or a newer
 * generation is left as it is. All secondaries are written concurrently.
 * @returns the secondaries that failed (empty when every one is up to date); never throws.
 */
export async function publishToSecondaries(
  provider: string,
  state: StateRecord,
  secondaries: readonly Secondary[],
  logger: Logger,
): Promise<PublishFailure[]> {
  const desired = publicFromState(provider, state);
  if (desired === undefined || secondaries.length === 0) return [];
  const results = await Promise.all(
    secondaries.map(async (secondary): Promise<PublishFailure | undefined> => {
      try {
        const result = await updateRecord(secondary.store, recordPaths.public(provider), {
          parse: parsePublic,
          next: (current) => (current !== undefined && current.generation >= desired.generation ? undefined : desired),
          attempts: FAN_OUT_ATTEMPTS,
          labels: { provider, expires_at: desired.expires_at },
          // One try per round: a secondary that does not answer must not hold the pass up.
          retry: { attempts: 1 },
        });
        if (result.written) {
          logger.info(
            { secondary: secondary.name, generation: desired.generation },
            'published token to secondary store',
          );
        }
        return undefined;
      } catch (error) {
        const message = describeError(error);
        logger.warn(
          {
            secondary: secondary.name,
            generation: desired.generation,
            code: PUBLISH_SECONDARY_FAILED,
            err: { message },
          },
          'could not publish token to secondary store; retried next pass',
        );
        return { store: secondary.name, code: PUBLISH_SECONDARY_FAILED, message };
      }
    }),
  );
  return results.filter((failure) => failure !== undefined);
}

/** The state record a pass last saw of a provider, when it has the layout; else `undefined`. */
export function seenState(value: Record<string, unknown> | undefined): StateRecord | undefined {
  if (value === undefined) return undefined;
  const parsed = stateRecordSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/**
 * The secondaries a config names, built on first use and kept while their section is
 * unchanged (the config's resolution returns the same objects while nothing behind its
 * references changed); one whose section changed is closed and built anew.
 */
export class SecondaryStores<C extends object> {
  readonly #create: (config: C) => Promise<SecretStore>;
  readonly #built = new Map<string, { readonly config: C; readonly store: SecretStore }>();
  readonly #retired: SecretStore[] = [];

  /** @param create builds a store from its config section (the store registry's factory). */
  constructor(create: (config: C) => Promise<SecretStore>) {
    this.#create = create;
  }

  /** The secondaries `names` select from the `stores` section; a name it lacks is skipped (config checked them). */
  select(sections: Readonly<Record<string, C>> | undefined, names: readonly string[]): Secondary[] {
    const selected: Secondary[] = [];
    for (const name of names) {
      const config = sections?.[name];
      if (config === undefined) continue;
      let built = this.#built.get(name);
      if (built === undefined || built.config !== config) {
        if (built !== undefined) this.#retired.push(built.store);
        this.#built.delete(name);
        const store = deferredStore(this.#create(config), () => {
          // Reported as that secondary's failure at each call, and built again by the next pass.
          if (this.#built.get(name)?.store === store) this.#built.delete(name);
        });
        built = { config, store };
        this.#built.set(name, built);
      }
      selected.push({ name, store: built.store });
    }
    return selected;
  }

  /** Closes every store built. */
  async close(): Promise<void> {
    const stores = [...this.#retired, ...[...this.#built.values()].map((built) => built.store)];
    this.#built.clear();
    this.#retired.length = 0;
    await Promise.allSettled(stores.map((store) => store.close()));
  }
}

/**
 * A store still being built (its kind's module imported): each call waits for it. One that
 * could not be built fails every call with the reason, so it is reported as any failed
 * secondary; `onFailure` runs once, when the build fails.
 */
function deferredStore(building: Promise<SecretStore>, onFailure: () => void): SecretStore {
  const ready = building.catch((error: unknown) => {
    onFailure();
    throw error instanceof Error ? error : new Error(String(error));
  });
  // The rejection is seen by every call; this keeps an unused store from reporting it as unhandled.
  ready.catch(() => {});
  return {
    kind: 'secondary',
    capabilities: { compareAndSet: false },
    read: async (path, usage) => (await ready).read(path, usage),
    write: async (path, value, expected, options) => (await ready).write(path, value, expected, options),
    close: async () => {
      const store = await ready.catch(() => undefined);
      await store?.close();
    },
  };
}

/**
 * Publishes, for each provider that has `publish_to` secondaries, the public record of the
 * state record a pass last saw of it (read, or written by a rotation) to those secondaries.
 * A provider the pass did not read (skipped as fresh between full checks, see
 * `runtimes/full-check.ts`) is not published: the next pass that reads it repairs its
 * secondaries.
 * @returns per provider, the secondaries that failed (absent when none did).
 */
export async function fanOut(
  seen: ReadonlyMap<string, Record<string, unknown>>,
  secondariesOf: (provider: string) => readonly Secondary[],
  logger: Logger,
): Promise<Map<string, PublishFailure[]>> {
  const failures = new Map<string, PublishFailure[]>();
  await Promise.all(
    [...seen].map(async ([provider, value]) => {
      const secondaries = secondariesOf(provider);
      if (secondaries.length === 0) return;
      const state = seenState(value);
      if (state === undefined) return;
      const failed = await publishToSecondaries(provider, state, secondaries, logger.child({ provider }));
      if (failed.length > 0) failures.set(provider, failed);
    }),
  );
  return failures;
}
