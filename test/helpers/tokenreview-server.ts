/**
 * A small stand-in for the Kubernetes API server's TokenReview endpoint, on a free
 * loopback port, for OpenBao's Kubernetes auth method to call during a login.
 *
 * Like the real API server it issues service account tokens (RS256 JWTs in the projected
 * token format, signed by a key generated for the run), requires its own bearer token
 * from the reviewer, and answers `POST /apis/authentication.k8s.io/v1/tokenreviews` with
 * `authenticated: true` only for a token it signed, not expired, for a service account it
 * knows (namespace, name and uid), valid for one of the audiences asked for. Every review
 * is recorded so tests can check what OpenBao sent.
 *
 * @see https://kubernetes.io/docs/reference/kubernetes-api/authentication-resources/token-review-v1/
 * @see https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#bound-service-account-token-volume
 */
import { generateKeyPairSync, type KeyObject, randomBytes, randomUUID, sign, verify } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { listenOnLoopback } from './ports.js';

/** A service account, as Kubernetes names it. */
export interface ServiceAccount {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

/** One review OpenBao asked for, and the answer it got. */
export interface Review {
  readonly token: string;
  readonly audiences: readonly string[];
  readonly authenticated: boolean;
}

/** A running TokenReview server. */
export interface TokenReviewServer {
  /** `https://127.0.0.1:<port>` (`http://` without TLS material): OpenBao's `kubernetes_host`. */
  readonly url: string;
  /** The bearer token the reviewer (OpenBao's `token_reviewer_jwt`) must send. */
  readonly reviewerToken: string;
  /** Every review received, oldest first. */
  readonly reviews: readonly Review[];
  /** Requests refused for a missing or wrong bearer token. */
  readonly unauthorized: number;
  /** A service account token for `account`, signed by this server's key (or by `signingKey`, to forge one). */
  issue(
    account: ServiceAccount,
    options?: {
      readonly audiences?: readonly string[];
      readonly lifetimeSeconds?: number;
      readonly signingKey?: KeyObject;
    },
  ): string;
  close(): Promise<void>;
}

/** Options of {@link startTokenReviewServer}. */
export interface TokenReviewServerOptions {
  /** The service accounts that exist in the "cluster". */
  readonly accounts: readonly ServiceAccount[];
  /** PEM certificate and key to serve HTTPS with, as the real API server does. */
  readonly tls?: { readonly cert: string; readonly key: string };
}

/** A fresh service account with a random uid. */
export function serviceAccount(namespace: string, name: string): ServiceAccount {
  return { namespace, name, uid: randomUUID() };
}

/** Starts the server on a free loopback port. */
export async function startTokenReviewServer(options: TokenReviewServerOptions): Promise<TokenReviewServer> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const reviewerToken = `reviewer-${randomBytes(16).toString('hex')}`;
  const reviews: Review[] = [];
  let unauthorized = 0;

  const handle = (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/apis/authentication.k8s.io/v1/tokenreviews') {
        return send(response, 404, status(404, 'NotFound', `no route for ${request.method} ${request.url}`));
      }
      if (request.headers.authorization !== `Bearer ${reviewerToken}`) {
        unauthorized++;
        return send(response, 401, status(401, 'Unauthorized', 'Unauthorized'));
      }
      let spec: { token?: unknown; audiences?: unknown };
      try {
        spec = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { spec?: typeof spec }).spec ?? {};
      } catch {
        return send(response, 400, status(400, 'BadRequest', 'not JSON'));
      }
      const token = typeof spec.token === 'string' ? spec.token : '';
      const wanted = Array.isArray(spec.audiences)
        ? spec.audiences.filter((a): a is string => typeof a === 'string')
        : [];
      const result = review(token, wanted, keys.publicKey, options.accounts);
      reviews.push({ token, audiences: wanted, authenticated: result.authenticated });
      send(response, 201, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenReview',
        spec: { token, audiences: wanted },
        status: result,
      });
    });
  };

  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handle)
    : createHttpServer(handle);
  const port = await listenOnLoopback(server);

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    reviewerToken,
    get reviews() {
      return reviews;
    },
    get unauthorized() {
      return unauthorized;
    },
    issue(account, issueOptions = {}) {
      const now = Math.floor(Date.now() / 1000);
      const claims = {
        aud: issueOptions.audiences ?? ['vault'],
        exp: now + (issueOptions.lifetimeSeconds ?? 3600),
        iat: now,
        nbf: now,
        iss: 'https://kubernetes.default.svc.cluster.local',
        jti: randomUUID(),
        sub: `system:serviceaccount:${account.namespace}:${account.name}`,
        'kubernetes.io': {
          namespace: account.namespace,
          pod: { name: `${account.name}-7d4b9c6f5-x2x9z`, uid: randomUUID() },
          serviceaccount: { name: account.name, uid: account.uid },
        },
      };
      const encode = (part: object) => Buffer.from(JSON.stringify(part)).toString('base64url');
      const input = `${encode({ alg: 'RS256', kid: 'test', typ: 'JWT' })}.${encode(claims)}`;
      return `${input}.${sign('sha256', Buffer.from(input), issueOptions.signingKey ?? keys.privateKey).toString('base64url')}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface ReviewStatus {
  readonly authenticated: boolean;
  readonly error?: string;
  readonly user?: { readonly username: string; readonly uid: string; readonly groups: readonly string[] };
  readonly audiences?: readonly string[];
}

/** What the API server decides about `token`: signature, expiry, the account, the audience. */
function review(
  token: string,
  wanted: readonly string[],
  publicKey: KeyObject,
  accounts: readonly ServiceAccount[],
): ReviewStatus {
  const [header, payload, signature] = token.split('.');
  if (header === undefined || payload === undefined || signature === undefined)
    return { authenticated: false, error: 'token is not a JWT' };
  if (!verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url'))) {
    return { authenticated: false, error: 'invalid bearer token, square/go-jose: error in cryptographic primitive' };
  }
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    aud?: string[];
    exp?: number;
    'kubernetes.io'?: { namespace?: string; serviceaccount?: { name?: string; uid?: string } };
  };
  if ((claims.exp ?? 0) < Date.now() / 1000)
    return { authenticated: false, error: 'invalid bearer token, token has expired' };
  const k8s = claims['kubernetes.io'];
  const account = accounts.find(
    (known) =>
      known.namespace === k8s?.namespace &&
      known.name === k8s.serviceaccount?.name &&
      known.uid === k8s.serviceaccount?.uid,
  );
  if (account === undefined) return { authenticated: false, error: 'invalid bearer token, service account not found' };
  const tokenAudiences = claims.aud ?? [];
  const audiences =
    wanted.length === 0 ? tokenAudiences : wanted.filter((audience) => tokenAudiences.includes(audience));
  if (audiences.length === 0)
    return { authenticated: false, error: 'invalid bearer token, token audiences is invalid for the target audiences' };
  return {
    authenticated: true,
    user: {
      username: `system:serviceaccount:${account.namespace}:${account.name}`,
      uid: account.uid,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${account.namespace}`, 'system:authenticated'],
    },
    audiences,
  };
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

function send(response: ServerResponse, code: number, body: unknown): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}
