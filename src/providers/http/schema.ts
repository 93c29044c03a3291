/**
 * The `kind: http` section: a token endpoint described in config instead of code. The
 * request (method, URL, headers, a JSON, form or multipart body) is written with
 * templates (`template.ts`), an optional signature covers a template string, and the
 * answer is read by JSON pointers (`response.ts`).
 * @see docs/http-provider.md
 */
import type { FieldKit } from '../../common/fields.js';
import * as z from '../../common/zod.js';
import { commonProviderFields } from '../shared/fields.js';
import { isJsonPointer, RFC6749_ERRORS, RFC6749_MAPPING } from './response.js';
import { type BuiltIn, builtInsOf, type ParseOptions, parseTemplate, secretsOf, TemplateError } from './template.js';

/** HTTP methods a token endpoint may be called with; GET sends no body. */
export const HTTP_METHODS = ['POST', 'PUT', 'PATCH', 'GET'] as const;

/** RFC 9110 §5.6.2: a header name is a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Names of `secrets` entries, as `{{secret:NAME}}` writes them. */
const SECRET_NAME = /^[A-Za-z0-9_-]+$/;

/** A JSON body as written: strings are templates, other values are sent as they are. */
export type JsonTemplate = string | number | boolean | null | JsonTemplate[] | { [key: string]: JsonTemplate };

const jsonTemplate: z.ZodMiniType<JsonTemplate> = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.null(),
  z.array(z.lazy(() => jsonTemplate)),
  z.record(
    z.string(),
    z.lazy(() => jsonTemplate),
  ),
]);

function pointer(description: string) {
  return z
    .string()
    .check(z.refine(isJsonPointer, 'must be a JSON pointer (RFC 6901): "" or /a/b'), z.describe(description));
}

function pointerWithDefault(fallback: string, description: string) {
  return z._default(pointer(description), fallback);
}

/** One request: headers and a body whose string values are templates. */
function requestFields(kit: FieldKit) {
  const { text } = kit;
  return {
    method: z
      .optional(z.enum(HTTP_METHODS))
      .check(z.describe('HTTP method of the token request (default POST); GET sends no body')),
    headers: z
      .optional(z.record(z.string().check(z.regex(HEADER_NAME, 'must be an HTTP header name')), text()))
      .check(
        z.describe(
          'Request headers; each value is a template ({{now:…}}, {{uuid}}, {{secret:NAME}}, {{signature}}). content-type is set from the body unless given',
        ),
      ),
    body: z
      .optional(
        z
          .strictObject({
            json: z
              .optional(jsonTemplate)
              .check(z.describe('A JSON body; every string in it is a template, other values are sent as written')),
            form: z
              .optional(z.record(z.string().check(z.minLength(1)), z.string()))
              .check(z.describe('An application/x-www-form-urlencoded body: field → template')),
            multipart: z
              .optional(z.record(z.string().check(z.minLength(1)), z.string()))
              .check(z.describe('A multipart/form-data body: field → template')),
          })
          .check(
            z.superRefine((body, ctx) => {
              const given = (['json', 'form', 'multipart'] as const).filter((key) => body[key] !== undefined);
              if (given.length !== 1)
                ctx.addIssue({ code: 'custom', path: [], message: 'give exactly one of json, form or multipart' });
            }),
          ),
      )
      .check(z.describe('The request body: exactly one of json, form or multipart')),
  };
}

/**
 * The schema of an `http` provider for one parsing pass.
 * @example
 * ```yaml
 * partner:
 *   kind: http
 *   url: https://auth.example.com/oauth/token
 *   secrets: { client_secret: ${env:PARTNER_SECRET} }
 *   body:
 *     form: { grant_type: client_credentials, client_id: partner, client_secret: "{{secret:client_secret}}" }
 * ```
 */
