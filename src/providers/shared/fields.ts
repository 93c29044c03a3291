/**
 * Settings every provider kind accepts next to its own fields.
 */
import type { FieldKit } from '../../common/fields.js';
import { providerPolicySchema } from '../../common/policy.js';
import * as z from '../../common/zod.js';

/** The fields shared by every provider kind's section; spread them into its `z.strictObject`. */
export function commonProviderFields(kit: FieldKit) {
  return {
    renewal: z
      ._default(z.enum(['refresh', 'reauthenticate']), 'refresh')
      .check(z.describe('Prefer refreshing, or a fresh grant each time (no revocation of the previous token)')),
    default_lifetime_seconds: z
      .optional(kit.seconds())
      .check(z.describe('Lifetime assumed when the server sends no expires_in')),
    policy: z.optional(providerPolicySchema(kit)),
  };
}

/** Extra HTTP headers sent with a token request. */
export function headersField(kit: FieldKit) {
  return z.optional(z.record(z.string().check(z.minLength(1)), kit.text()));
}
