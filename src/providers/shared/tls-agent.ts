/**
 * A provider's own TLS material for its token calls: a client certificate (mutual TLS,
 * RFC 8705) and the CA certificates a server's certificate must chain to. oauth4webapi
 * leaves the certificate to the transport (its `TlsClientAuth()` only names the client);
 * the shared transport (`http.ts`) sends through the agent made here.
 * @see https://www.rfc-editor.org/rfc/rfc8705#section-2
 */
import { X509Certificate } from 'node:crypto';
import { Agent } from 'node:https';
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
 * The agent of a provider's `https:` calls, presenting `tls.certificate` and trusting
 * `tls.ca`. One agent per provider, without keep-alive: a token call every few minutes
 * gains nothing from an idle socket.
 * @throws {TypeError} when the material does not load (see {@link checkTls}).
 * @example post(url, request, { timeoutMs, httpsAgent: tlsAgent({ certificate, key, ca }) })
 */
export function tlsAgent(tls: ClientTls): Agent {
  checkTls(tls);
  return new Agent({
    keepAlive: false,
    ...(tls.certificate === undefined ? {} : { cert: tls.certificate, key: tls.key }),
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
  });
}