export function httpSchema(kit: FieldKit) {
  const { url, seconds, text } = kit;
  const response = z.strictObject({
    success: z.prefault(
      z
        .strictObject({
          // Array defaults are described inside: `.check()` on a default would share one array (common/zod.ts).
          status: z._default(
            z
              .array(z.number().check(z.int(), z.minimum(100), z.maximum(599)))
              .check(z.minLength(1), z.describe('HTTP statuses that may carry a token (default [200])')),
            () => [200],
          ),
          pointer: z.optional(pointer('For a wrapped answer: the member that says whether it succeeded')),
          equals: z
            .optional(z.union([z.string(), z.number(), z.boolean()]))
            .check(z.describe('The member at pointer must equal this')),
          starts_with: z
            .optional(z.string())
            .check(z.describe('The member at pointer must be a string starting with this')),
        })
        .check(z.superRefine(checkCondition)),
      {},
    ),
    access_token: pointerWithDefault(RFC6749_MAPPING.accessToken, 'Where the access token is (default /access_token)'),
    token_type: pointerWithDefault(
      RFC6749_MAPPING.tokenType,
      'Where the token type is (default /token_type; absent means Bearer)',
    ),
    expires_in: z.optional(
      pointer('Where the lifetime in seconds is (default /expires_in; absent means default_lifetime_seconds)'),
    ),
    expires_at: z.optional(
      pointer('Instead of expires_in: where the absolute expiry is, as Unix seconds or an ISO 8601 date'),
    ),
    refresh_token: pointerWithDefault(
      RFC6749_MAPPING.refreshToken,
      'Where the refresh token is (default /refresh_token); kept only when a refresh request is configured',
    ),
    refresh_expires_in: pointerWithDefault(
      RFC6749_MAPPING.refreshExpiresIn,
      "Where the refresh token's lifetime in seconds is (default /refresh_expires_in)",
    ),
  });
  const errors = z.strictObject({
    pointer: pointerWithDefault(RFC6749_ERRORS.pointer, 'Where the error code of a refusal is (default /error)'),
    retryable: z._default(
      z
        .array(text())
        .check(
          z.describe('Error codes worth retrying later (default temporarily_unavailable, server_error, slow_down)'),
        ),
      () => [...RFC6749_ERRORS.retryable],
    ),
    reauthenticate: z._default(
      z
        .array(text())
        .check(
          z.describe(
            'Error codes that, on a refresh, mean the refresh token is dead (default invalid_grant); any other code is permanent',
          ),
        ),
      () => [...RFC6749_ERRORS.reauthenticate],
    ),
  });

  return z
    .strictObject({
      kind: z.literal('http'),
      url: url().check(z.describe('The token endpoint (https://, or http:// on loopback)')),
      ...requestFields(kit),
      secrets: z
        .optional(
          z.record(z.string().check(z.regex(SECRET_NAME, 'secret names are letters, digits, - and _')), kit.secret()),
        )
        .check(
          z.describe(
            'Credentials, each a reference (${env:…}, ${file:…}, ${store:…}), used in templates as {{secret:NAME}}',
          ),
        ),
      signature: z
        .optional(
          z
            .strictObject({
              algorithm: z
                .enum(['rsa-sha256', 'hmac-sha256'])
                .check(z.describe('rsa-sha256: RSASSA-PKCS1-v1_5 with key; hmac-sha256: HMAC keyed by secret')),
              key: z
                .optional(kit.pkcs8Key())
                .check(z.describe('rsa-sha256: the PKCS#8 PEM RSA private key (a reference)')),
              secret: z.optional(kit.secret()).check(z.describe('hmac-sha256: the HMAC key (a reference)')),
              over: text().check(
                z.describe(
                  'The string signed, a template, e.g. "${env:CLIENT_ID}|{{now:yyyy-MM-ddTHH:mm:ssXXX@+07:00}}"; its built-ins have the values the request sends',
                ),
              ),
              encoding: z
                ._default(z.enum(['base64', 'hex']), 'base64')
                .check(z.describe('How {{signature}} is written (default base64)')),
            })
            .check(z.superRefine(checkSignatureKey)),
        )
        .check(z.describe('A signature over a template, placed by {{signature}} in a header or body value')),
      response: z
        .prefault(response, {})
        .check(z.describe('How to read the answer: JSON pointers (RFC 6901) and the success condition')),
      errors: z
        .prefault(errors, {})
        .check(z.describe('How a refusal is classified by its error code (RFC 6749 §5.2 by default)')),
      refresh: z
        .optional(
          z.strictObject({
            url: z.optional(url()).check(z.describe('Default: url')),
            ...requestFields(kit),
          }),
        )
        .check(
          z.describe(
            'The refresh request (RFC 6749 §6), sent when a refresh token is held; its templates may use {{refresh_token}}; headers default to the top-level ones',
          ),
        ),
      refresh_lifetime_seconds: z
        .optional(seconds())
        .check(z.describe('Refresh token lifetime when the answer does not give one')),
      ...commonProviderFields(kit),
    })
    .check(z.superRefine(checkTemplates(kit.raw)));
}

