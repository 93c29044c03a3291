/**
 * The `kind: oauth2` section: any RFC 6749 token endpoint, by client credentials, the
 * password grant, or `refresh_token` alone (a refresh token imported with
 * `token-rotator import`, kept alive by refresh; see docs/import.md).
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
  const { text, url, seconds } = kit;
  return z
    .strictObject({
      kind: z.literal('oauth2'),
      token_url: url(),
      grant: z
        ._default(z.enum(OAUTH2_GRANTS), 'client_credentials')
        .check(
          z.describe(
            'How a token is obtained: client_credentials, password, or refresh_token (only refreshes a token imported with `token-rotator import`)',
          ),
        ),
      client_id: text(),
      username: z.optional(text()),
      password: z.optional(kit.secret()),
      body: z._default(z.enum(['form', 'json', 'multipart']), 'form'),
      scope: z.optional(text()),
      audience: z.optional(text()),
      headers: headersField(kit),
      refresh_lifetime_seconds: z.optional(seconds()),
      ...revocationFields(kit),
      ...clientAuthFields(kit),
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
      z.superRefine(checkRefreshOnly),
      z.superRefine(checkRevocation),
      z.superRefine(checkClientAuth),
    );
}

/**
 * The grants an `oauth2` provider gets its tokens by. `refresh_token` has no way to
 * re-authenticate: it only refreshes a refresh token imported with
 * `token-rotator import` (RFC 6749 §6), for a provider whose first token came from an
 * authorization-code flow the rotator cannot run.
 * @see https://www.rfc-editor.org/rfc/rfc6749#section-6
 */
export const OAUTH2_GRANTS = ['client_credentials', 'password', 'refresh_token'] as const;

/** One of {@link OAUTH2_GRANTS}. */
export type OAuth2Grant = (typeof OAUTH2_GRANTS)[number];

/** `grant: refresh_token` can only refresh: `renewal: reauthenticate` would leave it nothing to do. */
function checkRefreshOnly(
  value: { grant: OAuth2Grant; renewal?: string | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  if (value.grant === 'refresh_token' && value.renewal === 'reauthenticate')
    ctx.addIssue({
      code: 'custom',
      path: ['renewal'],
      message: 'grant refresh_token cannot re-authenticate: it only refreshes an imported refresh token',
    });
}

// ─── Revocation (RFC 7009, issue 14) ──────────────────────────────────────────────────

/**
 * The revocation fields of an `oauth2` section: where tokens are revoked, and whether the
 * engine revokes the tokens each re-authentication supersedes. `token-rotator revoke`
 * uses `revocation_url` whatever `revoke_superseded` says. See docs/revocation.md.
 * @see https://www.rfc-editor.org/rfc/rfc7009
 */
function revocationFields(kit: FieldKit) {
  return {
    revocation_url: z
      .optional(kit.url())
      .check(
        z.describe(
          'The RFC 7009 revocation endpoint; enables `token-rotator revoke` and revoke_superseded. The client authenticates as at token_url',
        ),
      ),
    revoke_superseded: z
      ._default(z.boolean(), false)
      .check(
        z.describe(
          'After a re-authentication is published, revoke the access and refresh tokens it replaced (needs revocation_url). Consumers still holding the old access token lose it at once: for consumers that read the token again on a 401',
        ),
      ),
  };
}

/** `revoke_superseded` needs somewhere to revoke. */
function checkRevocation(
  value: { revocation_url?: string | undefined; revoke_superseded: boolean },
  ctx: z.core.$RefinementCtx,
): void {
  if (value.revoke_superseded && value.revocation_url === undefined)
    ctx.addIssue({ code: 'custom', path: ['revoke_superseded'], message: 'needs revocation_url' });
}

/** A resolved `oauth2` section. */
export type OAuth2ProviderConfig = z.output<ReturnType<typeof oauth2Schema>>;

// ─── Client authentication (issue 14) ─────────────────────────────────────────────────
// Kept apart from the section above on purpose: the fields below are spread into it and
// checked by `checkClientAuth`, so converting the section's style touches only the spread.

/**
 * How the client proves who it is at the token endpoint: `body` (`client_secret` in the
 * form, RFC 6749 §2.3.1), `basic` (HTTP Basic), `private_key_jwt` (a JWT signed with
 * `private_key`, RFC 7523 §2.2) or `tls_client_auth` (the TLS client certificate,
 * RFC 8705 §2.1).
 */
export const CLIENT_AUTH_METHODS = ['body', 'basic', 'private_key_jwt', 'tls_client_auth'] as const;

/** One of {@link CLIENT_AUTH_METHODS}. */
export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

/** The fields each method needs, and so the only ones it accepts. */
const FIELDS_OF_METHOD = {
  body: ['client_secret'],
  basic: ['client_secret'],
  private_key_jwt: ['private_key'],
  tls_client_auth: ['tls_certificate', 'tls_key'],
} as const satisfies Record<ClientAuthMethod, readonly string[]>;

/** The fields that belong to one method or another (`key_id` and `assertion_audience` go with `private_key`). */
const METHOD_FIELDS = ['client_secret', 'private_key', 'key_id', 'assertion_audience', 'tls_certificate', 'tls_key'];

/** The client-authentication fields of an `oauth2` section; spread into its `z.object`. */
function clientAuthFields(kit: FieldKit) {
  const { text, secret } = kit;
  const described = <T extends z.ZodMiniType>(schema: T, description: string) =>
    z.optional(schema).check(z.describe(description));
  return {
    client_auth: z
      ._default(z.enum(CLIENT_AUTH_METHODS), 'body')
      .check(
        z.describe(
          'How the client authenticates: body or basic (client_secret), private_key_jwt (RFC 7523), tls_client_auth (RFC 8705)',
        ),
      ),
    client_secret: described(secret(), 'body and basic: the client secret (a reference)'),
    private_key: described(
      kit.pkcs8Key(),
      'private_key_jwt: PKCS#8 PEM key that signs the assertion (a reference); RSA → RS256, EC P-256/384/521 → ES256/384/512, Ed25519',
    ),
    key_id: described(text(), 'private_key_jwt: the kid of the key, when the server holds several'),
    assertion_audience: described(
      text(),
      'private_key_jwt: the aud of the assertion; default the token_url (RFC 7523 §3), or set the issuer',
    ),
    tls_certificate: described(
      text(),
      'tls_client_auth: the client certificate (chain), PEM, usually a ${file:…} reference',
    ),
    tls_key: described(kit.pemKey(), "tls_client_auth: the certificate's PEM private key (a reference)"),
    tls_ca: described(
      text(),
      "Any method: PEM CA certificates that the token endpoint's certificate must chain to, in place of the system CAs",
    ),
  };
}

/**
 * Requires the fields of the chosen `client_auth` and refuses those of the other methods,
 * so a section never carries a credential it does not use.
 */
function checkClientAuth(
  value: { client_auth: ClientAuthMethod } & Partial<Record<string, unknown>>,
  ctx: z.core.$RefinementCtx,
): void {
  const needed: readonly string[] = FIELDS_OF_METHOD[value.client_auth];
  for (const field of needed) {
    if (value[field] === undefined)
      ctx.addIssue({ code: 'custom', path: [field], message: `required for client_auth ${value.client_auth}` });
  }
  const allowed = value.client_auth === 'private_key_jwt' ? [...needed, 'key_id', 'assertion_audience'] : needed;
  for (const field of METHOD_FIELDS) {
    if (value[field] !== undefined && !allowed.includes(field))
      ctx.addIssue({ code: 'custom', path: [field], message: `not used by client_auth ${value.client_auth}` });
  }
}
