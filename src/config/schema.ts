/**
 * The configuration schema: the one source of the config's types.
 *
 * A config is parsed twice with the same definitions. The `raw` pass checks the file as
 * written, where any string may hold `${env:…}`, `${file:…}` or `${store:…}` references
 * and credentials must be references. The `resolved` pass checks the values the
 * references produced (URLs, UUIDs, PEM keys), so a bad value is reported with its
 * field path too.
 */
import { z } from 'zod';
import { isWholeReference } from './references.js';
import { vaultStoreSchema } from '../stores/vault/config.js';
import { awsStoreSchema } from '../stores/aws/config.js';

/** Which pass a schema is built for. */
export type SchemaMode = 'raw' | 'resolved';

const REFERENCE_HINT = 'must be a reference (${env:NAME}, ${file:/path} or ${store:PATH#KEY}), never plain text';

/** True for a URL allowed to carry credentials: HTTPS, or HTTP on a loopback address. */
export function isSafeTokenUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && isLoopbackHost(url.hostname);
}

/** True for `localhost`, `127.0.0.0/8` and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

const PROVIDER_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/**
 * Field builders shared by every part of the schema, including the store backends'
 * sections (`src/stores/<kind>/config.ts`), so credentials are references everywhere.
 */
export function fieldKit(mode: SchemaMode) {
  const raw = mode === 'raw';
  return {
    raw,
    /** Any non-empty string; in the raw pass it may contain references. */
    text: () => z.string().min(1, 'must not be empty'),
    /** A credential: in the file it must be a reference, so no secret is ever committed. */
    secret: () => (raw ? z.string().refine(isWholeReference, REFERENCE_HINT) : z.string().min(1, 'resolved to an empty value')),
    /** A URL that carries credentials: HTTPS, or HTTP on loopback (the sandbox and tests). */
    url: () =>
      raw
        ? z.string().refine((v) => isWholeReference(v) || isSafeTokenUrl(v), 'must be an https:// URL (http:// only on loopback)')
        : z.string().refine(isSafeTokenUrl, 'must be an https:// URL (http:// only on loopback)'),
    seconds: () => z.number().int('must be a whole number of seconds').positive('must be positive'),
  };
}

/** The field builders of one pass. */
export type FieldKit = ReturnType<typeof fieldKit>;