/** A resolved `http` section. */
export type HttpProviderConfig = z.output<ReturnType<typeof httpSchema>>;

function checkCondition(
  value: { pointer?: string | undefined; equals?: unknown; starts_with?: string | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  if (value.equals !== undefined && value.starts_with !== undefined)
    ctx.addIssue({ code: 'custom', path: ['starts_with'], message: 'give either equals or starts_with, not both' });
  if (value.pointer === undefined && (value.equals !== undefined || value.starts_with !== undefined))
    ctx.addIssue({ code: 'custom', path: ['pointer'], message: 'required with equals or starts_with' });
  if (value.pointer !== undefined && value.equals === undefined && value.starts_with === undefined)
    ctx.addIssue({ code: 'custom', path: ['pointer'], message: 'give equals or starts_with with it' });
}

function checkSignatureKey(
  value: { algorithm: 'rsa-sha256' | 'hmac-sha256'; key?: string | undefined; secret?: string | undefined },
  ctx: z.core.$RefinementCtx,
): void {
  const [needed, unused] =
    value.algorithm === 'rsa-sha256' ? (['key', 'secret'] as const) : (['secret', 'key'] as const);
  if (value[needed] === undefined)
    ctx.addIssue({ code: 'custom', path: [needed], message: `required for ${value.algorithm}` });
  if (value[unused] !== undefined)
    ctx.addIssue({ code: 'custom', path: [unused], message: `not used by ${value.algorithm}` });
}

/** Every template of a request, with its path in the section. */
interface TemplateSite {
  readonly path: readonly (string | number)[];
  readonly text: string;
}

/** What a request (the token request, or `refresh`) describes: its headers and body templates. */
export type RequestSection = {
  readonly method?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
  readonly body?:
    | {
        readonly json?: JsonTemplate | undefined;
        readonly form?: Readonly<Record<string, string>> | undefined;
        readonly multipart?: Readonly<Record<string, string>> | undefined;
      }
    | undefined;
};

function jsonSites(value: JsonTemplate, path: readonly (string | number)[]): TemplateSite[] {
  if (typeof value === 'string') return [{ path, text: value }];
  if (Array.isArray(value)) return value.flatMap((item, index) => jsonSites(item, [...path, index]));
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, item]) => jsonSites(item, [...path, key]));
  return [];
}

/** The templates of one request's headers and body. */
function requestSites(request: RequestSection, prefix: readonly string[] = []): TemplateSite[] {
  const sites: TemplateSite[] = [];
  for (const [name, text] of Object.entries(request.headers ?? {}))
    sites.push({ path: [...prefix, 'headers', name], text });
  const body = request.body;
  if (body?.json !== undefined) sites.push(...jsonSites(body.json, [...prefix, 'body', 'json']));
  for (const encoding of ['form', 'multipart'] as const) {
    for (const [name, text] of Object.entries(body?.[encoding] ?? {}))
      sites.push({ path: [...prefix, 'body', encoding, name], text });
  }
  return sites;
}

/** What {@link templateIssues} reads of a section. */
export type TemplatedSection = RequestSection & {
  readonly method?: (typeof HTTP_METHODS)[number] | undefined;
  readonly secrets?: Readonly<Record<string, string>> | undefined;
  readonly signature?: { readonly over: string } | undefined;
  readonly refresh?: (RequestSection & { readonly method?: (typeof HTTP_METHODS)[number] | undefined }) | undefined;
  readonly response?: { readonly expires_in?: string | undefined; readonly expires_at?: string | undefined };
};

/** One problem {@link templateIssues} found. */
export interface SectionIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

function hasContentType(headers: Readonly<Record<string, string>> | undefined): boolean {
  return Object.keys(headers ?? {}).some((name) => name.toLowerCase() === 'content-type');
}

/**
 * Every problem of the section's templates, by path: a template that does not parse, a
 * built-in used where it has no value (`{{signature}}` without `signature`, in `over`
 * itself; `{{refresh_token}}` outside the refresh request; an unknown `{{secret:NAME}}`),
 * a signature or a secret that nothing uses, and the request shapes HTTP refuses (a GET
 * with a body, a multipart body with a fixed content-type). Shared by the schema (so
 * `validate` names the field) and the factory (which refuses to build a bad section).
 * Messages never quote a template: a reference may have put a credential in it.
 */
