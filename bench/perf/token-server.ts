/**
 * The benchmark's token endpoint: a bare `node:http` server that answers every POST with a
 * fresh client-credentials token after a fixed delay, so a pass's network cost is known
 * and is not the project's (the provider sandbox is the project's own code).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running token server. */
export interface TokenServer {
  /** `http://127.0.0.1:<port>/oauth/token`. */
  readonly url: string;
  /** POSTs answered since start (or since the last {@link TokenServer.reset}). */
  requests(): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * Starts the token server on a free loopback port.
 * @param delayMs how long each answer waits (the figures use 20 ms).
 */
export async function startTokenServer(delayMs: number): Promise<TokenServer> {
  let count = 0;
  const server: Server = createServer((request, response) => {
    // Drain the body (the credentials are not checked: the server's cost must stay flat).
    request.resume();
    request.on('end', () => {
      if (request.method !== 'POST') {
        response.writeHead(405).end();
        return;
      }
      count += 1;
      setTimeout(() => {
        const body = JSON.stringify({
          access_token: randomBytes(24).toString('base64url'),
          token_type: 'Bearer',
          expires_in: 3600,
        });
        response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(body);
      }, delayMs);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/oauth/token`,
    requests: () => count,
    reset: () => {
      count = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
