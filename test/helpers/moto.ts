import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

/** A moto_server (the AWS wire protocol) running on a free loopback port. */
export interface Moto {
  /** `http://127.0.0.1:<port>`, for the SDK's `endpoint`. */
  readonly endpoint: string;
  /** The server process, e.g. to pause it with SIGSTOP. */
  readonly process: ChildProcess;
  /** Resumes a paused server (SIGCONT), then SIGTERM, then SIGKILL after 5 s; idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startMoto}. */
export interface MotoOptions {
  /** Milliseconds to wait for the server to answer; 30 s by default. */
  readonly timeoutMs?: number;
  /**
   * Extra environment of the server, e.g. `INITIAL_NO_AUTH_ACTION_COUNT` to make it
   * enforce IAM policies after that many requests.
   */
  readonly env?: Readonly<Record<string, string>>;
}

const MOTO_SERVER = fileURLToPath(new URL('../../.venv/bin/moto_server', import.meta.url));
const VENV_PYTHON = fileURLToPath(new URL('../../.venv/bin/python3', import.meta.url));
/** moto's server with AWSCURRENT followed by plain reads, as AWS does (see the script). */
const MOTO_LAUNCHER = fileURLToPath(new URL('./moto_server.py', import.meta.url));

/**
 * Fake static credentials and region for the SDK's standard chains: moto accepts any
 * signature; these name no real account. IMDS is disabled so nothing probes the network.
 */
export const MOTO_ENV = {
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_SESSION_TOKEN: 'testing',
  AWS_REGION: 'us-east-1',
  AWS_EC2_METADATA_DISABLED: 'true',
} as const;

/** Starts moto's server (`moto_server.py`, from `.venv`) and resolves once it answers HTTP. */
export async function startMoto(options: MotoOptions = {}): Promise<Moto> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  if (!existsSync(MOTO_SERVER)) {
    throw new Error(`moto_server not found at ${MOTO_SERVER}: run scripts/install-test-peers.sh`);
  }
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(VENV_PYTHON, [MOTO_LAUNCHER, '-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null | undefined;
  void exited.then((code) => (exitCode = code));

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exitCode !== undefined) throw new Error(`moto_server exited with ${exitCode} before answering:\n${output}`);
    try {
      const response = await fetch(`${endpoint}/moto-api/`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not answer on ${endpoint} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    endpoint,
    process: child,
    async stop() {
      if (exitCode !== undefined) return;
      child.kill('SIGCONT'); // a test that failed while the server was paused must not hang here
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
