/**
 * The schema of the rotation policy: the global `policy:` section, and the per-provider
 * overrides every provider kind accepts. It lives in this leaf so the config (which
 * composes the file) and the provider kinds (which own their sections) share one
 * definition.
 */
import type { FieldKit } from './fields.js';
import * as z from './zod.js';

/**
 * The global `policy:` section; every field has a default.
 * @example policySchema(fieldKit('resolved')).parse({}).schedule // '*\/5 * * * *'
 */
export function policySchema(kit: FieldKit) {
  const { seconds } = kit;
  return z.strictObject({
    schedule: z
      ._default(z.string(), '*/5 * * * *')
      .check(z.describe('Cron expression of the passes (node-cron syntax, optional seconds field)')),
    timezone: z
      .optional(z.string())
      .check(z.describe('IANA time zone of the schedule (default: the process time zone)')),
    renew_before_fraction: z
      ._default(z.number().check(z.gt(0, 'must be above 0'), z.lt(1, 'must be below 1')), 0.25)
      .check(z.describe('Renew when less than this fraction of the token lifetime remains')),
    min_margin_seconds: z._default(seconds(), 60).check(z.describe('Never let a token get closer to expiry than this')),
    jitter_fraction: z
      ._default(z.number().check(z.minimum(0), z.maximum(0.2, 'must be at most 0.2')), 0.05)
      .check(z.describe('Spread renewals by up to this fraction of the lifetime, per provider, deterministically')),
    lease_seconds: z
      ._default(seconds(), 120)
      .check(z.describe('How long a runner may hold a provider before others take over')),
    request_timeout_seconds: z._default(seconds(), 15),
    retries: z
      ._default(z.number().check(z.int(), z.minimum(0), z.maximum(10)), 2)
      .check(z.describe('Extra attempts for retryable failures in one pass')),
    max_retry_wait_seconds: z._default(seconds(), 30).check(z.describe('Longest Retry-After honoured within a pass')),
    backoff_base_seconds: z._default(seconds(), 60).check(z.describe('First wait after a permanent failure')),
    backoff_max_seconds: z._default(seconds(), 3600),
    concurrency: z
      ._default(z.number().check(z.int(), z.minimum(1), z.maximum(64)), 4)
      .check(z.describe('Providers rotated at once')),
  });
}

/** A provider's `policy:` overrides: the global fields but the schedule and the concurrency, all optional. */
export function providerPolicySchema(kit: FieldKit) {
  // Still strict: omit and partial keep the section's refusal of unknown keys.
  return z.partial(z.omit(policySchema(kit), { schedule: true, timezone: true, concurrency: true }));
}
