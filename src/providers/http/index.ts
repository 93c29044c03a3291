/**
 * The `http` provider: a token endpoint described in config. Each call computes its
 * built-ins once (one instant, one UUID), renders the signed string and signs it, renders
 * the headers and the body, sends them through the shared transport (`shared/http.ts`:
 * HTTPS rule, timeout, size cap, 5xx/429 and network classification), and reads the
 * answer by JSON pointers.
 * @see docs/http-provider.md
 */
import { createHmac, createPrivateKey, createSign, type KeyObject, randomUUID } from 'node:crypto';
import { ProviderError } from '../../errors.js';
import type { CallOptions, TokenProvider, TokenSet } from '../contract.js';
import { encodeBody, post, type RawResponse } from '../shared/http.js';
import {
  classifyRefusal,
  type ErrorClassification,
  isSuccess,
  type MappingDefaults,
  mapToken,
  type ResponseMapping,
  type SuccessCondition,
} from './response.js';
import { type HttpProviderConfig, type JsonTemplate, type RequestSection, templateIssues } from './schema.js';
import { type CallValues, parseTemplate, render, type Template } from './template.js';

/** Lifetime assumed when the answer gives none and the section sets no `default_lifetime_seconds`. */
export const HTTP_FALLBACK_SECONDS = 3600;

/** What a test may replace: the clock, the UUIDs and the transport. */
export interface HttpProviderDependencies {
  readonly now?: () => Date;
  readonly uuid?: () => string;
  readonly fetch?: typeof fetch;
}

/** A string of a JSON body, parsed; a class so no JSON value is ever mistaken for one. */
class TemplateLeaf {
  constructor(readonly template: Template) {}
}

/** A JSON body with its templates parsed. */
type JsonPlan = TemplateLeaf | number | boolean | null | JsonPlan[] | { readonly [key: string]: JsonPlan };

/** One request, parsed once at build time. */
interface RequestPlan {
  readonly url: string;
  readonly method: string;
  readonly headers: readonly (readonly [string, Template])[];
  readonly body:
    | { readonly encoding: 'json'; readonly value: JsonPlan }
    | { readonly encoding: 'form' | 'multipart'; readonly fields: readonly (readonly [string, Template])[] }
    | undefined;
}

function planJson(value: JsonTemplate): JsonPlan {
  if (typeof value === 'string') return new TemplateLeaf(parseTemplate(value));
  if (Array.isArray(value)) return value.map(planJson);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, planJson(item)]));
  return value;
}

function renderJson(plan: JsonPlan, values: CallValues): unknown {
  if (plan === null || typeof plan !== 'object') return plan;
  if (plan instanceof TemplateLeaf) return render(plan.template, values);
  if (Array.isArray(plan)) return plan.map((item) => renderJson(item, values));
  return Object.fromEntries(Object.entries(plan).map(([key, item]) => [key, renderJson(item, values)]));
}

function planRequest(url: string, request: RequestSection, headers: Readonly<Record<string, string>> | undefined) {
  const fields = (record: Readonly<Record<string, string>>) =>
    Object.entries(record).map(([name, text]) => [name, parseTemplate(text)] as const);
  const body = request.body;
  const plan: RequestPlan = {
    url,
    method: request.method ?? 'POST',
    headers: fields(headers ?? {}),
    body:
      body?.json !== undefined
        ? { encoding: 'json', value: planJson(body.json) }
        : body?.form !== undefined
          ? { encoding: 'form', fields: fields(body.form) }
          : body?.multipart !== undefined
            ? { encoding: 'multipart', fields: fields(body.multipart) }
            : undefined,
  };
  return plan;
}

