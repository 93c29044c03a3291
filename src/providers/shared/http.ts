/**
 * The one HTTP path every provider's token call takes: HTTPS only (HTTP on loopback),
 * no redirects, a timeout, a response size cap, and classification of transport and
 * status failures. Profiles add only what their protocol needs on top.
 */
import type { Agent } from 'node:https';
import { isSafeTokenUrl } from '../../common/urls.js';
import { ProviderError } from '../../errors.js';
import { nodeSend, ResponseReadError, ResponseTooLargeError, sendsBody } from './node-send.js';

/** Transport limits for one call. */
export interface TransportOptions {
  readonly timeoutMs: number;
  /** Responses larger than this are refused as malformed (default 64 KiB). */
  readonly maxResponseBytes?: number;
  readonly signal?: AbortSignal;
  /** The agent of an `https:` call: a client certificate, a CA (shared/tls-agent.ts). */
  readonly httpsAgent?: Agent | undefined;
  /** Sends the request through this `fetch` instead of `node:http(s)` (tests). */
  readonly fetch?: typeof fetch;
}

/** A token request: POST unless `method` says otherwise; a GET or HEAD sends no body. */
export interface TokenRequest {
  readonly method?: string;
  readonly headers: Record<string, string>;
  readonly body?: string | FormData | undefined;
}

/** What a token call says it is, unless a provider's headers say otherwise. */
const USER_AGENT = 'token-rotator';

/** An HTTP answer, read in full within the size cap. */
export interface RawResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024;

/** Errors whose request surely never reached the server: safe to repeat even for a refresh. */
const UNSENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function networkErrorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

async function readCapped(response: Response, max: number): Promise<Uint8Array> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > max) {
    await response.body?.cancel();
    throw new ResponseTooLargeError(response.status, max);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    if (response.body) {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        size += chunk.byteLength;
        if (size > max) throw new ResponseTooLargeError(response.status, max);
        chunks.push(chunk);
      }
    }
  } catch (error) {
    throw error instanceof ResponseTooLargeError ? error : new ResponseReadError(response.status, error);
  }
  return Buffer.concat(chunks);
}

/** One request through an injected `fetch` (tests): the answer read within the cap. */
async function viaFetch(send: typeof fetch, url: string, request: TokenRequest, signal: AbortSignal, max: number) {
  const method = request.method ?? 'POST';
  const response = await send(url, {
    method,
    headers: request.headers,
    ...(sendsBody(method) ? { body: request.body ?? null } : {}),
    redirect: 'manual',
    signal,
  });
  const body = await readCapped(response, max);
  return { status: response.status, headers: response.headers, body };
}

/** Whether `headers` has `name` (lower case), whatever the case it was set in. */
function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

/** One request over `node:http(s)` (node-send.ts); a form body is encoded as `fetch` encodes it. */
async function viaNode(url: string, request: TokenRequest, signal: AbortSignal, max: number, agent?: Agent) {
  const headers = { ...request.headers };
  let body: string | Uint8Array | undefined;
  if (request.body instanceof FormData) {
    const encoded = new Response(request.body);
    body = new Uint8Array(await encoded.arrayBuffer());
    if (!hasHeader(headers, 'content-type'))
      headers['content-type'] = encoded.headers.get('content-type') ?? 'multipart/form-data';
  } else body = request.body;
  if (!hasHeader(headers, 'user-agent')) headers['user-agent'] = USER_AGENT;
  return nodeSend(
    new URL(url),
    { method: request.method ?? 'POST', headers, body },
    { signal, maxBytes: max, httpsAgent: agent },
  );
}

/** A failure to send or to read the answer, as the {@link ProviderError} a pass acts on. */
function transportFailure(error: unknown, timeout: AbortSignal, options: TransportOptions): ProviderError {
  if (error instanceof ResponseTooLargeError) {
    const max = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    return new ProviderError('permanent', `token endpoint response is larger than ${max} bytes`, {
      status: error.status,
    });
  }
  if (error instanceof ResponseReadError) {
    return new ProviderError('retryable', 'connection dropped while reading the token response', {
      status: error.status,
      ambiguous: true,
      cause: error.cause,
    });
  }
  if (timeout.aborted) {
    return new ProviderError('retryable', `token endpoint did not answer within ${options.timeoutMs} ms`, {
      ambiguous: true,
      cause: error,
    });
  }
  if (options.signal?.aborted)
    return new ProviderError('retryable', 'token call aborted (shutdown)', { ambiguous: true, cause: error });
  const code = networkErrorCode(error) ?? 'network error';
  return new ProviderError('retryable', `token endpoint unreachable (${code})`, {
    ambiguous: !UNSENT_CODES.has(code),
    cause: error,
  });
}

/**
 * Sends a token request (POST unless `request.method` says otherwise) and returns the
 * answer. Transport failures and statuses that say "try later" (5xx, 429) throw a
 * retryable {@link ProviderError}; a timeout or a dropped connection is marked
 * `ambiguous`, since the server may have acted on it.
 */
export async function post(url: string, request: TokenRequest, options: TransportOptions): Promise<RawResponse> {
  if (!isSafeTokenUrl(url)) {
    throw new ProviderError('permanent', 'token URL must be https:// (http:// only on loopback addresses)');
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const max = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let response: RawResponse;
  try {
    response = options.fetch
      ? await viaFetch(options.fetch, url, request, signal, max)
      : await viaNode(url, request, signal, max, options.httpsAgent);
  } catch (error) {
    throw transportFailure(error, timeout, options);
  }

  const { status } = response;
  if (status >= 300 && status < 400) {
    throw new ProviderError('permanent', `token endpoint redirected (HTTP ${status}); configure the final URL`, {
      status,
    });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    throw new ProviderError('retryable', 'token endpoint is rate limiting (HTTP 429)', {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  if (status >= 500) {
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
    throw new ProviderError('retryable', `token endpoint failed (HTTP ${status})`, {
      status,
      ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    });
  }
  return response;
}

/** Parses a JSON object body, or throws a permanent error (a malformed answer). */
export function parseJsonObject(response: RawResponse): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(response.body).toString('utf8'));
  } catch (error) {
    throw new ProviderError(
      'permanent',
      `token endpoint answered HTTP ${response.status} with a body that is not JSON`,
      {
        status: response.status,
        cause: error,
      },
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ProviderError(
      'permanent',
      `token endpoint answered HTTP ${response.status} with JSON that is not an object`,
      {
        status: response.status,
      },
    );
  }
  return parsed as Record<string, unknown>;
}

/** Encodes token request fields as the profile's body format. */
export function encodeBody(
  format: 'form' | 'json' | 'multipart',
  fields: Record<string, unknown>,
): { body: string | FormData; contentType?: string } {
  switch (format) {
    case 'json':
      return { body: JSON.stringify(fields), contentType: 'application/json' };
    case 'multipart': {
      const form = new FormData();
      for (const [key, value] of Object.entries(fields)) form.append(key, String(value));
      // fetch sets multipart/form-data with its boundary itself.
      return { body: form };
    }
    case 'form':
      return {
        body: new URLSearchParams(Object.entries(fields).map(([k, v]): [string, string] => [k, String(v)])).toString(),
        contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
      };
  }
}
