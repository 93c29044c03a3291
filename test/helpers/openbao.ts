/**
 * A real OpenBao server (`bao server -dev`, Vault's open-source fork) on a free loopback
 * port, in memory, for integration tests. Installed by scripts/install-test-peers.sh.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { type KeyObject, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { caTransport, fetchTransport, type VaultTransport } from '../../src/stores/vault/transport.js';
import { freePort } from './ports.js';

export { freePort } from './ports.js';

/** Where scripts/install-test-peers.sh puts the binary. */
export const BAO_BINARY = resolve(import.meta.dirname, '../../.venv/bin/bao');

/** A running dev server. */
export interface OpenBao {
  /** `http://127.0.0.1:<port>`, or `https://` with `tls`. */
  readonly address: string;
  /** With `tls`: the PEM file of the CA that signed the server's certificate. */
  readonly caFile: string | undefined;
  readonly rootToken: string;
  readonly process: ChildProcess;
  /**
   * Calls the HTTP API (`path` after `/v1/`) with the root token unless another is given;
   * returns the status and the parsed body. `namespace` is sent as `X-Vault-Namespace`.
   */
  api(
    method: string,
    path: string,
    body?: unknown,
    token?: string,
    namespace?: string,
  ): Promise<{ status: number; body: any }>;
  /** Like {@link api}, throwing unless the status is 2xx. */
  ok(method: string, path: string, body?: unknown, token?: string, namespace?: string): Promise<any>;
  /** SIGTERM, then SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `bao server -dev` and waits until `/v1/sys/health` answers. With `tls`, the
 * server listens with a certificate from a CA it generates (`-dev-tls`).
 */
export async function startOpenBao(options: { readonly tls?: boolean } = {}): Promise<OpenBao> {
  if (!existsSync(BAO_BINARY))
    throw new Error(`OpenBao is not installed at ${BAO_BINARY}: run scripts/install-test-peers.sh`);
  const port = await freePort();
  const rootToken = `root-${randomBytes(12).toString('hex')}`;
  const address = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  // Its own HOME: the dev server writes a token helper file there.
  const home = await mkdtemp(join(tmpdir(), 'tr-openbao-'));
  const tlsDir = join(home, 'tls');
  const args = ['server', '-dev', `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`];
  if (options.tls) {
    await mkdir(tlsDir);
    args.push('-dev-tls', `-dev-tls-cert-dir=${tlsDir}`);
  }
  const caFile = options.tls ? join(tlsDir, 'vault-ca.pem') : undefined;
  let transport: VaultTransport | undefined = options.tls ? undefined : fetchTransport;
  const child = spawn(BAO_BINARY, args, {
    env: { PATH: process.env['PATH'] ?? '', HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  let hasExited = false;
  void exited.then(() => (hasExited = true));

  const send = async (method: string, path: string, headers: Record<string, string>, body?: string) => {
    if (transport === undefined && caFile !== undefined && existsSync(caFile))
      transport = caTransport(await readFile(caFile, 'utf8'));
    if (transport === undefined) throw new Error('the server has not written its CA yet');
    return transport({
      method,
      url: `${address}/v1/${path}`,
      headers,
      signal: AbortSignal.timeout(5000),
      ...(body === undefined ? {} : { body }),
    });
  };

  const api: OpenBao['api'] = async (method, path, body, token = rootToken, namespace) => {
    const headers = {
      'x-vault-token': token,
      ...(namespace === undefined ? {} : { 'x-vault-namespace': namespace }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    };
    const response = await send(method, path, headers, body === undefined ? undefined : JSON.stringify(body));
    return { status: response.status, body: response.text === '' ? undefined : JSON.parse(response.text) };
  };

  const stop = async () => {
    if (hasExited) return;
    child.kill('SIGTERM');
    const killed = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 5000)),
    ]);
    if (!killed) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(home, { recursive: true, force: true });
  };

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (hasExited) throw new Error(`bao server exited before it was ready:\n${output}`);
    try {
      const response = await send('GET', 'sys/health', {});
      if (response.status === 200) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`bao server did not become healthy within 20 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  return {
    address,
    caFile,
    rootToken,
    process: child,
    api,
    async ok(method, path, body, token, namespace) {
      const answer = await api(method, path, body, token, namespace);
      if (answer.status < 200 || answer.status >= 300)
        throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
      return answer.body;
    },
    stop,
  };
}

/**
 * Enables JWT auth trusting `publicKey`, with a role `rotator` (rotator policy) for JWTs
 * whose `sub` is the token-rotator service account and whose audience is `openbao`.
 */
export async function enableJwtAuth(bao: OpenBao, publicKey: KeyObject): Promise<void> {
  await bao.ok('POST', 'sys/auth/jwt', { type: 'jwt' });
  await bao.ok('POST', 'auth/jwt/config', {
    jwt_validation_pubkeys: [publicKey.export({ type: 'spki', format: 'pem' })],
  });
  await bao.ok('POST', 'auth/jwt/role/rotator', {
    role_type: 'jwt',
    user_claim: 'sub',
    bound_subject: 'system:serviceaccount:rotation:token-rotator',
    bound_audiences: ['openbao'],
    token_policies: ['token-rotator'],
  });
}
