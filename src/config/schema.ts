/**
 * The configuration schema: the one source of the config's types, composed from the
 * registries. Each provider kind and store kind owns its section (`providers/<kind>/`,
 * `stores/<kind>/`); this file adds the policy, the provider names, the webhooks, the
 * fan-out (`stores` and `publish_to`) and the log level, and imports no backend.
 *
 * A config is parsed twice with the same definitions (see `common/fields.ts`): `raw`
 * checks the file as written, `resolved` the values its references produced.
 */
import { fieldKit, type SchemaMode } from '../common/fields.js';
import { LOG_LEVELS } from '../common/log-levels.js';
import { policySchema } from '../common/policy.js';
import { webhooksSchema } from '../common/webhooks.js';
import * as z from '../common/zod.js';
import { providerSchema } from '../providers/registry.js';
import { DEFAULT_STORE, storeSchema } from '../stores/registry.js';

export { type FieldKit, fieldKit, type SchemaMode } from '../common/fields.js';

const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** The names of further stores (`stores.<name>`), spelt as provider names are. */
const STORE_NAME = PROVIDER_NAME;

function build(mode: SchemaMode) {
  const kit = fieldKit(mode);
  const policy = policySchema(kit);
  return z.strictObject({
    $schema: z.optional(z.string()),
    store: z._default(storeSchema(kit), DEFAULT_STORE),
    policy: z._default(policy, () => policy.parse({})),
    providers: z
      .record(
        z.string().check(z.regex(PROVIDER_NAME, 'provider names are lower-case letters, digits, - and _')),
        providerSchema(kit),
      )
      .check(z.refine((providers) => Object.keys(providers).length > 0, 'at least one provider is required')),
    log_level: z._default(z.enum(LOG_LEVELS), 'info'),
    webhooks: webhooksSchema(kit),
    /** Further stores, by name, that public records are also published to (see `publish_to`). */
    stores: z.optional(
      z.record(
        z.string().check(z.regex(STORE_NAME, 'store names are lower-case letters, digits, - and _')),
        storeSchema(kit),
      ),
    ),
    /**
     * Per provider, the names of the `stores` its public record is also published to
     * (fan-out). The primary `store` keeps the state and the lease; these get only the public record.
     */
    publish_to: z.optional(
      z.record(
        z.string(),
        z
          .array(z.string())
          .check(z.refine((names) => new Set(names).size === names.length, 'names a store more than once')),
      ),
    ),
  });
}

/** An issue of {@link publishToIssues}: where in the config, and what is wrong. */
interface NameIssue {
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * Every `publish_to` key is a configured provider and every store it names is one of
 * `stores`. Checked on the file as written (references change neither), so a wrong name
 * stops the config at load, with the field's path.
 */
function publishToIssues(config: {
  readonly providers: Record<string, unknown>;
  readonly stores?: Record<string, unknown> | undefined;
  readonly publish_to?: Record<string, readonly string[]> | undefined;
}): NameIssue[] {
  const issues: NameIssue[] = [];
  const known = Object.keys(config.stores ?? {});
  for (const [provider, names] of Object.entries(config.publish_to ?? {})) {
    if (!Object.hasOwn(config.providers, provider)) {
      issues.push({ path: ['publish_to', provider], message: `no provider named ${provider}` });
    }
    names.forEach((name, index) => {
      if (known.includes(name)) return;
      const list = known.length > 0 ? ` (stores: ${known.join(', ')})` : ' (there is no stores section)';
      issues.push({ path: ['publish_to', provider, index], message: `no store named ${name}${list}` });
    });
  }
  return issues;
}

/** The schema of a config file as written. */
export const rawConfigSchema = build('raw').check(
  z.superRefine((config, ctx) => {
    for (const issue of publishToIssues(config)) ctx.addIssue({ code: 'custom', input: config, ...issue });
  }),
);
/** The schema of a config after its references were resolved. */
export const resolvedConfigSchema = build('resolved');

/** A validated, resolved configuration. */
export type Config = z.infer<typeof resolvedConfigSchema>;
export type PolicyConfig = Config['policy'];
export type ProviderPolicyConfig = NonNullable<ProviderConfig['policy']>;
export type ProviderConfig = Config['providers'][string];
export type StoreConfig = Config['store'];
export type ExtraStoresConfig = NonNullable<Config['stores']>;
export type WebhookConfig = NonNullable<Config['webhooks']>[number];
export type ProviderKind = ProviderConfig['kind'];
export type StoreKind = StoreConfig['kind'];

/** The JSON Schema of the config file, for editors (`token-rotator schema`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(rawConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
