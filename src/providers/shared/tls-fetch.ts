/**
 * A `fetch` over `node:https` for what the global `fetch` cannot set per request: a TLS
 * client certificate (mutual TLS, RFC 8705) and the CA certificates a server's
 * certificate must chain to. oauth4webapi leaves the certificate to the fetch it is given
 * (its `TlsClientAuth()` only names the client); the shared transport (`http.ts`) keeps its
 * timeout, size cap and classification and sends through this function instead.
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-2
 */
import { X509Certificate } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Agent, request } from 'node:https';
import { Readable } from 'node:stream';
import { createSecureContext } from 'node:tls';

/** The TLS material of one client, PEM text as config resolved it. */
export interface ClientTls {
  /** The client certificate (chain) presented to the server. */
  readonly certificate?: string | undefined;
  /** The private key of {@link certificate}. */
  readonly key?: string | undefined;
  /** CA certificates the server's certificate must chain to, in place of the system CAs. */
  readonly ca?: string | undefined;
}

/** Statuses whose response has no body: `new Response` refuses one. */
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);

function responseHeaders(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  return headers;
}

/**
 * Checks the TLS material once, when the provider is built, so a wrong file is a config
 * error at start-up. Messages name the field, never the value: OpenSSL's own text is
 * dropped because a future version might quote what it could not parse.
 * @throws {TypeError} naming the field at fault.
 */
function checkTls(tls: ClientTls): void {
  if ((tls.certificate === undefined) !== (tls.key === undefined))
    throw new TypeError('tls_certificate and tls_key go together');
  if (tls.certificate !== undefined) {
    try {
      new X509Certificate(tls.certificate);
    } catch {
      throw new TypeError('tls_certificate is not a PEM certificate');
    }
  }
  if (tls.ca !== undefined) {
    try {
      new X509Certificate(tls.ca);
    } catch {
      throw new TypeError('tls_ca is not a PEM certificate');
    }
  }
  try {
    createSecureContext({
      ...(tls.certificate === undefined ? {} : { cert: tls.certificate, key: tls.key }),
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    });
  } catch {
    throw new TypeError(
      tls.certificate === undefined ? 'tls_ca cannot be used as a CA' : 'tls_key is not the key of tls_certificate',
    );
  }
}

/**
 * A `fetch` that presents `tls.certificate` and trusts `tls.ca`. One agent per provider,
 * without keep-alive: a token call every few minutes gains nothing from an idle socket,
 * and an idle socket would hold a one-shot CLI run open.
 * @throws {TypeError} when the material does not load (see {@link checkTls}).
 * @example post(url, init, { timeoutMs, fetch: tlsFetch({ certificate, key, ca }) })
 */
export function tlsFetch(tls: ClientTls): typeof fetch {
  checkTls(tls);
  const agent = new Agent({
    keepAlive: false,
    ...(tls.certificate === undefined ? {} : { cert: tls.certificate, key: tls.key }),
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
  });

  return async (input, init) => {
    // A Request serialises every body `fetch` accepts (string, FormData with its boundary).
    const outgoing = new Request(input, init);
    if (new URL(outgoing.url).protocol !== 'https:') return fetch(outgoing);
    const body = Buffer.from(await outgoing.arrayBuffer());
    const headers: Record<string, string> = Object.fromEntries(outgoing.headers.entries());
    headers['content-length'] = String(body.byteLength);
    const signal = init?.signal ?? undefined;

    return new Promise<Response>((resolve, reject) => {
      const call = request(
        outgoing.url,
        { method: outgoing.method, headers, agent, ...(signal ? { signal } : {}) },
        (incoming) => {
          const status = incoming.statusCode ?? 0;
          const stream = NULL_BODY_STATUSES.has(status) ? null : Readable.toWeb(incoming);
          if (stream === null) incoming.resume();
          try {
            resolve(new Response(stream, { status, headers: responseHeaders(incoming.headers) }));
          } catch (error) {
            incoming.destroy();
            reject(error);
          }
        },
      );
      call.on('error', reject);
      call.end(body);
    });
  };
}
