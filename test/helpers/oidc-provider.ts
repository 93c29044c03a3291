/**
 * A real third-party authorization server for the client-authentication tests (issue 14):
 * `oidc-provider` (npm), in process, over HTTPS on a free loopback port, with the client
 * credentials grant and token introspection on, and `tls_client_auth` (RFC 8705) judged
 * from the TLS connection's own client certificate.
 *
 * Every key and certificate is made here, at test time, with `openssl` (as the Kubernetes
 * helper does): a test CA that signs the server's certificate and the clients' certificates,
 * and a second CA nobody trusts, for a certificate the server must refuse. Nothing is
 * committed; the temp directory is removed by `close()`.
 */
import { spawn } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import Provider, { type ClientMetadata, type KoaContextWithOIDC } from 'oidc-provider';
import { certificateAuthority, issueCertificate } from './certificates.js';
import { freePort, listenOnLoopback } from './ports.js';

/** A client certificate and its key, PEM. */
export interface ClientCertificate {
  readonly certificate: string;
  readonly key: string;
}

/** A key pair for `private_key_jwt`: the PKCS#8 PEM the rotator holds, the JWK the server holds. */
export interface SigningKey {
  readonly privateKeyPem: string;
  readonly publicJwk: Record<string, unknown>;
}

/** One running oidc-provider. */
export interface OidcServer {
  /** `https://127.0.0.1:<port>`, the issuer identifier. */
  readonly issuer: string;
  /** The token endpoint. */
  readonly tokenUrl: string;
  /** The revocation endpoint (RFC 7009); it answers only when started with `revocation: true`. */
  readonly revocationUrl: string;
  /** The test CA (PEM) that signed the server's certificate and the trusted client certificates. */
  readonly ca: string;
  /** Where `ca` is written, for a `${file:…}` reference. */
  readonly caFile: string;
  /** The server's temp directory (PEM files a test writes go here too; removed by `close()`). */
  readonly directory: string;
  /** Asks the server's introspection endpoint (RFC 7662) about `token`. */
  introspect(token: string): Promise<{ active: boolean; client_id?: string } & Record<string, unknown>>;
  /**
   * A refresh token for `clientId`, of a new grant, made straight in the server's store as
   * an authorization-code flow would leave one (the rotator cannot run that flow: it imports
   * such a token). Scope `offline_access`, no `openid`, so refreshing it gives no ID token.
   */
  mintRefreshToken(clientId: string): Promise<string>;
  /** Token requests the server answered, by outcome: how many, for "the request reached the server" checks. */
  readonly answered: { readonly granted: number; readonly refused: number };
  close(): Promise<void>;
}

/** What the server is started with. */
export interface OidcServerOptions {
  /** The clients it knows, as RFC 7591 metadata; `introspector` is added for {@link OidcServer.introspect}. */
  readonly clients: readonly ClientMetadata[];
  /** Turns the revocation endpoint on (oidc-provider's `revocation` feature); default off. */
  readonly revocation?: boolean;
}

/** A certificate for `subject` signed by CA `ca`, read back as PEM. */
async function makeCertificate(
  directory: string,
  ca: string,
  base: string,
  subject: string,
  extensions: string,
): Promise<ClientCertificate> {
  const files = issueCertificate(directory, ca, base, subject, extensions);
  return { certificate: await readFile(files.certFile, 'utf8'), key: await readFile(files.keyFile, 'utf8') };
}

let serial = 0;

/**
 * Makes a client certificate for `commonName`: signed by the server's test CA when
 * `trusted`, else by a CA of its own that the server has never seen.
 */
export async function clientCertificate(
  server: Pick<OidcServer, 'directory'>,
  commonName: string,
  options: { trusted: boolean } = { trusted: true },
): Promise<ClientCertificate> {
  serial += 1;
  const ca = options.trusted ? 'test-ca' : `stranger-ca-${serial}`;
  if (!options.trusted) certificateAuthority(server.directory, ca);
  return makeCertificate(
    server.directory,
    ca,
    `client-${serial}`,
    `/CN=${commonName}`,
    'extendedKeyUsage=clientAuth\n',
  );
}

/** A fresh signing key of `type` (RSA 2048, EC P-256 or Ed25519) for `private_key_jwt`. */
export function signingKey(type: 'rsa' | 'ec' | 'ed25519'): SigningKey {
  const pair =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
        : generateKeyPairSync('ed25519');
  const publicKey: KeyObject = pair.publicKey;
  return {
    privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicJwk: publicKey.export({ format: 'jwk' }) as Record<string, unknown>,
  };
}

/** The TLS socket under a Koa context. */
function tlsSocket(ctx: KoaContextWithOIDC): TLSSocket {
  return ctx.req.socket as TLSSocket;
}

/** The certificate the client presented on this connection, if any. */
function peerCertificate(ctx: KoaContextWithOIDC): X509Certificate | undefined {
  const peer = tlsSocket(ctx).getPeerCertificate();
  return peer?.raw === undefined ? undefined : new X509Certificate(peer.raw);
}