function build(mode: SchemaMode) {
  const { raw, text, secret, url, seconds } = fieldKit(mode);

  const policy = z
    .object({
      schedule: z
        .string()
        .default('*/5 * * * *')
        .describe('Cron expression of the passes (node-cron syntax, optional seconds field)'),
      timezone: z.string().optional().describe('IANA time zone of the schedule (default: the process time zone)'),
      renew_before_fraction: z
        .number()
        .gt(0, 'must be above 0')
        .lt(1, 'must be below 1')
        .default(0.25)
        .describe('Renew when less than this fraction of the token lifetime remains'),
      min_margin_seconds: seconds().default(60).describe('Never let a token get closer to expiry than this'),
      jitter_fraction: z
        .number()
        .min(0)
        .max(0.2, 'must be at most 0.2')
        .default(0.05)
        .describe('Spread renewals by up to this fraction of the lifetime, per provider, deterministically'),
      lease_seconds: seconds().default(120).describe('How long a runner may hold a provider before others take over'),
      request_timeout_seconds: seconds().default(15),
      retries: z.number().int().min(0).max(10).default(2).describe('Extra attempts for retryable failures in one pass'),
      max_retry_wait_seconds: seconds().default(30).describe('Longest Retry-After honoured within a pass'),
      backoff_base_seconds: seconds().default(60).describe('First wait after a permanent failure'),
      backoff_max_seconds: seconds().default(3600),
      concurrency: z.number().int().min(1).max(64).default(4).describe('Providers rotated at once'),
    })
    .strict();

  const providerPolicy = policy.omit({ schedule: true, timezone: true, concurrency: true }).partial().strict();

  const common = {
    renewal: z
      .enum(['refresh', 'reauthenticate'])
      .default('refresh')
      .describe('Prefer refreshing, or a fresh grant each time (no revocation of the previous token)'),
    default_lifetime_seconds: seconds().optional().describe('Lifetime assumed when the server sends no expires_in'),
    policy: providerPolicy.optional(),
  };

  const headers = z.record(z.string().min(1), text()).optional();

  const oauth2 = z
    .object({
      kind: z.literal('oauth2'),
      token_url: url(),
      grant: z.enum(['client_credentials', 'password']).default('client_credentials'),
      client_id: text(),
      client_secret: secret(),
      username: text().optional(),
      password: secret().optional(),
      body: z.enum(['form', 'json', 'multipart']).default('form'),
      client_auth: z.enum(['body', 'basic']).default('body'),
      scope: text().optional(),
      audience: text().optional(),
      headers,
      refresh_lifetime_seconds: seconds().optional(),
      ...common,
    })
    .strict()
    .superRefine((value, ctx) => {
      if (value.grant === 'password') {
        if (value.username === undefined) ctx.addIssue({ code: 'custom', path: ['username'], message: 'required for the password grant' });
        if (value.password === undefined) ctx.addIssue({ code: 'custom', path: ['password'], message: 'required for the password grant' });
      }
    });

  const keliweb = z
    .object({
      kind: z.literal('keliweb'),
      preset: z.enum(['api-v2', 'fatture']).optional().describe('api-v2: apiv2.keliweb.it, fatture: fatture.keliweb.it'),
      base_url: url().optional().describe('Overrides the preset (the sandbox, a proxy)'),
      client_id: text(),
      client_secret: secret(),
      username: text(),
      password: secret(),
      body: z.enum(['form', 'multipart']).default('form'),
      refresh_lifetime_seconds: seconds().default(864_000),
      ...common,
    })
    .strict()
    .superRefine((value, ctx) => {
      if ((value.preset === undefined) === (value.base_url === undefined)) {
        ctx.addIssue({ code: 'custom', path: ['preset'], message: 'give exactly one of preset or base_url' });
      }
    });

  const klikoo = z
    .object({
      kind: z.literal('klikoo'),
      base_url: url(),
      client_id: raw ? text() : text().regex(UUID_V4, 'must be a UUID v4 (36 characters)'),
      client_secret: raw ? secret() : secret().refine((v) => v.length === 32, 'must be 32 characters'),
      private_key: raw
        ? secret()
        : secret().refine((v) => v.includes('-----BEGIN PRIVATE KEY-----'), 'must be a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)'),
      ...common,
    })
    .strict();

  const provider = z.discriminatedUnion('kind', [oauth2, keliweb, klikoo]);

  const fileStore = z
    .object({
      kind: z.literal('file'),
      directory: text().default('.token-rotator').describe('Where records are kept, one JSON file each'),
    })
    .strict();

  const store = z.discriminatedUnion('kind', [fileStore, vaultStoreSchema(fieldKit(mode)), awsStoreSchema(fieldKit(mode))]);

  return z
    .object({
      $schema: z.string().optional(),
      store: store.default({ kind: 'file', directory: '.token-rotator' }),
      policy: policy.default(() => policy.parse({})),
      providers: z
        .record(z.string().regex(PROVIDER_NAME, 'provider names are lower-case letters, digits, - and _'), provider)
        .refine((providers) => Object.keys(providers).length > 0, 'at least one provider is required'),
      log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .strict();
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
export type ProviderKind = ProviderConfig['kind'];
export type StoreKind = StoreConfig['kind'];
/** The settings of one provider kind. */
export type ProviderConfigOf<K extends ProviderKind> = Extract<ProviderConfig, { kind: K }>;
export type StoreConfigOf<K extends StoreKind> = Extract<StoreConfig, { kind: K }>;

/** The JSON Schema of the config file, for editors (`token-rotator schema`). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(rawConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
}
