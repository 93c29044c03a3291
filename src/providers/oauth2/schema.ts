/**
 * The `kind: oauth2` section: any RFC 6749 token endpoint, by client credentials or the
 * password grant.
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';
import { commonProviderFields, headersField } from '../shared/fields.js';

/**
 * The schema of an `oauth2` provider for one parsing pass.
 * @example
 * ```yaml
 * billing:
 *   kind: oauth2
 *   token_url: https://auth.example.com/oauth/token
 *   client_id: billing-rotator
 *   client_secret: ${env:BILLING_SECRET}
 * ```
 */
export function oauth2Schema(kit: FieldKit) {
  const { text, secret, url, seconds } = kit;
  return z
    .strictObject({
      kind: z.literal('oauth2'),
      token_url: url(),
      grant: z._default(z.enum(['client_credentials', 'password']), 'client_credentials'),
      client_id: text(),
      client_secret: secret(),
      username: z.optional(text()),
      password: z.optional(secret()),
      body: z._default(z.enum(['form', 'json', 'multipart']), 'form'),
      client_auth: z._default(z.enum(['body', 'basic']), 'body'),
      scope: z.optional(text()),
      audience: z.optional(text()),
      headers: headersField(kit),
      refresh_lifetime_seconds: z.optional(seconds()),
      ...commonProviderFields(kit),
    })
    .check(
      z.superRefine((value, ctx) => {
        if (value.grant === 'password') {
          if (value.username === undefined)
            ctx.addIssue({ code: 'custom', path: ['username'], message: 'required for the password grant' });
          if (value.password === undefined)
            ctx.addIssue({ code: 'custom', path: ['password'], message: 'required for the password grant' });
        }
      }),
    );
}

/** A resolved `oauth2` section. */
export type OAuth2ProviderConfig = z.output<ReturnType<typeof oauth2Schema>>;
