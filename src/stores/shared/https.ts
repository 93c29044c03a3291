/**
 * One HTTPS request with `node:https` (for what `fetch` cannot set per request: a CA, a
 * client certificate, an agent), its answer read whole as text up to a size limit, for
 * the backends that talk to their servers this way (Vault with a CA file, Kubernetes).
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';

/** An answer: its status and its body as text. */
export interface HttpsAnswer {
  readonly status: number;
  readonly text: string;
}

/**
 * Sends `body` to `url` with `options` and reads the answer. An answer larger than
 * `maxBytes` is cut off and fails with an error naming `what` and the limit, never the
 * answer's content.
 * @example await httpsExchange(new URL('https://vault:8200/v1/sys/health'), { method: 'GET', ca }, undefined, 1 << 20, 'Vault response')
 */
export function httpsExchange(
  url: URL,
  options: RequestOptions,
  body: string | undefined,
  maxBytes: number,
  what: string,
): Promise<HttpsAnswer> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(options.signal.reason);
      return;
    }
    const outgoing = httpsRequest(url, options, (incoming) => {
      const chunks: Buffer[] = [];
      let size = 0;
      incoming.on('data', (chunk: Buffer) => {
        size += chunk.byteLength;
        if (size > maxBytes) {
          incoming.destroy(new Error(`${what} is larger than ${maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      incoming.on('error', reject);
      incoming.on('end', () =>
        resolve({ status: incoming.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}
