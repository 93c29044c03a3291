/**
 * A stand-in for Vault that records what it receives, for login methods OpenBao does not
 * ship (AWS IAM): it answers `POST /v1/auth/<mount>/login` with a generated token and
 * every KV read with 404, on a free loopback port.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { listenOnLoopback } from './ports.js';

/** One request as the server received it. */
export interface CapturedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** A running capture server. */
export interface LoginCapture {
  /** `http://127.0.0.1:<port>`: the store's `address`. */
  readonly address: string;
  readonly requests: readonly CapturedRequest[];
  /** The logins received, their bodies parsed. */
  readonly logins: readonly { readonly path: string; readonly body: Record<string, unknown> }[];
  close(): Promise<void>;
}

/** Starts the server; logins get a token living `ttlSeconds`. */
export async function startLoginCapture(options: { readonly ttlSeconds?: number } = {}): Promise<LoginCapture> {
  const requests: CapturedRequest[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const captured = {
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(captured);
      response.setHeader('content-type', 'application/json');
      if (captured.method === 'POST' && /^\/v1\/auth\/[^/]+(\/[^/]+)*\/login$/.test(captured.path)) {
        response.end(
          JSON.stringify({
            auth: {
              client_token: `hvs.${randomBytes(18).toString('base64url')}`,
              accessor: randomUUID(),
              lease_duration: options.ttlSeconds ?? 3600,
              renewable: true,
            },
          }),
        );
        return;
      }
      response.statusCode = 404;
      response.end(JSON.stringify({ errors: [] }));
    });
  });
  const port = await listenOnLoopback(server);
  return {
    address: `http://127.0.0.1:${port}`,
    get requests() {
      return requests;
    },
    get logins() {
      return requests
        .filter((request) => request.method === 'POST' && request.path.endsWith('/login'))
        .map((request) => ({ path: request.path, body: JSON.parse(request.body) as Record<string, unknown> }));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