export function templateIssues(section: TemplatedSection, options: ParseOptions = {}): SectionIssue[] {
  const issues: SectionIssue[] = [];
  const secretNames = new Set(Object.keys(section.secrets ?? {}));
  const usedSecrets = new Set<string>();
  let signatureUsed = false;

  const check = (site: TemplateSite, forbidden: ReadonlyMap<BuiltIn, string>): void => {
    let parsed: ReturnType<typeof parseTemplate>;
    try {
      parsed = parseTemplate(site.text, options);
    } catch (error) {
      if (!(error instanceof TemplateError)) throw error;
      issues.push({ path: site.path, message: error.message });
      return;
    }
    for (const builtIn of builtInsOf(parsed)) {
      const why = forbidden.get(builtIn);
      if (why !== undefined) issues.push({ path: site.path, message: why });
    }
    if (builtInsOf(parsed).has('signature')) signatureUsed = true;
    for (const name of secretsOf(parsed)) {
      usedSecrets.add(name);
      if (!secretNames.has(name))
        issues.push({
          path: site.path,
          message: `${options.quoteNames ? `{{secret:${name}}}` : 'a {{secret:…}}'} names no entry of secrets`,
        });
    }
  };

  const noSignature =
    section.signature === undefined ? 'uses {{signature}}, but no signature is configured' : undefined;
  const obtainRules = new Map<BuiltIn, string>([
    ['refresh_token', '{{refresh_token}} is usable in the refresh request only'],
    ...(noSignature === undefined ? [] : [['signature', noSignature] as const]),
  ]);
  const refreshRules = new Map<BuiltIn, string>(noSignature === undefined ? [] : [['signature', noSignature]]);

  for (const site of requestSites(section)) check(site, obtainRules);
  if (section.refresh !== undefined) {
    const sites = requestSites(section.refresh, ['refresh']);
    for (const site of sites) check(site, refreshRules);
    const sendsRefreshToken = sites.some((site) => {
      try {
        return builtInsOf(parseTemplate(site.text)).has('refresh_token');
      } catch {
        return true; // already reported
      }
    });
    if (!sendsRefreshToken)
      issues.push({ path: ['refresh', 'body'], message: 'the refresh request never sends {{refresh_token}}' });
  }
  if (section.signature !== undefined) {
    check(
      { path: ['signature', 'over'], text: section.signature.over },
      new Map<BuiltIn, string>([
        ['signature', 'a signature cannot cover itself'],
        ['refresh_token', 'the signed string cannot use {{refresh_token}}'],
      ]),
    );
    if (!signatureUsed) issues.push({ path: ['signature'], message: 'no header or body value uses {{signature}}' });
  }
  for (const name of secretNames) {
    if (!usedSecrets.has(name)) issues.push({ path: ['secrets', name], message: 'no template uses this secret' });
  }

  for (const [request, prefix] of [
    [section, []],
    [section.refresh, ['refresh']],
  ] as const) {
    if (request === undefined) continue;
    const inherited = request === section.refresh;
    const method = request.method ?? (inherited ? section.method : undefined);
    if (method === 'GET' && request.body !== undefined)
      issues.push({ path: [...prefix, 'body'], message: 'a GET request sends no body' });
    const headers = request.headers ?? (inherited ? section.headers : undefined);
    if (request.body?.multipart !== undefined && hasContentType(headers))
      issues.push({
        path: [...prefix, 'headers'],
        message: 'a multipart body sets its own content-type (with its boundary): remove content-type',
      });
  }
  if (section.response?.expires_in !== undefined && section.response.expires_at !== undefined)
    issues.push({ path: ['response', 'expires_at'], message: 'give either expires_in or expires_at, not both' });
  return issues;
}

/** The template check of one pass: the raw pass reads the file as written, so it may quote names. */
function checkTemplates(quoteNames: boolean) {
  return (section: TemplatedSection, ctx: z.core.$RefinementCtx): void => {
    for (const issue of templateIssues(section, { quoteNames }))
      ctx.addIssue({ code: 'custom', path: [...issue.path], message: issue.message });
  };
}
