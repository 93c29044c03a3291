/**
 * The `http` kind's pieces, without a network: the template language, JSON pointers, the
 * success condition, the mapping of an answer, the classification of a refusal, the
 * section's validation, and the provider over an injected `fetch` (what it sends, what it
 * makes of what it gets). The real peer is in test/integration/http-provider.test.ts.
 */
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fieldKit } from '../../src/common/fields.js';
import { parseConfig } from '../../src/config/load.js';
import { configJsonSchema } from '../../src/config/schema.js';
import { ConfigError, ProviderError } from '../../src/errors.js';
import { createHttpProvider } from '../../src/providers/http/index.js';
import {
  classifyRefusal,
  isSuccess,
  mapToken,
  RFC6749_ERRORS,
  RFC6749_MAPPING,
  resolvePointer,
} from '../../src/providers/http/response.js';
import { type HttpProviderConfig, httpSchema } from '../../src/providers/http/schema.js';
import { formatInstant, parseTemplate, parseTimeFormat, render } from '../../src/providers/http/template.js';
import { createRotator } from '../../src/rotator.js';
import { MemoryStore } from '../helpers/memory-store.js';

const INSTANT = new Date('2022-03-21T03:11:40.789Z');
const SECRET = 'sk-5b1e0c7d2f9a4e63b8c1';