/** The signer of `signature`, its key parsed once. */
function signer(signature: NonNullable<HttpProviderConfig['signature']>): (text: string) => string {
  if (signature.algorithm === 'hmac-sha256') {
    const secret = signature.secret;
    if (secret === undefined) throw new TypeError('signature.secret is required for hmac-sha256');
    return (text) => createHmac('sha256', secret).update(text, 'utf8').digest(signature.encoding);
  }
  if (signature.key === undefined) throw new TypeError('signature.key is required for rsa-sha256');
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: signature.key, format: 'pem' });
  } catch {
    throw new TypeError('signature.key is not a readable PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new TypeError('signature.key must be an RSA key for rsa-sha256');
  return (text) => createSign('sha256').update(text, 'utf8').sign(key, signature.encoding);
}

/**
 * Builds an `http` provider from its resolved section; templates are parsed and keys
 * loaded now, so a bad section fails at start-up.
 * @throws {TypeError} naming the field at fault, never quoting a value.
 */
export function createHttpProvider(
  config: HttpProviderConfig,
  timeoutMs: number,
  dependencies: HttpProviderDependencies = {},
): TokenProvider {
  const [issue] = templateIssues(config);
  if (issue !== undefined) throw new TypeError(`${issue.path.join('.')}: ${issue.message}`);

  const now = dependencies.now ?? (() => new Date());
  const uuid = dependencies.uuid ?? randomUUID;
  const secrets: Readonly<Record<string, string>> = { ...config.secrets };
  const sign = config.signature === undefined ? undefined : signer(config.signature);
  const over = config.signature === undefined ? undefined : parseTemplate(config.signature.over);

  const obtainPlan = planRequest(config.url, config, config.headers);
  const refreshPlan =
    config.refresh === undefined
      ? undefined
      : planRequest(
          config.refresh.url ?? config.url,
          { ...config.refresh, method: config.refresh.method ?? config.method },
          config.refresh.headers ?? config.headers,
        );

  const { response } = config;
  const condition: SuccessCondition = {
    status: response.success.status,
    pointer: response.success.pointer,
    equals: response.success.equals,
    startsWith: response.success.starts_with,
  };
  const mapping: ResponseMapping = {
    accessToken: response.access_token,
    tokenType: response.token_type,
    ...(response.expires_at === undefined
      ? { expiresIn: response.expires_in ?? '/expires_in' }
      : { expiresAt: response.expires_at }),
    refreshToken: response.refresh_token,
    refreshExpiresIn: response.refresh_expires_in,
  };
  const defaults: MappingDefaults = {
    lifetimeSeconds: config.default_lifetime_seconds ?? HTTP_FALLBACK_SECONDS,
    refreshLifetimeSeconds: config.refresh_lifetime_seconds,
    keepRefreshToken: refreshPlan !== undefined,
  };
  const classification: ErrorClassification = config.errors;

  async function exchange(
    plan: RequestPlan,
    call: 'obtain' | 'refresh',
    refreshToken: string | undefined,
    options: CallOptions | undefined,
  ): Promise<TokenSet> {
    const instant = now();
    const base: CallValues = {
      now: instant,
      uuid: uuid(),
      secrets,
      ...(refreshToken === undefined ? {} : { refreshToken }),
    };
    const values: CallValues =
      sign === undefined || over === undefined ? base : { ...base, signature: sign(render(over, base)) };

    let body: string | FormData = '';
    let contentType: string | undefined;
    if (plan.body !== undefined) {
      const encoded =
        plan.body.encoding === 'json'
          ? { body: JSON.stringify(renderJson(plan.body.value, values)), contentType: 'application/json' }
          : encodeBody(
              plan.body.encoding,
              Object.fromEntries(plan.body.fields.map(([name, template]) => [name, render(template, values)])),
            );
      body = encoded.body;
      contentType = encoded.contentType;
    }
    // The body's content-type first, as the built-in kinds send it, unless the section sets its own.
    const headers: Record<string, string> =
      contentType === undefined || plan.headers.some(([name]) => name.toLowerCase() === 'content-type')
        ? {}
        : { 'content-type': contentType };
    for (const [name, template] of plan.headers) headers[name] = render(template, values);

    const raw: RawResponse = await post(
      plan.url,
      { method: plan.method, headers, body },
      {
        timeoutMs,
        ...(options?.signal ? { signal: options.signal } : {}),
        ...(dependencies.fetch ? { fetch: dependencies.fetch } : {}),
      },
    );
    const answer = parseAnswer(raw);
    // A status that may carry a token, without JSON, is malformed; a refusal may well be HTML.
    if (answer === undefined && condition.status.includes(raw.status))
      throw new ProviderError('permanent', `token endpoint answered HTTP ${raw.status} with a body that is not JSON`, {
        status: raw.status,
        reason: 'malformed_response',
      });
    if (!isSuccess(raw.status, answer, condition)) throw classifyRefusal(raw.status, answer, classification, call);
    return mapToken(raw.status, answer, mapping, defaults, instant);
  }

  return {
    kind: 'http',
    obtain: (options) => exchange(obtainPlan, 'obtain', undefined, options),
    ...(refreshPlan === undefined
      ? {}
      : {
          refresh: (refreshToken: string, options?: CallOptions) =>
            exchange(refreshPlan, 'refresh', refreshToken, options),
        }),
  };
}

/** The answer's JSON, or `undefined` when it is not JSON (a refusal may be HTML; a success may not). */
function parseAnswer(raw: RawResponse): unknown {
  try {
    return JSON.parse(Buffer.from(raw.body).toString('utf8'));
  } catch {
    return undefined;
  }
}
