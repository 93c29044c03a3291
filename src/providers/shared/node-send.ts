/**
 * How a token call goes out when no `fetch` is injected: one `node:http` or `node:https`
 * request. The global `fetch` (undici) costs far more CPU per call: 1,000 POSTs at
 * concurrency 4 to a local token server took about 1.25 s of CPU with `fetch` and 0.5 s
 * this way (issue 13). It does what the shared transport (`http.ts`) needs and nothing
 * more: no redirect is followed, the body is read whole up to a cap, a body the server
 * compressed anyway (gzip, deflate, br) is decoded as `fetch` would, and the signal aborts.
 *
 * Sockets are kept alive by Node's global agents (keep-alive by default since Node 19);
 * an idle one is unreferenced, so it never holds a one-shot run open. A provider with TLS
 * material gives its own agent (`tls-agent.ts`).
 */
import type { Agent as HttpAgent, IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createRequire } from 'node:module';
import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';

// `node:http` through require(), not `import`: an import builds the module's ES facade,
// which reads every export, and on Node 22 three of them (WebSocket, CloseEvent,
// MessageEvent) are getters that load undici, about 15 ms of every start that makes no
// token call (a cold Lambda invocation that finds every token fresh). require() reads none.
// https://github.com/nodejs/node/issues/59686
const { request: httpRequest } = createRequire(import.meta.url)('node:http') as typeof import('node:http');

/** One request. A GET or HEAD sends no body. */
export interface NodeRequest {
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array | undefined;
}

/** Limits and means of one request. */
export interface NodeSendOptions {
  readonly signal: AbortSignal;
  /** The most bytes the body may have, read and decoded. */
  readonly maxBytes: number;
  /** The agent of `https:` requests (a client certificate, a CA); default Node's global one. */
  readonly httpsAgent?: HttpAgent | undefined;
}

/** An answer read in full. */
export interface NodeResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Uint8Array;
}

/** The answer's body is over the cap (declared, read or decoded); `status` is the answer's. */
export class ResponseTooLargeError extends Error {
  readonly status: number;
  constructor(status: number, max: number) {
    super(`the response is larger than ${max} bytes`);
    this.name = 'ResponseTooLargeError';
    this.status = status;
  }
}

/** The connection failed after the answer's status and headers came (`cause`): the server may have acted. */
export class ResponseReadError extends Error {
  readonly status: number;
  constructor(status: number, cause: unknown) {
    super('the connection failed while the answer was read', { cause });
    this.name = 'ResponseReadError';
    this.status = status;
  }
}

/** Statuses whose answer has no body whatever its headers say. */
const NO_BODY_STATUSES = new Set([204, 205, 304]);

function headersOf(incoming: IncomingHttpHeaders): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) headers.append(name, one);
    else headers.append(name, value);
  }
  return headers;
}

/**
 * `body` decoded by its `content-encoding` (a list is applied last first), at most
 * `max` bytes; an encoding other than gzip, deflate and br is left as it is, as `fetch` does.
 * @throws {RangeError} `ERR_BUFFER_TOO_LARGE` when decoded it exceeds `max`.
 */
function decoded(body: Buffer, encoding: string | undefined, max: number): Buffer {
  if (encoding === undefined || body.byteLength === 0) return body;
  let result = body;
  const codings = encoding
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .reverse();
  for (const coding of codings) {
    const limit = { maxOutputLength: max };
    if (coding === 'gzip' || coding === 'x-gzip') result = gunzipSync(result, limit);
    else if (coding === 'br') result = brotliDecompressSync(result, limit);
    else if (coding === 'deflate') {
      // zlib-wrapped as the standard says, or raw as some servers send it (fetch takes both).
      const first = result[0] ?? 0;
      result = (first & 0x0f) === 8 ? inflateSync(result, limit) : inflateRawSync(result, limit);
    }
  }
  return result;
}

/** Whether a request of `method` carries a body: all but GET and HEAD. */
export function sendsBody(method: string): boolean {
  return method !== 'GET' && method !== 'HEAD';
}

/**
 * Sends `request` to `url` and reads the whole answer.
 * @throws {ResponseTooLargeError} when the answer's body is over `options.maxBytes`.
 * @throws {ResponseReadError} when the connection failed (or the signal aborted) once the
 *   answer had begun, or its body could not be decoded.
 * @throws the request's own error (a system error with its `code`, the signal's reason)
 *   when no answer began.
 */
export function nodeSend(url: URL, request: NodeRequest, options: NodeSendOptions): Promise<NodeResponse> {
  const { maxBytes, signal } = options;
  const payload = sendsBody(request.method) ? Buffer.from(request.body ?? '') : undefined;
  const headers: Record<string, string> = { ...request.headers };
  if (payload !== undefined) headers['content-length'] = String(payload.byteLength);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const agent = url.protocol === 'https:' ? options.httpsAgent : undefined;

  return new Promise<NodeResponse>((resolve, reject) => {
    const call = send(url, { method: request.method, headers, signal, ...(agent ? { agent } : {}) }, (incoming) => {
      const status = incoming.statusCode ?? 0;
      const fail = (error: Error) => {
        incoming.destroy();
        reject(error);
      };
      if (Number(incoming.headers['content-length'] ?? '0') > maxBytes) {
        fail(new ResponseTooLargeError(status, maxBytes));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > maxBytes) fail(new ResponseTooLargeError(status, maxBytes));
        else chunks.push(chunk);
      });
      incoming.on('error', (error) => reject(new ResponseReadError(status, error)));
      incoming.on('close', () => {
        if (!incoming.complete) reject(new ResponseReadError(status, new Error('the answer ended early')));
      });
      incoming.on('end', () => {
        const raw = NO_BODY_STATUSES.has(status) || request.method === 'HEAD' ? Buffer.alloc(0) : Buffer.concat(chunks);
        let body: Buffer;
        try {
          body = decoded(raw, incoming.headers['content-encoding'], maxBytes);
        } catch (error) {
          reject(
            (error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE'
              ? new ResponseTooLargeError(status, maxBytes)
              : new ResponseReadError(status, error),
          );
          return;
        }
        resolve({ status, headers: headersOf(incoming.headers), body });
      });
    });
    call.on('error', reject);
    call.end(payload);
  });
}
