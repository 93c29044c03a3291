/**
 * Settings every provider kind accepts next to its own fields.
 */
import { z } from 'zod';
import type { FieldKit } from '../../common/fields.js';
import { providerPolicySchema } from '../../common/policy.js';

/** The fields shared by every provider kind's section; spread them into its `z.object`. */
export function commonProviderFields(kit: FieldKit) {
  return {
    renewal: z
      .enum(['refresh', 'reauthenticate'])
      .default('refresh')
      .describe('Prefer refreshing, or a fresh grant each time (no revocation of the previous token)'),
    default_lifetime_seconds: kit.seconds().optional().describe('Lifetime assumed when the server sends no expires_in'),
    policy: providerPolicySchema(kit).optional(),
  };
}

/** Extra HTTP headers sent with a token request. */
export function headersField(kit: FieldKit) {
  return z.record(z.string().min(1), kit.text()).optional();
}
