/**
 * The schema of the rotation policy: the global `policy:` section, and the per-provider
 * overrides every provider kind accepts. It lives in this leaf so the config (which
 * composes the file) and the provider kinds (which own their sections) share one
 * definition.
 */
import { z } from 'zod';
import type { FieldKit } from './fields.js';

/**
 * The global `policy:` section; every field has a default.
 * @example policySchema(fieldKit('resolved')).parse({}).schedule // '*\/5 * * * *'
 */
export function policySchema(kit: FieldKit) {
  const { seconds } = kit;
  return z
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
}

/** A provider's `policy:` overrides: the global fields but the schedule and the concurrency, all optional. */
export function providerPolicySchema(kit: FieldKit) {
  return policySchema(kit).omit({ schedule: true, timezone: true, concurrency: true }).partial().strict();
}