function templateError(text: string, quoteNames = true): string {
  try {
    parseTemplate(text, { quoteNames });
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the template parsed');
}

describe('the http template language', () => {
  describe('now', () => {
    it.each([
      ['yyyy-MM-ddTHH:mm:ssXXX@+07:00', '2022-03-21T10:11:40+07:00'],
      ['yyyy-MM-ddTHH:mm:ssXXX', '2022-03-21T03:11:40Z'],
      ['yyyy-MM-ddTHH:mm:ss.SSSxxx', '2022-03-21T03:11:40.789+00:00'],
      ['yyyy-MM-dd HH:mm:ss xxx@-03:30', '2022-03-20 23:41:40 -03:30'],
      ['yyyyMMddHHmmss@+14:00', '20220321171140'],
      ['unix', '1647832300'],
      ['unix_ms', '1647832300789'],
    ])('formats {{now:%s}} as %s, truncating the milliseconds', (pattern, expected) => {
      expect(formatInstant(INSTANT, parseTimeFormat(pattern))).toBe(expected);
    });

    it('formats a bare {{now}} as ISO 8601 to the second in UTC', () => {
      expect(render(parseTemplate('{{now}}'), { now: INSTANT, uuid: 'u', secrets: {} })).toBe('2022-03-21T03:11:40Z');
    });

    it.each([
      ['YYYY-MM-dd', /uses only yyyy MM dd/],
      ['hh:mm', /uses only yyyy MM dd/],
      ['unix.SSS', /whole pattern/],
      ['yyyy unix', /whole pattern/],
      ['yyyy@+7', /offset must be Z or ±HH:MM/],
      ['yyyy@+15:00', /between -14:00 and \+14:00/],
      ['@+07:00', /must not be empty/],
    ])('refuses the pattern %s', (pattern, message) => {
      expect(() => parseTimeFormat(pattern)).toThrow(message);
    });
  });

  it('renders text, built-ins and secrets, one value per built-in and call', () => {
    const template = parseTemplate('{{uuid}}|{{secret:key}}|{{now:unix}}|{{uuid}}|{{signature}}|{{refresh_token}}');

    const text = render(template, {
      now: INSTANT,
      uuid: 'c0ffee00-0000-4000-8000-000000000000',
      secrets: { key: 'K' },
      signature: 'SIG',
      refreshToken: 'RT',
    });

    expect(text).toBe('c0ffee00-0000-4000-8000-000000000000|K|1647832300|c0ffee00-0000-4000-8000-000000000000|SIG|RT');
  });

  it('leaves single braces and ${…} text alone', () => {
    expect(render(parseTemplate('{a} ${x} }}'), { now: INSTANT, uuid: 'u', secrets: {} })).toBe('{a} ${x} }}');
  });

  it.each([
    ['{{nonce}}', /unknown built-in \{\{nonce\}\}/],
    ['{{ uuid }}', /opens no built-in/],
    ['{{uuid', /opens no built-in/],
    ['{{uuid:4}}', /takes no argument/],
    ['{{secret}}', /needs the name of an entry of secrets/],
    ['{{now:YYYY}}', /uses only/],
  ])('refuses %s', (text, message) => {
    expect(templateError(text)).toMatch(message);
  });

  it('never quotes the template in an error, which may hold a referenced value', () => {
    expect(templateError(`${SECRET}{{${SECRET.slice(0, 2)}`)).not.toContain(SECRET);
    expect(templateError(`${SECRET}{{nonce}}`)).not.toContain(SECRET);
  });

  it('repeats no name between braces unless told the text is as written in the file', () => {
    expect(templateError('{{leakedname}}', false)).toBe(
      'unknown built-in: use one of now, uuid, secret, signature, refresh_token',
    );
  });
});

describe('JSON pointers (RFC 6901)', () => {
  const document = { a: { b: [10, { 'c/d': 1, 'e~f': 2 }] }, '': 'empty', n: null };

  it.each([
    ['', document],
    ['/a/b/0', 10],
    ['/a/b/1/c~1d', 1],
    ['/a/b/1/e~0f', 2],
    ['/', 'empty'],
    ['/n', null],
  ])('resolves %j', (pointer, expected) => {
    expect(resolvePointer(document, pointer)).toEqual(expected);
  });

  it.each([['/a/b/01'], ['/a/b/-'], ['/a/b/2'], ['/a/x'], ['/a/b/0/deeper'], ['/constructor'], ['/a/toString']])(
    'designates nothing at %s',
    (pointer) => {
      expect(resolvePointer(document, pointer)).toBeUndefined();
    },
  );

  it('refuses what is not a pointer', () => {
    expect(() => resolvePointer(document, 'a/b')).toThrow(TypeError);
    expect(() => resolvePointer(document, '/a~2')).toThrow(TypeError);
  });
});

describe('the success condition', () => {
  const wrapped = { response_code: '200012000', ok: true, n: 1 };

  it('requires a listed status', () => {
    expect(isSuccess(200, {}, { status: [200] })).toBe(true);
    expect(isSuccess(201, {}, { status: [200] })).toBe(false);
    expect(isSuccess(201, {}, { status: [200, 201] })).toBe(true);
  });

  it('compares a wrapped member exactly, or by prefix for a string', () => {
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/response_code', startsWith: '200' })).toBe(true);
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/response_code', startsWith: '401' })).toBe(false);
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/ok', equals: true })).toBe(true);
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/n', equals: '1' })).toBe(false);
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/n', startsWith: '1' })).toBe(false);
    expect(isSuccess(200, wrapped, { status: [200], pointer: '/missing', equals: true })).toBe(false);
  });
});

describe('mapping an answer to a token', () => {
  const defaults = { lifetimeSeconds: 900, keepRefreshToken: true, refreshLifetimeSeconds: 86_400 };
  const map = (body: unknown, mapping = RFC6749_MAPPING, options = defaults) =>
    mapToken(200, body, mapping, options, INSTANT);
  const malformed = (body: unknown, mapping = RFC6749_MAPPING): ProviderError => {
    try {
      map(body, mapping);
    } catch (error) {
      expect(error).toBeInstanceOf(ProviderError);
      expect(error).toMatchObject({ failureClass: 'permanent', reason: 'malformed_response', status: 200 });
      return error as ProviderError;
    }
    throw new Error('mapped');
  };

  it('reads the RFC 6749 members by default, and names a token type of bearer Bearer', () => {
    expect(
      map({
        access_token: 'at',
        token_type: 'bearer',
        expires_in: 3599.9,
        refresh_token: 'rt',
        refresh_expires_in: 60,
      }),
    ).toEqual({ accessToken: 'at', tokenType: 'Bearer', expiresIn: 3599, refreshToken: 'rt', refreshExpiresIn: 60 });
  });

  it('fills what the answer leaves out: Bearer, the default lifetimes', () => {
    expect(map({ access_token: 'at', refresh_token: 'rt', token_type: 'MAC' })).toEqual({
      accessToken: 'at',
      tokenType: 'MAC',
      expiresIn: 900,
      refreshToken: 'rt',
      refreshExpiresIn: 86_400,
    });
    expect(map({ access_token: 'at' })).toEqual({ accessToken: 'at', tokenType: 'Bearer', expiresIn: 900 });
  });

  it('drops the refresh token of a profile that cannot refresh', () => {
    expect(
      map({ access_token: 'at', refresh_token: 'rt' }, RFC6749_MAPPING, { ...defaults, keepRefreshToken: false }),
    ).toEqual({ accessToken: 'at', tokenType: 'Bearer', expiresIn: 900 });
  });

  it('reads an absolute expiry as Unix seconds or an ISO 8601 date', () => {
    const mapping = { ...RFC6749_MAPPING, expiresIn: undefined, expiresAt: '/exp' };
    const inSeconds = INSTANT.getTime() / 1000;

    expect(map({ access_token: 'at', exp: inSeconds + 600 }, mapping).expiresIn).toBe(600);
    expect(map({ access_token: 'at', exp: '2022-03-21T04:11:40.789Z' }, mapping).expiresIn).toBe(3600);
    expect(malformed({ access_token: 'at', exp: inSeconds - 1 }, mapping).message).toMatch(/not in the future/);
    expect(malformed({ access_token: 'at', exp: 'tomorrow' }, mapping).message).toMatch(/neither Unix seconds/);
  });

  it.each([
    ['no access token', { token_type: 'Bearer' }, /no access token at \/access_token/],
    ['an empty access token', { access_token: '' }, /no access token/],
    ['a numeric access token', { access_token: 12345 }, /no access token/],
    ['a zero lifetime', { access_token: 'at', expires_in: 0 }, /not a positive number/],
    ['a negative lifetime', { access_token: 'at', expires_in: -5 }, /not a positive number/],
    ['a lifetime as a string', { access_token: 'at', expires_in: '900' }, /not a positive number/],
    ['a lifetime under a second', { access_token: 'at', expires_in: 0.5 }, /not a positive number/],
    ['a token type that is not a string', { access_token: 'at', token_type: 1 }, /not a token type/],
    ['a refresh token that is not a string', { access_token: 'at', refresh_token: 7 }, /not a string/],
    ['a refresh lifetime of zero', { access_token: 'at', refresh_token: 'rt', refresh_expires_in: 0 }, /positive/],
    ['a JSON array', [], /no access token/],
  ])('takes %s for a malformed answer, never a token', (_what, body, message) => {
    expect(malformed(body).message).toMatch(message);
  });

  it('never puts a value of the answer into the message', () => {
    expect(malformed({ access_token: 'at', expires_in: SECRET }).message).not.toContain(SECRET);
  });
});

describe('classifying a refusal', () => {
  const classify = (status: number, body: unknown, call: 'obtain' | 'refresh' = 'obtain') =>
    classifyRefusal(status, body, RFC6749_ERRORS, call);

  it('asks to re-authenticate for invalid_grant on a refresh, and is permanent for it on the first call', () => {
    expect(classify(400, { error: 'invalid_grant' }, 'refresh')).toMatchObject({
      failureClass: 'reauthenticate',
      code: 'PROVIDER_REAUTHENTICATE',
      reason: 'invalid_grant',
      status: 400,
    });
    expect(classify(400, { error: 'invalid_grant' })).toMatchObject({ failureClass: 'permanent' });
  });

  it('retries the codes that say "later", and is permanent for every other code or none', () => {
    expect(classify(400, { error: 'temporarily_unavailable' })).toMatchObject({ failureClass: 'retryable' });
    expect(classify(401, { error: 'invalid_client' }, 'refresh')).toMatchObject({
      failureClass: 'permanent',
      reason: 'invalid_client',
    });
    expect(classify(403, undefined)).toMatchObject({ failureClass: 'permanent', reason: undefined });
    expect(classify(403, undefined).message).toBe('token endpoint refused the token request: HTTP 403, no error code');
  });

  it('reads a numeric code and a configured pointer and lists', () => {
    const klikoo = { pointer: '/response_code', retryable: ['503012000'], reauthenticate: [] };

    expect(classifyRefusal(401, { response_code: '401012000' }, klikoo, 'obtain')).toMatchObject({
      failureClass: 'permanent',
      reason: '401012000',
    });
    expect(classifyRefusal(200, { response_code: '503012000' }, klikoo, 'obtain')).toMatchObject({
      failureClass: 'retryable',
    });
    expect(classifyRefusal(400, { code: 42 }, { ...klikoo, pointer: '/code' }, 'obtain').reason).toBe('42');
  });

  it('keeps free text out of the message and the reason', () => {
    const error = classify(400, { error: `wrong secret ${SECRET}` });

    expect(error).toMatchObject({ failureClass: 'permanent', reason: undefined });
    expect(error.message).toBe('token endpoint refused the token request: HTTP 400, an unreadable error code');
  });
});

/** A one-provider config around `section` (YAML lines, indented for `providers.p`). */
function configText(section: readonly string[]): string {
  return [
    'providers:',
    '  p:',
    '    kind: http',
    '    url: https://auth.example.com/token',
    ...section.map((l) => `    ${l}`),
    '',
  ].join('\n');
}

async function configIssues(section: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    const loaded = await parseConfig(configText(section), 'test.yaml', { SECRET, ...env });
    await loaded.resolve(async () => undefined);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  return [];
}

describe('the http section', () => {
  it('loads a minimal section with the RFC 6749 defaults', async () => {
    const loaded = await parseConfig(
      configText(['secrets: { s: "${env:SECRET}" }', 'body: { form: { client_secret: "{{secret:s}}" } }']),
      'test.yaml',
      { SECRET },
    );
    const section = (await loaded.resolve(async () => undefined)).providers['p'];

    expect(section).toMatchObject({
      kind: 'http',
      response: {
        success: { status: [200] },
        access_token: '/access_token',
        token_type: '/token_type',
        refresh_token: '/refresh_token',
      },
      errors: RFC6749_ERRORS,
    });
  });

  it.each([
    [
      ['headers: { Sig: "{{signature}}" }'],
      'providers.p.headers.Sig: uses {{signature}}, but no signature is configured',
    ],
    [
      ['headers: { X: "{{nonce}}" }'],
      'providers.p.headers.X: unknown built-in {{nonce}}: use one of now, uuid, secret, signature, refresh_token',
    ],
    [
      ['body: { json: { a: [ "{{secret:nope}}" ] } }'],
      'providers.p.body.json.a.0: {{secret:nope}} names no entry of secrets',
    ],
    [['secrets: { unused: "${env:SECRET}" }'], 'providers.p.secrets.unused: no template uses this secret'],
    [
      ['secrets: { s: plain-text }', 'headers: { X: "{{secret:s}}" }'],
      'providers.p.secrets.s: must be a reference (${env:NAME}, ${file:/path} or ${store:PATH#KEY}), never plain text',
    ],
    [
      ['body: { form: { r: "{{refresh_token}}" } }'],
      'providers.p.body.form.r: {{refresh_token}} is usable in the refresh request only',
    ],
    [
      ['refresh: { body: { form: { grant_type: refresh_token } } }'],
      'providers.p.refresh.body: the refresh request never sends {{refresh_token}}',
    ],
    [['method: GET', 'body: { form: { a: b } }'], 'providers.p.body: a GET request sends no body'],
    [
      ['method: GET', 'refresh: { body: { form: { r: "{{refresh_token}}" } } }'],
      'providers.p.refresh.body: a GET request sends no body',
    ],
    [
      ['headers: { Content-Type: text/plain }', 'body: { multipart: { a: b } }'],
      'providers.p.headers: a multipart body sets its own content-type (with its boundary): remove content-type',
    ],
    [['body: { form: { a: b }, json: { a: b } }'], 'providers.p.body: give exactly one of json, form or multipart'],
    [
      ['response: { expires_in: /a, expires_at: /b }'],
      'providers.p.response.expires_at: give either expires_in or expires_at, not both',
    ],
    [
      ['response: { access_token: data.token }'],
      'providers.p.response.access_token: must be a JSON pointer (RFC 6901): "" or /a/b',
    ],
    [
      ['response: { success: { pointer: /code } }'],
      'providers.p.response.success.pointer: give equals or starts_with with it',
    ],
    [
      ['response: { success: { equals: 1 } }'],
      'providers.p.response.success.pointer: required with equals or starts_with',
    ],
    [['timeout: 5'], 'providers.p: Unrecognized key: "timeout"'],
    [['response: { acces_token: /a }'], 'providers.p.response: Unrecognized key: "acces_token"'],
  ])('refuses %j, naming the field', async (section, issue) => {
    expect(await configIssues(section)).toContain(issue);
  });

  it.each([
    [
      'rsa-sha256 without a key',
      ['headers: { S: "{{signature}}" }', 'signature: { algorithm: rsa-sha256, over: x, secret: "${env:SECRET}" }'],
      ['providers.p.signature.key: required for rsa-sha256', 'providers.p.signature.secret: not used by rsa-sha256'],
    ],
    [
      'a signature nothing places',
      ['signature: { algorithm: hmac-sha256, over: x, secret: "${env:SECRET}" }'],
      ['providers.p.signature: no header or body value uses {{signature}}'],
    ],
    [
      'a signature over itself',
      [
        'headers: { S: "{{signature}}" }',
        'signature: { algorithm: hmac-sha256, over: "{{signature}}", secret: "${env:SECRET}" }',
      ],
      ['providers.p.signature.over: a signature cannot cover itself'],
    ],
  ])('refuses %s', async (_what, section, issues) => {
    expect(await configIssues(section)).toEqual(issues);
  });

  it('refuses a template that a reference broke, without quoting the referenced value', async () => {
    const issues = await configIssues(['headers: { X: "a ${env:BROKEN}" }'], { BROKEN: `${SECRET}{{leakedname}}` });

    expect(issues).toEqual([
      'providers.p.headers.X: unknown built-in: use one of now, uuid, secret, signature, refresh_token',
    ]);
    expect(issues.join('\n')).not.toContain(SECRET);
    expect(issues.join('\n')).not.toContain('leakedname');
  });

  it('is described in the JSON Schema for editors', () => {
    const schema = JSON.stringify(configJsonSchema());

    expect(schema).toContain('"const":"http"');
    for (const described of [
      'The token endpoint (https://, or http:// on loopback)',
      'A signature over a template, placed by {{signature}} in a header or body value',
      'Where the access token is (default /access_token)',
      'Error codes that, on a refresh, mean the refresh token is dead (default invalid_grant); any other code is permanent',
    ])
      expect(schema).toContain(described);
  });
});

/** A resolved section, as the config loader would produce it. */
function section(fields: Record<string, unknown>): HttpProviderConfig {
  return httpSchema(fieldKit('resolved')).parse({ kind: 'http', url: 'https://auth.example.com/token', ...fields });
}

/** A fetch that records each request and answers `answers` in turn. */
function recordingFetch(...answers: Array<{ status?: number; body: unknown }>) {
  const requests: Request[] = [];
  const send: typeof fetch = async (input, init) => {
    requests.push(new Request(input, init));
    const answer = answers.shift() ?? { status: 500, body: {} };
    return new Response(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body), {
      status: answer.status ?? 200,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { requests, send };
}

describe('the http provider over an injected fetch', () => {
  it('signs with HMAC-SHA256 in hex over the same instant and UUID it sends', async () => {
    const { requests, send } = recordingFetch({ body: { access_token: 'at', expires_in: 60 } });
    const provider = createHttpProvider(
      section({
        headers: { 'X-Time': '{{now:unix}}', 'X-Sig': '{{signature}}' },
        secrets: { id: 'client-7' },
        body: { json: { id: '{{secret:id}}', nonce: '{{uuid}}', n: 1, ok: true, none: null, list: ['{{uuid}}'] } },
        signature: { algorithm: 'hmac-sha256', secret: SECRET, over: '{{now:unix}}.{{uuid}}', encoding: 'hex' },
      }),
      1000,
      { now: () => INSTANT, uuid: () => 'c0ffee00-0000-4000-8000-000000000000', fetch: send },
    );

    await expect(provider.obtain()).resolves.toEqual({ accessToken: 'at', tokenType: 'Bearer', expiresIn: 60 });

    const [request] = requests;
    expect(request?.method).toBe('POST');
    expect(request?.headers.get('content-type')).toBe('application/json');
    expect(request?.headers.get('x-time')).toBe('1647832300');
    expect(request?.headers.get('x-sig')).toBe(
      createHmac('sha256', SECRET).update('1647832300.c0ffee00-0000-4000-8000-000000000000').digest('hex'),
    );
    expect(await request?.text()).toBe(
      '{"id":"client-7","nonce":"c0ffee00-0000-4000-8000-000000000000","n":1,"ok":true,"none":null,"list":["c0ffee00-0000-4000-8000-000000000000"]}',
    );
  });

  it('computes new built-ins for each call', async () => {
    const { requests, send } = recordingFetch({ body: { access_token: 'a' } }, { body: { access_token: 'b' } });
    let uuids = 0;
    const provider = createHttpProvider(section({ headers: { 'X-Id': '{{uuid}}' } }), 1000, {
      uuid: () => `id-${++uuids}`,
      fetch: send,
    });

    await provider.obtain();
    await provider.obtain();

    expect(requests.map((request) => request.headers.get('x-id'))).toEqual(['id-1', 'id-2']);
  });

  it('sends a GET without a body and a PUT with its own content-type', async () => {
    const { requests, send } = recordingFetch({ body: { access_token: 'a' } }, { body: { access_token: 'b' } });

    await createHttpProvider(section({ method: 'GET' }), 1000, { fetch: send }).obtain();
    await createHttpProvider(
      section({ method: 'PUT', headers: { 'Content-Type': 'application/vnd.token+json' }, body: { json: { a: 'b' } } }),
      1000,
      { fetch: send },
    ).obtain();

    expect(requests.map((request) => request.method)).toEqual(['GET', 'PUT']);
    expect(requests[0]?.body).toBeNull();
    expect(requests[1]?.headers.get('content-type')).toBe('application/vnd.token+json');
    expect(await requests[1]?.text()).toBe('{"a":"b"}');
  });

  it('refreshes with the refresh request, the top-level headers and the refresh token in its body', async () => {
    const { requests, send } = recordingFetch(
      { body: { access_token: 'a1', refresh_token: 'r1' } },
      { body: { access_token: 'a2', refresh_token: 'r2', expires_in: 30 } },
    );
    const provider = createHttpProvider(
      section({
        headers: { 'X-Requested-With': 'XMLHttpRequest' },
        body: { form: { grant_type: 'client_credentials' } },
        refresh: { body: { form: { grant_type: 'refresh_token', refresh_token: '{{refresh_token}}' } } },
        refresh_lifetime_seconds: 600,
      }),
      1000,
      { fetch: send },
    );

    const first = await provider.obtain();
    const second = await provider.refresh?.(first.refreshToken ?? '');

    expect(first).toMatchObject({ refreshToken: 'r1', refreshExpiresIn: 600 });
    expect(second).toEqual({
      accessToken: 'a2',
      tokenType: 'Bearer',
      expiresIn: 30,
      refreshToken: 'r2',
      refreshExpiresIn: 600,
    });
    expect(requests[1]?.headers.get('x-requested-with')).toBe('XMLHttpRequest');
    expect(requests[1]?.headers.get('content-type')).toBe('application/x-www-form-urlencoded;charset=UTF-8');
    expect(await requests[1]?.text()).toBe('grant_type=refresh_token&refresh_token=r1');
  });

  it('sends the refresh request with the top-level method, to its own url when it has one', async () => {
    const { requests, send } = recordingFetch({ body: { access_token: 'a2' } });
    const provider = createHttpProvider(
      section({
        method: 'PUT',
        body: { json: { grant: 'client' } },
        refresh: { url: 'https://auth.example.com/refresh', body: { json: { token: '{{refresh_token}}' } } },
      }),
      1000,
      { fetch: send },
    );

    await provider.refresh?.('r1');

    expect(requests.map((request) => [request.method, request.url])).toEqual([
      ['PUT', 'https://auth.example.com/refresh'],
    ]);
    expect(await requests[0]?.text()).toBe('{"token":"r1"}');
  });

  it('has no refresh without a refresh request', () => {
    expect(createHttpProvider(section({}), 1000).refresh).toBeUndefined();
  });

  it('fails to build on a bad template or key, naming the field and never the value', () => {
    const broken = { ...section({}), headers: { 'X-Key': `${SECRET}{{nonce}}` } };
    const badKey = section({
      headers: { S: '{{signature}}' },
      signature: {
        algorithm: 'rsa-sha256',
        key: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----`,
        over: 'x',
      },
    });

    expect(() => createHttpProvider(broken, 1000)).toThrow(
      new TypeError('headers.X-Key: unknown built-in: use one of now, uuid, secret, signature, refresh_token'),
    );
    expect(() => createHttpProvider(badKey, 1000)).toThrow(
      new TypeError('signature.key is not a readable PEM private key'),
    );
    expect(() => createHttpProvider({ ...section({}), headers: { S: '{{signature}}' } }, 1000)).toThrow(
      new TypeError('headers.S: uses {{signature}}, but no signature is configured'),
    );
  });

  it('is refused by the rotator as a config error when its key is not an RSA key', async () => {
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    const loaded = await parseConfig(
      configText([
        'headers: { S: "{{signature}}" }',
        'signature: { algorithm: rsa-sha256, key: "${env:KEY}", over: "{{now}}" }',
      ]),
      'test.yaml',
      { KEY: ecKey },
    );

    const rotator = await createRotator(loaded, { store: new MemoryStore() });
    const error = await rotator.check().catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues).toEqual([
      { path: 'providers.p', message: 'cannot be built: signature.key must be an RSA key for rsa-sha256' },
    ]);
  });

  it('takes a success status without JSON for malformed, and an HTML refusal for a permanent one', async () => {
    const { send } = recordingFetch({ status: 200, body: '<html>ok</html>' }, { status: 403, body: '<html>no</html>' });
    const provider = createHttpProvider(section({}), 1000, { fetch: send });

    await expect(provider.obtain()).rejects.toMatchObject({ failureClass: 'permanent', reason: 'malformed_response' });
    await expect(provider.obtain()).rejects.toMatchObject({
      failureClass: 'permanent',
      status: 403,
      reason: undefined,
    });
  });
});
