/**
 * The sandbox server: routes each request to its vendor protocol or to the control
 * endpoints, applies queued faults, counts and records what happened.
 */

import { createPublicKey } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { MAX_BODY_BYTES, parseContentType, peekGrantType, readBody } from './body.js';
import { control } from './control.js';
import { FaultQueue, faultReply } from './faults.js';
import { keliweb } from './keliweb.js';
import { klikoo } from './klikoo.js';
import { oauth2 } from './oauth2.js';
import type { Environment, Outcome, Protocol, Reply, ResolvedLifetime } from './protocol.js';
import { jsonReply } from './protocol.js';
import { StatsBook } from './stats.js';
import { TokenLedger } from './tokens.js';
import type { Fault, RecordedRequest, Sandbox, SandboxClient, SandboxOptions, SandboxTarget } from './types.js';
import { isSandboxTarget, SANDBOX_TARGETS } from './types.js';

/** Where each target lives under the sandbox URL, and its token endpoint below that. */
const ROUTES: Readonly<
  Record<SandboxTarget, { readonly base: string; readonly token: string; readonly protocol: Protocol }>
> = {
  'keliweb-api-v2': { base: '/keliweb/api-v2', token: '/oauth/token', protocol: keliweb },
  'keliweb-fatture': { base: '/keliweb/fatture', token: '/oauth/token', protocol: keliweb },
  klikoo: { base: '/klikoo', token: '/v1/open-api/access-token', protocol: klikoo },
  oauth2: { base: '/oauth2', token: '/oauth/token', protocol: oauth2 },
};

/** Lifetimes in seconds when {@link SandboxOptions.lifetimes} does not say otherwise. */
export const DEFAULT_LIFETIMES: Readonly<Record<SandboxTarget, ResolvedLifetime>> = {
  'keliweb-api-v2': { accessSeconds: 3600, refreshSeconds: 864_000 },
  'keliweb-fatture': { accessSeconds: 3600, refreshSeconds: 864_000 },
  klikoo: { accessSeconds: 900, refreshSeconds: 0 },
  oauth2: { accessSeconds: 3600, refreshSeconds: 86_400 },
};

/** The request log keeps this many entries, dropping the oldest, so a long-running sandbox stays small. */
export const MAX_RECORDED_REQUESTS = 10_000;

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

function targetOfPath(path: string): SandboxTarget | undefined {
  return SANDBOX_TARGETS.find((target) => path === ROUTES[target].base + ROUTES[target].token);
}

/** Refuses a client list the protocols could never serve. Messages name fields, never values. */
function checkClients(clients: readonly SandboxClient[]): void {
  const seen = new Set<string>();
  clients.forEach((client, index) => {
    const at = `clients[${index}]`;
    if (!isSandboxTarget(client.target)) throw new TypeError(`${at}.target: unknown target`);
    if (typeof client.clientId !== 'string' || client.clientId === '') throw new TypeError(`${at}.clientId: required`);
    if (typeof client.clientSecret !== 'string' || client.clientSecret === '')
      throw new TypeError(`${at}.clientSecret: required`);
    const key = `${client.target}\n${client.clientId}`;
    if (seen.has(key)) throw new TypeError(`${at}.clientId: registered twice for ${client.target}`);
    seen.add(key);
    if (client.target.startsWith('keliweb') && (client.username === undefined || client.password === undefined)) {
      throw new TypeError(`${at}: keliweb clients need username and password`);
    }
    if ((client.username === undefined) !== (client.password === undefined))
      throw new TypeError(`${at}: give both username and password, or neither`);
    if (client.target === 'klikoo') {
      if (!UUID_V4.test(client.clientId)) throw new TypeError(`${at}.clientId: klikoo client ids are UUID v4`);
      if (client.clientSecret.length !== 32)
        throw new TypeError(`${at}.clientSecret: klikoo secrets are 32 characters`);
      try {
        createPublicKey(client.publicKeyPem ?? '');
      } catch (cause) {
        throw new TypeError(`${at}.publicKeyPem: an SPKI PEM public key is required`, { cause });
      }
    }
  });
}

function resolveLifetimes(options: SandboxOptions): Record<SandboxTarget, ResolvedLifetime> {
  const resolved = { ...DEFAULT_LIFETIMES };
  for (const target of SANDBOX_TARGETS) {
    const given = options.lifetimes?.[target];
    const lifetime = { ...DEFAULT_LIFETIMES[target], ...given };
    for (const [name, value] of Object.entries(lifetime)) {
      if (!Number.isInteger(value) || value < 0)
        throw new TypeError(`lifetimes.${target}.${name}: must be a non-negative integer of seconds`);
    }
    resolved[target] = lifetime;
  }
  return resolved;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.destroyed || res.headersSent) return;
  const body = Buffer.from(reply.body, 'utf8');
  res.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  res.end(body);
}

