/**
 * The one HTTP path every provider's token call takes: HTTPS only (HTTP on loopback),
 * no redirects, a timeout, a response size cap, and classification of transport and
 * status failures. Profiles add only what their protocol needs on top.
 */
import { isSafeTokenUrl } from '../../common/urls.js';
import { ProviderError } from '../../errors.js';

/** Transport limits for one call. */
export interface TransportOptions {
  readonly timeoutMs: number;
  /** Responses larger than this are refused as malformed (default 64 KiB). */
  readonly maxResponseBytes?: number;
  readonly signal?: AbortSignal;
  /** Sends the request in place of the global `fetch` (a client certificate or a CA: shared/tls-fetch.ts). */
  readonly fetch?: typeof fetch;
}

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
    throw new ProviderError('permanent', `token endpoint response is larger than ${max} bytes`, {
      status: response.status,
    });
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (response.body) {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength;
      if (size > max) {
        throw new ProviderError('permanent', `token endpoint response is larger than ${max} bytes`, {
          status: response.status,
        });
      }
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks);
}

/**
 * POSTs to a token endpoint and returns the answer. Transport failures and statuses
 * that say "try later" (5xx, 429) throw a retryable {@link ProviderError}; a timeout or a
 * dropped connection is marked `ambiguous`, since the server may have acted on it.
 */
export async function post(
  url: string,
  init: { headers: Record<string, string>; body: string | FormData },
  options: TransportOptions,
): Promise<RawResponse> {
  if (!isSafeTokenUrl(url)) {
    throw new ProviderError('permanent', 'token URL must be https:// (http:// only on loopback addresses)');
  }
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const send = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await send(url, { method: 'POST', headers: init.headers, body: init.body, redirect: 'manual', signal });
  } catch (error) {
    if (timeout.aborted) {
      throw new ProviderError('retryable', `token endpoint did not answer within ${options.timeoutMs} ms`, {
        ambiguous: true,
        cause: error,
      });
    }
    if (options.signal?.aborted)
      throw new ProviderError('retryable', 'token call aborted (shutdown)', { ambiguous: true, cause: error });
    const code = networkErrorCode(error) ?? 'network error';
    throw new ProviderError('retryable', `token endpoint unreachable (${code})`, {
      ambiguous: !UNSENT_CODES.has(code),
      cause: error,
    });
  }

  let body: Uint8Array;
  try {
    body = await readCapped(response, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    throw new ProviderError('retryable', 'connection dropped while reading the token response', {
      status: response.status,
      ambiguous: true,
      cause: error,
    });
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
  return { status, headers: response.headers, body };
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
