/**
 * The daemon's operations listener (`token-rotator daemon --listen HOST:PORT`), on
 * `node:http` alone:
 *
 * - `GET /healthz`: 200 while the process runs (liveness).
 * - `GET /readyz`: 200 when ready, else 503, with a JSON body of reasons (readiness).
 * - `GET /metrics`: Prometheus text exposition format 0.0.4, or OpenMetrics 1.0 when the
 *   request's `Accept` asks for `application/openmetrics-text` (Prometheus does).
 *
 * Any other path is 404, any other method 405. Nothing served ever holds a secret.
 *
 * @example
 * const server = await startOpsServer(parseListen('127.0.0.1:9464'), { metrics: (format) => m.render(Date.now(), format), readiness: () => r.check() }, logger);
 * // curl http://127.0.0.1:9464/readyz
 * await server.close();
 *
 * @see https://kubernetes.io/docs/reference/using-api/health-checks/ the /healthz and /readyz convention
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/
 * @see https://github.com/prometheus/OpenMetrics/blob/main/specification/OpenMetrics.md
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, isIP } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { type MetricsFormat, metricsContentType, metricsFormatFor } from '../observability/metrics.js';
import type { ListenAddress } from './listen.js';
import type { Readiness } from './readiness.js';

/** What the listener serves. */
export interface OpsEndpoints {
  /** The `/metrics` body, in the format the scrape asked for. */
  metrics(format: MetricsFormat): Promise<string>;
  readiness(): Promise<Readiness>;
}

/** A running listener. */
export interface OpsServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  /** Stops accepting, ends idle keep-alive connections, and resolves once every connection is gone. */
  close(): Promise<void>;
}

/** The listener failed to bind (address in use, permission denied, no such address). */
export class ListenError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ListenError';
  }
}

function send(
  response: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  response.end(body);
}

async function route(request: IncomingMessage, response: ServerResponse, endpoints: OpsEndpoints): Promise<void> {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const known = path === '/healthz' || path === '/readyz' || path === '/metrics';
  if (!known) return send(response, 404, 'text/plain; charset=utf-8', 'not found\n');
  if (request.method !== 'GET')
    return send(response, 405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET' });
  switch (path) {
    case '/healthz':
      return send(response, 200, 'text/plain; charset=utf-8', 'ok\n');
    case '/metrics': {
      const format = metricsFormatFor(request.headers.accept);
      const body = await endpoints.metrics(format);
      return send(response, 200, metricsContentType(format), body, { vary: 'Accept' });
    }
    default: {
      const readiness = await endpoints.readiness();
      return send(response, readiness.ready ? 200 : 503, 'application/json', `${JSON.stringify(readiness)}\n`);
    }
  }
}

function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/**
 * Binds the listener and serves until {@link OpsServer.close}.
 * @throws {ListenError} when the address cannot be bound.
 */
export async function startOpsServer(
  address: ListenAddress,
  endpoints: OpsEndpoints,
  logger: Logger,
): Promise<OpsServer> {
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000 }, (request, response) => {
    route(request, response, endpoints).catch((error: unknown) => {
      logger.error(
        { err: { message: error instanceof Error ? error.message : String(error) }, path: request.url },
        'ops listener: request failed',
      );
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else response.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new ListenError(
          `cannot listen on ${hostForUrl(address.host)}:${address.port}: ${error.code ?? error.message}${describeCode(error.code)}`,
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(address.port, address.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (error: NodeJS.ErrnoException) =>
    logger.error(
      { err: { class: 'listener', code: error.code ?? 'LISTENER_FAILED', message: error.message } },
      'ops listener error',
    ),
  );
  const bound = server.address() as AddressInfo;
  const url = `http://${hostForUrl(bound.address)}:${bound.port}`;
  return {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // A client that keeps a request open must not hold the shutdown.
        setTimeout(() => server.closeAllConnections(), 2000).unref();
      }),
  };
}

function describeCode(code: string | undefined): string {
  switch (code) {
    case 'EADDRINUSE':
      return ' (the address is already in use)';
    case 'EACCES':
      return ' (permission denied: ports below 1024 need privileges)';
    case 'EADDRNOTAVAIL':
      return ' (no such address on this host)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return ' (the host name does not resolve)';
    default:
      return '';
  }
}
