/**
 * The configuration schema: the one source of the config's types, composed from the
 * registries. Each provider kind and store kind owns its section (`providers/<kind>/`,
 * `stores/<kind>/`); this file adds the policy, the provider names,
 * the webhooks and the log level, and imports no backend.
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
  });
}

/** The schema of a config file as written. */
export const rawConfigSchema = build('raw');
/** The schema of a config after its references were resolved. */
export const resolvedConfigSchema = build('resolved');

/** A validated, resolved configuration. */
export type Config = z.infer<typeof resolvedConfigSchema>;
export type PolicyConfig = Config['policy'];
export type ProviderPolicyConfig = NonNullable<ProviderConfig['policy']>;
export type ProviderConfig = Config['providers'][string];
export type StoreConfig = Config['store'];
export type WebhookConfig = NonNullable<Config['webhooks']>[number];
export type ProviderKind = ProviderConfig['kind'];
export type StoreKind = StoreConfig['kind'];

/** The JSON Schema of the config file, for editors (`token-rotator schema`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(rawConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