/**
 * Starts the sandbox on 127.0.0.1: the Keliweb (API v2 and Fatture), Klikoo and
 * generic OAuth 2.0 token endpoints, each enforcing its protocol strictly, plus fault
 * injection and the `/_sandbox/` control endpoints.
 *
 * @throws {TypeError} when a client or lifetime is not usable.
 * @example
 * const { clients, secrets } = await createDemoClients();
 * const sandbox = await startSandbox({ clients });
 * sandbox.injectFault({ type: 'status', status: 503, target: 'klikoo' });
 * // … run the rotator against sandbox.baseUrl('klikoo') …
 * await sandbox.close();
 * @see docs/protocols.md for the rules each endpoint enforces
 */
export async function startSandbox(options: SandboxOptions): Promise<Sandbox> {
  checkClients(options.clients);
  const lifetimes = resolveLifetimes(options);
  const now = options.now ?? Date.now;
  const clients = new Map(options.clients.map((client) => [`${client.target}\n${client.clientId}`, { ...client }]));
  const ledger = new TokenLedger(now);
  const stats = new StatsBook();
  const faults = new FaultQueue();
  const requests: RecordedRequest[] = [];
  const closing = new AbortController();
  const env: Environment = {
    ledger,
    now,
    client: (target, clientId) => clients.get(`${target}\n${clientId}`),
    lifetime: (target) => lifetimes[target],
    count: (target, counter) => stats.count(target, counter),
  };

  const record = (entry: RecordedRequest): void => {
    requests.push(Object.freeze(entry));
    if (requests.length > MAX_RECORDED_REQUESTS) requests.splice(0, requests.length - MAX_RECORDED_REQUESTS);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const contentType = req.headers['content-type'];
    const media = parseContentType(contentType);
    const seen = { method, path, ...(media === undefined ? {} : { contentType: media.essence }) };
    const target = targetOfPath(path);

    if (target === undefined) {
      const raw = await readBody(req);
      const reply = raw.tooLarge
        ? jsonReply(413, { error: 'invalid_request', error_description: `The body exceeds ${MAX_BODY_BYTES} bytes` })
        : path.startsWith('/_sandbox/')
          ? await control({ method, url, media, contentType, body: raw.bytes }, { ledger, stats, faults })
          : jsonReply(404, { error: 'not_found', error_description: 'No such endpoint' });
      send(res, reply);
      record({ ...seen, at: now(), status: reply.status });
      return;
    }

    const { protocol } = ROUTES[target];
    const raw = await readBody(req);
    if (raw.tooLarge) {
      const reply = protocol.error(413, `The body exceeds ${MAX_BODY_BYTES} bytes`);
      send(res, reply);
      stats.count(target, 'rejected');
      record({ ...seen, target, at: now(), status: reply.status });
      return;
    }
    const grantType = await peekGrantType(raw.bytes, media, contentType);
    const logged = { ...seen, target, ...(grantType === undefined ? {} : { grantType }) };
    // Faults stand for a failing server or network, so only real token calls meet them.
    const fault: Fault | undefined = method === 'POST' ? faults.take(target) : undefined;
    const faultNote = fault === undefined ? {} : { fault: fault.type };
    if (fault !== undefined) stats.count(target, 'faultsInjected');
    const phase =
      fault !== undefined && (fault.type === 'latency' || fault.type === 'drop')
        ? (fault.phase ?? 'before')
        : undefined;

    const dropped = (): void => {
      req.socket.destroy();
      record({ ...logged, ...faultNote, at: now(), status: null });
    };
    if (fault?.type === 'drop' && phase === 'before') return dropped();
    if (fault?.type === 'latency' && phase === 'before') await sleep(fault.ms, closing.signal);
    if (closing.signal.aborted) return dropped();

    const injected = fault === undefined ? undefined : faultReply(fault, protocol, target, env);
    const outcome: Outcome =
      injected !== undefined
        ? { reply: injected, notes: {} }
        : await protocol.handle({ target, method, headers: req.headers, media, body: raw.bytes }, env);

    if (fault?.type === 'drop') return dropped();
    if (fault?.type === 'latency' && phase === 'after') await sleep(fault.ms, closing.signal);
    if (closing.signal.aborted) return dropped();

    const { reply } = outcome;
    send(res, reply);
    if (injected === undefined && reply.status >= 400 && reply.status < 500) stats.count(target, 'rejected');
    record({ ...logged, ...outcome.notes, ...faultNote, at: now(), status: reply.status });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      // Never echo the error: it may quote a request value. A broken request just ends.
      if (!res.headersSent && !res.destroyed)
        send(res, jsonReply(500, { error: 'server_error', error_description: 'The sandbox failed' }));
      else req.socket.destroy();
    });
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the sandbox is not listening on a TCP port');
  const url = `http://127.0.0.1:${address.port}`;

  let closed: Promise<void> | undefined;
  return {
    url,
    baseUrl: (target) => url + ROUTES[target].base,
    tokenUrl: (target) => url + ROUTES[target].base + ROUTES[target].token,
    isValid: (accessToken) => ledger.isValidAccessToken(accessToken),
    introspect: (token) => ledger.introspect(token),
    issuedTokens: () => ledger.values(),
    stats: (target) => stats.read(target),
    injectFault: (fault) => faults.push(fault),
    clearFaults: () => faults.clear(),
    get requests(): readonly RecordedRequest[] {
      return requests;
    },
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
      return closed;
    },
  };
}