/** The models of oidc-provider that {@link OidcServer.mintRefreshToken} uses (test/types declares none). */
interface OidcModels {
  readonly Client: { find(id: string): Promise<object | undefined> };
  readonly Grant: new (fields: {
    accountId: string;
    clientId: string;
  }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
  readonly RefreshToken: new (fields: Record<string, unknown>) => { save(): Promise<string> };
}

/** Starts oidc-provider; see the file header. */
export async function startOidcProvider(options: OidcServerOptions): Promise<OidcServer> {
  const directory = await mkdtemp(join(tmpdir(), 'tr-oidc-'));
  try {
    certificateAuthority(directory, 'test-ca');
    const serving = await makeCertificate(
      directory,
      'test-ca',
      'server',
      '/CN=127.0.0.1',
      'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n',
    );
    const ca = await readFile(join(directory, 'test-ca.crt'), 'utf8');
    const introspectorSecret = randomBytes(24).toString('hex');
    const answered = { granted: 0, refused: 0 };

    let handler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
    const server = createServer(
      {
        cert: serving.certificate,
        key: serving.key,
        ca,
        // Ask for a certificate, accept any: oidc-provider judges it and answers invalid_client.
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => (handler ? handler(req, res) : res.writeHead(503).end()),
    );
    const port = await listenOnLoopback(server);
    const issuer = `https://127.0.0.1:${port}`;

    const provider = new Provider(issuer, {
      clients: [
        ...options.clients,
        {
          client_id: 'introspector',
          client_secret: introspectorSecret,
          token_endpoint_auth_method: 'client_secret_basic',
          grant_types: [],
          response_types: [],
          redirect_uris: [],
        },
      ],
      clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'tls_client_auth'],
      cookies: { keys: [randomBytes(16).toString('hex')] },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true, allowedPolicy: async () => true },
        // A client revokes only its own tokens (the RFC 7009 §2.1 check oidc-provider asks to configure).
        ...(options.revocation
          ? {
              revocation: {
                enabled: true,
                allowedPolicy: async (
                  _ctx: KoaContextWithOIDC,
                  client: { clientId: string },
                  token: { clientId?: string },
                ) => token.clientId === client.clientId,
              },
            }
          : {}),
        mTLS: {
          enabled: true,
          tlsClientAuth: true,
          getCertificate: (ctx: KoaContextWithOIDC) => peerCertificate(ctx),
          certificateAuthorized: (ctx: KoaContextWithOIDC) => tlsSocket(ctx).authorized,
          certificateSubjectMatches: (ctx: KoaContextWithOIDC, property: string, expected: string) =>
            property === 'tls_client_auth_subject_dn' && peerCertificate(ctx)?.subject === expected,
        },
      },
      ttl: { ClientCredentials: 600 },
    });
    provider.on('grant.success', () => (answered.granted += 1));
    provider.on('grant.error', () => (answered.refused += 1));
    handler = provider.callback();

    return {
      issuer,
      tokenUrl: `${issuer}/token`,
      revocationUrl: `${issuer}/token/revocation`,
      ca,
      caFile: join(directory, 'test-ca.crt'),
      directory,
      answered,
      async mintRefreshToken(clientId) {
        const models = provider as unknown as OidcModels;
        const client = await models.Client.find(clientId);
        if (client === undefined) throw new Error(`no client ${clientId}`);
        const accountId = `user-${randomBytes(4).toString('hex')}`;
        const grant = new models.Grant({ accountId, clientId });
        grant.addOIDCScope('offline_access');
        const grantId = await grant.save();
        const token = new models.RefreshToken({
          client,
          accountId,
          grantId,
          gty: 'authorization_code',
          scope: 'offline_access',
        });
        return token.save();
      },
      introspect(token) {
        const body = new URLSearchParams({ token }).toString();
        return new Promise((resolveAnswer, reject) => {
          const call = request(
            `${issuer}/token/introspection`,
            {
              method: 'POST',
              ca,
              signal: AbortSignal.timeout(10_000),
              headers: {
                authorization: `Basic ${Buffer.from(`introspector:${introspectorSecret}`).toString('base64')}`,
                'content-type': 'application/x-www-form-urlencoded',
                accept: 'application/json',
              },
            },
            (incoming) => {
              let text = '';
              incoming.on('data', (chunk: Buffer) => (text += chunk.toString()));
              incoming.on('end', () => {
                if (incoming.statusCode !== 200)
                  reject(new Error(`introspection answered HTTP ${incoming.statusCode}`));
                else resolveAnswer(JSON.parse(text) as { active: boolean });
              });
            },
          );
          call.on('error', reject);
          call.end(body);
        });
      },
      async close() {
        server.closeAllConnections();
        await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
        await rm(directory, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(directory, { recursive: true, force: true });
    throw error;
  }
}

/** A TLS server that refuses unknown client certificates in the handshake. */
export interface RefusingServer {
  /** `https://127.0.0.1:<port>/token`. */
  readonly tokenUrl: string;
  close(): Promise<void>;
}

/**
 * Starts `openssl s_server` with `server`'s test CA, requiring a client certificate that
 * the CA signed and failing the handshake with a TLS alert otherwise, as a server that
 * checks certificates before any HTTP does (nginx with `ssl_verify_client on` is OpenSSL
 * too). A Node server cannot stand in: it checks the certificate after the handshake and
 * drops the connection without an alert, which a client cannot tell from a network fault.
 */
export async function startRefusingServer(server: Pick<OidcServer, 'directory'>): Promise<RefusingServer> {
  const port = await freePort();
  const child = spawn(
    'openssl',
    [
      's_server',
      '-accept',
      `127.0.0.1:${port}`,
      '-cert',
      'server.crt',
      '-key',
      'server.key',
      '-CAfile',
      'test-ca.crt',
      '-Verify',
      '1',
      '-verify_return_error',
      '-www',
    ],
    { cwd: server.directory, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  await new Promise<void>((resolveReady, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error('openssl s_server did not start in 10 s')), 10_000);
    child.stdout.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('ACCEPT')) {
        clearTimeout(timer);
        resolveReady();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`openssl s_server exited (${code})`));
    });
  });
  return {
    tokenUrl: `https://127.0.0.1:${port}/token`,
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}
