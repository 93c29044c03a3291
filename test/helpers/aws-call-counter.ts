/**
 * A loopback HTTP proxy in front of an AWS endpoint (moto in the tests) that forwards
 * every request unchanged and counts it by service and operation, so a test or a
 * benchmark can say how many billable calls a piece of code made without knowing how
 * that code lays its records out.
 *
 * How a request is named:
 * - the service is the one the client signed for, from the SigV4 credential scope
 *   (`Credential=AKID/20260101/us-east-1/ssm/aws4_request` → `ssm`); without one, the
 *   first part of `X-Amz-Target`, lower-cased;
 * - the operation is the second part of `X-Amz-Target` for the JSON protocols
 *   (`secretsmanager.GetSecretValue`, `AmazonSSM.GetParameter`), else the `Action=` of the
 *   query or of a form-encoded body (STS, IAM and the other query protocols), else the
 *   method and path (REST protocols).
 *
 * Each call is counted once, when its request body has arrived; SDK retries are separate
 * requests and are counted, as AWS bills them.
 *
 * @see https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-signing-request.html
 */
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the counter forwarded. */
export interface AwsCall {
  /** `secretsmanager`, `ssm`, `sts`… (`unknown` when the request names none). */
  readonly service: string;
  /** `GetSecretValue`, `GetParameter`, `GetCallerIdentity`… */
  readonly operation: string;
  /**
   * The resource a JSON-protocol call names (`SecretId`, `Name`, or `Names` or
   * `SecretIdList` joined by commas), for attributing calls to records; absent for calls
   * that name none (a listing, a batch read by filter).
   */
  readonly resource?: string;
  /** The access key id the request is signed with (its `Credential=` scope), when signed. */
  readonly accessKeyId?: string;
}

/** A running counter; see {@link startAwsCallCounter}. */
export interface AwsCallCounter {
  /** `http://127.0.0.1:<port>`: give it to a client as its endpoint in place of the upstream's. */
  readonly endpoint: string;
  /** Calls since the start or the last {@link reset}, by `service.Operation` (`secretsmanager.GetSecretValue` → 12). */
  counts(): Record<string, number>;
  /** The calls since the start or the last {@link reset}, in the order their requests completed. */
  calls(): readonly AwsCall[];
  /** Forgets the calls counted so far. */
  reset(): void;
  /** Stops listening and closes every connection, to clients and upstream; idempotent. */
  stop(): Promise<void>;
}

/** The body is inspected up to this many bytes (to find `Action=` or `SecretId`); all of it is forwarded. */
const INSPECTED_BODY_BYTES = 64 * 1024;

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/** Names a request from its headers, query and (the start of) its body. */
export function describeAwsRequest(
  method: string,
  url: string,
  headers: Readonly<Record<string, string | undefined>>,
  body: string,
): AwsCall {
  const target = headers['x-amz-target'];
  const scope = /Credential=([^/,\s]+)\/\d{8}\/[^/,\s]+\/([^/,\s]+)\/aws4_request/.exec(headers['authorization'] ?? '');
  const [targetService, targetOperation] = target === undefined ? [] : target.split('.', 2);
  const service = scope?.[2] ?? targetService?.toLowerCase() ?? 'unknown';
  const query = new URL(url, 'http://counter.invalid');
  const contentType = headers['content-type'] ?? '';
  const formAction = contentType.includes('x-www-form-urlencoded')
    ? (new URLSearchParams(body).get('Action') ?? undefined)
    : undefined;
  const operation = targetOperation ?? query.searchParams.get('Action') ?? formAction ?? `${method} ${query.pathname}`;
  let resource: string | undefined;
  if (target !== undefined && body !== '') {
    try {
      const parsed = JSON.parse(body) as Record<string, unknown>;
      const list = (value: unknown) =>
        Array.isArray(value) && value.every((item) => typeof item === 'string') ? value.join(',') : undefined;
      const named = parsed['SecretId'] ?? parsed['Name'] ?? list(parsed['Names']) ?? list(parsed['SecretIdList']);
      if (typeof named === 'string') resource = named;
    } catch {
      // a body too long to inspect whole, or not JSON: the call names no resource we can read
    }
  }
  return {
    service,
    operation,
    ...(resource === undefined ? {} : { resource }),
    ...(scope?.[1] === undefined ? {} : { accessKeyId: scope[1] }),
  };
}

/**
 * Starts the counter on a free loopback port in front of `upstream` (`http://host:port`).
 *
 * @example
 * const counter = await startAwsCallCounter(moto.endpoint);
 * const client = new SecretsManagerClient({ endpoint: counter.endpoint });
 * await client.send(new GetSecretValueCommand({ SecretId: 'a' }));
 * counter.counts(); // { 'secretsmanager.GetSecretValue': 1 }
 * await counter.stop();
 */
export async function startAwsCallCounter(upstream: string): Promise<AwsCallCounter> {
  const target = new URL(upstream);
  if (target.protocol !== 'http:')
    throw new Error(`the counter forwards to http:// endpoints only, not ${target.protocol}`);
  const agent = new Agent({ keepAlive: true });
  let calls: AwsCall[] = [];

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    let inspected = 0;
    req.on('data', (chunk: Buffer) => {
      if (inspected >= INSPECTED_BODY_BYTES) return;
      chunks.push(chunk);
      inspected += chunk.length;
    });
    req.on('end', () => {
      const headers: Record<string, string | undefined> = {};
      for (const name of ['x-amz-target', 'authorization', 'content-type']) headers[name] = header(req, name);
      const body = Buffer.concat(chunks).subarray(0, INSPECTED_BODY_BYTES).toString('utf8');
      calls.push(describeAwsRequest(req.method ?? 'GET', req.url ?? '/', headers, body));
    });
    const outgoing = request(
      {
        protocol: target.protocol,
        hostname: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        // Unchanged, Host included: the client signed these, and the upstream may check them.
        headers: req.rawHeaders,
        agent,
      },
      (incoming) => {
        res.writeHead(incoming.statusCode ?? 502, incoming.statusMessage, incoming.rawHeaders);
        incoming.pipe(res);
      },
    );
    outgoing.on('error', (error) => {
      if (res.headersSent) {
        res.destroy(error);
        return;
      }
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`aws call counter: upstream ${upstream} failed: ${error.message}`);
    });
    req.pipe(outgoing);
  };

  const server = createServer(forward);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    counts() {
      const counts: Record<string, number> = {};
      for (const call of calls) {
        const key = `${call.service}.${call.operation}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    },
    calls: () => [...calls],
    reset() {
      calls = [];
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      });
      return stopped;
    },
  };
}
