/**
 * The `kind: keliweb` section: Keliweb API v2 or Fatture, by preset or base URL.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';
import { commonProviderFields } from '../shared/fields.js';

/** The schema of a `keliweb` provider for one parsing pass. */
export function keliwebSchema(kit: FieldKit) {
  const { text, secret, url, seconds } = kit;
  return z
    .strictObject({
      kind: z.literal('keliweb'),
      preset: z
        .optional(z.enum(['api-v2', 'fatture']))
        .check(z.describe('api-v2: apiv2.keliweb.it, fatture: fatture.keliweb.it')),
      base_url: z.optional(url()).check(z.describe('Overrides the preset (the sandbox, a proxy)')),
      client_id: text(),
      client_secret: secret(),
      username: text(),
      password: secret(),
      body: z._default(z.enum(['form', 'multipart']), 'form'),
      refresh_lifetime_seconds: z._default(seconds(), 864_000),
      ...commonProviderFields(kit),
    })
    .check(
      z.superRefine((value, ctx) => {
        if ((value.preset === undefined) === (value.base_url === undefined)) {
          ctx.addIssue({ code: 'custom', path: ['preset'], message: 'give exactly one of preset or base_url' });
        }
      }),
    );
}

/** A resolved `keliweb` section. */
export type KeliwebProviderConfig = z.output<ReturnType<typeof keliwebSchema>>;
