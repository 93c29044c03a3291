/**
 * How the Vault client reaches the server: Node's `fetch` by default, or `node:https`
 * when a custom CA is configured, because Node's built-in `fetch` takes a CA only
 * through an undici `Agent`, and undici is not a dependency of this package.
 */
import { httpsExchange } from '../shared/https.js';

/** One HTTP exchange, as the client asks for it. */
export interface TransportRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
}

/** The answer, read in full. */
export interface TransportResponse {
  readonly status: number;
  readonly text: string;
}

/** Sends one request; rejects on a network failure or when `signal` aborts. */
export type VaultTransport = (request: TransportRequest) => Promise<TransportResponse>;

/** Largest Vault answer read; KV records are small, a bigger body is a misbehaving peer. */
export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The default transport: Node's `fetch`, never following redirects. */
export const fetchTransport: VaultTransport = async (request) => {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    redirect: 'manual',
    signal: request.signal,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  const text = await response.text();
  if (text.length > MAX_RESPONSE_BYTES) throw new Error(`Vault response is larger than ${MAX_RESPONSE_BYTES} bytes`);
  return { status: response.status, text };
};

/**
 * A transport over `node:https` that trusts `ca` (PEM) in addition to nothing else: the
 * server certificate must chain to it.
 */
export function caTransport(ca: string): VaultTransport {
  return async (request) => {
    const url = new URL(request.url);
    if (url.protocol !== 'https:') throw new Error('a CA file applies to https:// addresses only');
    return httpsExchange(
      url,
      { method: request.method, headers: request.headers, ca, signal: request.signal },
      request.body,
      MAX_RESPONSE_BYTES,
      'Vault response',
    );
  };
}
