/**
 * The store contract's conformance cases, written once and run against every backend with
 * its real server (see test/integration/store-conformance.test.ts). A backend joins by
 * giving one {@link ConformanceBackend}: how to start its server, open a store on fresh
 * storage, and produce the few things only it knows how to produce (a denial, a server
 * that stops answering, where operators see labels, its size limit).
 *
 * Cross-process cases run the built store factory (`dist/stores/registry.js`) in child
 * Node.js processes: Node 20 cannot import TypeScript, so `npm run build` must have run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreConfig } from '../../src/config/schema.js';
import { ConflictError, ErrorCodes, StoreError } from '../../src/errors.js';
import type { SecretStore } from '../../src/stores/contract.js';
import { everythingIn } from './error-text.js';
import { type Child, startNode } from './file-store-processes.js';

const repository = fileURLToPath(new URL('../../', import.meta.url));
/** The built store factory child processes import. */
export const DIST_REGISTRY = join(repository, 'dist', 'stores', 'registry.js');

/** A store on fresh, empty storage (its own directory or prefix). */
export interface OpenedStore {
  readonly store: SecretStore;
  /** The resolved config section that builds the same store in another process. */
  readonly config: StoreConfig;
}

/** Options of {@link ConformanceBackend.open}. */
export interface OpenOptions {
  /**
   * The longest wait for one call (Vault's request timeout, the AWS SDK's request timeout
   * with a single attempt, the file store's lock timeout); the backend's default otherwise.
   */
  readonly timeoutMs?: number;
}

/** An error as a child process reports it: only the fields the contract promises. */
export interface ReportedError {
  readonly name: string;
  readonly code?: string;
  readonly retryable?: boolean;
  readonly message: string;
}

/** What a backend gives the suite. */
export interface ConformanceBackend {
  /** Names the describe block: the kind and the server it runs against. */
  readonly name: string;
  /** Starts the backend's server (once per suite). */
  start(): Promise<void>;
  /** Stops it; must also work after a failed `start`. */
  stop(): Promise<void>;
  /** A store on storage no other case uses. */
  open(options?: OpenOptions): Promise<OpenedStore>;
  /** Environment for child processes that build the store from its config (credentials). */
  readonly childEnv?: Readonly<Record<string, string>>;
  /** The backend's record size limit. */
  readonly sizeLimit: {
    /** The largest size, as {@link sizeOf} counts, that a write accepts. */
    readonly bytes: number;
    /** The size of a first write of `value`, counted as the backend counts it. */
    sizeOf(value: Record<string, unknown>, opened: OpenedStore): number;
  };
  /** Where operators see a record's labels, or why the backend ignores them. */
  readonly labels:
    | { readonly seen: (opened: OpenedStore, path: string) => Promise<Readonly<Record<string, string>>> }
    | { readonly ignored: string };
  /**
   * Makes a write the backend's access control refuses, with a principal that may read but
   * not write. Returns the error and every secret that must not appear in it.
   */
  deniedWrite(
    opened: OpenedStore,
    path: string,
  ): Promise<{ readonly error: unknown; readonly secrets: readonly string[] }>;
  /** Makes the backend stop answering, and back. */
  readonly unresponsive: {
    /** The timeout the store is opened with for this case. */
    readonly timeoutMs: number;
    /** Stops the backend answering calls on `path` of `opened`; resolves to a function that undoes it. */
    freeze(opened: OpenedStore, path: string): Promise<() => Promise<void>>;
  };
}

/** Values no encoding may alter: emoji, CJK, right-to-left scripts, combining marks, astral planes. */
export const NON_ASCII = {
  emoji: '🔑🚀👩‍💻 token',
  cjk: '令牌轮换・トークン・토큰',
  rtl: 'שלום עולם — مرحبا بالعالم',
  combining: 'e\u0301 vs é, Å vs A\u030A',
  astral: '𝒯𝓸𝓀ℯ𝓃 𐍈',
  controls: 'tab\tnew line\nquote" backslash\\ <html> & U+2028\u2028',
  '键🔑': 'a non-ASCII key',
} as const;

/**
 * Increments `counter` N times: read, then write with the read version, again on conflict.
 * Each value names its writer, as the engine's lease names its holder: two writes of an
 * identical value over the same version are, to a store that makes retries idempotent
 * (the AWS store's request token), one write sent twice, and both callers are told it landed.
 */
const RACER = `
import { createInterface } from 'node:readline';
const [registryUrl, times] = process.argv.slice(2);
const { createStore } = await import(registryUrl);
const store = await createStore(JSON.parse(process.env.STORE_CONFIG));
const lines = createInterface({ input: process.stdin });
const go = new Promise((resolve) => lines.once('line', resolve));
console.log('ready');
await go;
lines.close();
const wins = [];
let conflicts = 0;
while (wins.length < Number(times)) {
  const current = await store.read('counter');
  try {
    const version = await store.write('counter', { count: current.value.count + 1, writer: process.pid }, current.version);
    wins.push({ from: current.version, to: version, count: current.value.count + 1 });
  } catch (error) {
    if (error?.code !== 'STORE_CONFLICT') throw error;
    conflicts += 1;
  }
}
await store.close();
console.log(JSON.stringify({ wins, conflicts }));
`;

/** A winning write as a racer reports it. */
interface Win {
  readonly from: string;
  readonly to: string;
  readonly count: number;
}

const PROCESSES = 4;
const INCREMENTS = 25;

/** The fields of an error the contract promises, for comparison and messages. */
function reported(error: unknown): ReportedError {
  if (typeof error !== 'object' || error === null) return { name: typeof error, message: String(error) };
  const { name, code, retryable, message } = error as Partial<ReportedError>;
  return {
    name: String(name),
    message: String(message),
    ...(code === undefined ? {} : { code }),
    ...(retryable === undefined ? {} : { retryable }),
  };
}

/** Runs the contract's cases against one backend. */
export function defineStoreConformance(backend: ConformanceBackend): void {
  describe(`the store contract on ${backend.name}`, () => {
    const opened: OpenedStore[] = [];
    const children: Child[] = [];
    let scripts: string | undefined;

    beforeAll(async () => {
      await backend.start();
      scripts = await mkdtemp(join(tmpdir(), 'store-conformance-'));
      await writeFile(join(scripts, 'racer.mjs'), RACER);
    }, 60_000);

    afterAll(async () => {
      for (const child of children.splice(0)) {
        child.kill('SIGKILL');
        await child.exited;
      }
      await Promise.all(opened.map((each) => each.store.close()));
      await backend.stop();
      if (scripts !== undefined) await rm(scripts, { recursive: true, force: true });
    }, 30_000);

    async function open(options?: OpenOptions): Promise<OpenedStore> {
      const each = await backend.open(options);
      opened.push(each);
      return each;
    }

    describe('write and read', () => {
      it('creates a record when the expected version is null and reads back its value and version', async () => {
        const { store } = await open();

        const version = await store.write('tokens/klikoo', { access_token: 'a1', expires_in: 900 }, null);

        expect(typeof version).toBe('string');
        expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1', expires_in: 900 }, version });
      });

      it('updates a record with its current version, to a new version that reads back', async () => {
        const { store } = await open();
        const first = await store.write('state/klikoo', { generation: 1 }, null);

        const second = await store.write('state/klikoo', { generation: 2 }, first);

        expect(second).not.toBe(first);
        expect(await store.read('state/klikoo')).toEqual({ value: { generation: 2 }, version: second });
      });

      it('reads a record that was never written as undefined', async () => {
        const { store } = await open();
        await store.write('tokens/other', { access_token: 'a1' }, null);

        expect(await store.read('tokens/klikoo')).toBeUndefined();
        expect(await store.read('elsewhere/klikoo')).toBeUndefined();
      });

      it('round-trips non-ASCII values and keys exactly', async () => {
        const { store } = await open();

        const version = await store.write('tokens/unicode', { ...NON_ASCII }, null);

        const read = await store.read('tokens/unicode');
        expect(read).toEqual({ value: { ...NON_ASCII }, version });
        for (const [key, value] of Object.entries(NON_ASCII)) expect(read?.value[key], key).toBe(value);
      });
    });

    describe('compare-and-set', () => {
      it('rejects a stale version with a ConflictError and keeps the newer record', async () => {
        const { store } = await open();
        const first = await store.write('state/klikoo', { generation: 1 }, null);
        const second = await store.write('state/klikoo', { generation: 2 }, first);

        const error: unknown = await store
          .write('state/klikoo', { generation: 3 }, first)
          .catch((caught: unknown) => caught);

        expect(error).toBeInstanceOf(ConflictError);
        expect(error).toMatchObject({ code: ErrorCodes.STORE_CONFLICT, path: 'state/klikoo', retryable: false });
        expect(await store.read('state/klikoo')).toEqual({ value: { generation: 2 }, version: second });
      });

      it('rejects creating a record that exists with a ConflictError and keeps the record', async () => {
        const { store } = await open();
        const first = await store.write('state/klikoo', { holder: 'first' }, null);

        const error: unknown = await store
          .write('state/klikoo', { holder: 'second' }, null)
          .catch((caught: unknown) => caught);

        expect(error).toBeInstanceOf(ConflictError);
        expect(await store.read('state/klikoo')).toEqual({ value: { holder: 'first' }, version: first });
      });

      it(`lets exactly one of ${PROCESSES} processes win each version when they race ${INCREMENTS} increments each`, async () => {
        expect(existsSync(DIST_REGISTRY), `${DIST_REGISTRY} is missing: run npm run build first`).toBe(true);
        const source = join(repository, 'src', 'stores', 'registry.ts');
        expect(
          (await stat(DIST_REGISTRY)).mtimeMs,
          `${DIST_REGISTRY} is older than its source: run npm run build`,
        ).toBeGreaterThanOrEqual((await stat(source)).mtimeMs);
        const { store, config } = await open();
        const start = await store.write('counter', { count: 0 }, null);
        const racers = await Promise.all(
          Array.from({ length: PROCESSES }, async () => {
            const child = await startNode(
              [join(scripts!, 'racer.mjs'), pathToFileURL(DIST_REGISTRY).href, String(INCREMENTS)],
              {
                ...backend.childEnv,
                STORE_CONFIG: JSON.stringify(config),
              },
            );
            children.push(child);
            return child;
          }),
        );
        for (const racer of racers) expect(await racer.nextLine()).toBe('ready');

        for (const racer of racers) racer.process.stdin.end('go\n');
        const reports = await Promise.all(
          racers.map(async (racer) => JSON.parse(await racer.nextLine()) as { wins: Win[]; conflicts: number }),
        );
        const exitCodes = await Promise.all(racers.map((racer) => racer.exited));

        expect(exitCodes, racers.map((racer) => racer.stderr()).join('\n')).toEqual(
          Array.from({ length: PROCESSES }, () => 0),
        );
        const wins = reports.flatMap((report) => report.wins);
        const total = PROCESSES * INCREMENTS;
        expect(wins).toHaveLength(total);
        // Each version was replaced by one winner only, and each new version was won once.
        expect(new Set(wins.map((win) => win.from)).size).toBe(total);
        expect(new Set(wins.map((win) => win.to)).size).toBe(total);
        expect(new Set(wins.map((win) => win.count)).size).toBe(total);
        // The winners form one chain from the first version to the last.
        const next = new Map(wins.map((win) => [win.from, win] as const));
        let version = start;
        for (let count = 1; count <= total; count++) {
          const win = next.get(version);
          // On a break, the wins around it say which racer saw what (versions only, no values).
          const around = wins.filter((w) => Math.abs(w.count - count) <= 1);
          expect(
            win,
            `the write that replaced version ${version}; wins around it: ${JSON.stringify(around)}`,
          ).toBeDefined();
          expect(win!.count).toBe(count);
          version = win!.to;
        }
        expect(await store.read('counter')).toEqual({ value: { count: total, writer: expect.any(Number) }, version });
        // Racing must have happened for the result to mean anything.
        expect(reports.reduce((sum, report) => sum + report.conflicts, 0)).toBeGreaterThan(0);
      }, 180_000);
    });

    describe('labels', () => {
      const labels = { provider: 'klikoo', expires_at: '2026-11-21T10:15:00.000Z' };
      if ('seen' in backend.labels) {
        const seen = backend.labels.seen;
        it('shows the labels of each write where operators see them, and keeps them out of the value', async () => {
          const each = await open();
          const first = await each.store.write('tokens/klikoo', { access_token: 'a1' }, null, { labels });
          expect(await seen(each, 'tokens/klikoo')).toMatchObject(labels);

          await each.store.write('tokens/klikoo', { access_token: 'a2' }, first, {
            labels: { ...labels, expires_at: '2026-11-21T10:30:00.000Z' },
          });

          expect(await seen(each, 'tokens/klikoo')).toMatchObject({
            ...labels,
            expires_at: '2026-11-21T10:30:00.000Z',
          });
          expect((await each.store.read('tokens/klikoo'))?.value).toEqual({ access_token: 'a2' });
        });
      } else {
        it(`accepts labels and keeps them out of the value (ignored: ${backend.labels.ignored})`, async () => {
          const { store } = await open();

          const version = await store.write('tokens/klikoo', { access_token: 'a1' }, null, { labels });

          expect(await store.read('tokens/klikoo')).toEqual({ value: { access_token: 'a1' }, version });
        });
      }
    });

    describe('size limit', () => {
      /** A value whose size, as the backend counts it, is exactly `bytes`. */
      function sizedValue(bytes: number, each: OpenedStore): Record<string, unknown> {
        const padding = bytes - backend.sizeLimit.sizeOf({ padding: '' }, each);
        const value = { padding: 'x'.repeat(padding) };
        expect(backend.sizeLimit.sizeOf(value, each)).toBe(bytes);
        return value;
      }

      it(`writes and reads back a record of exactly the limit (${backend.sizeLimit.bytes} bytes)`, async () => {
        const each = await open();
        const value = sizedValue(backend.sizeLimit.bytes, each);

        const version = await each.store.write('tokens/large', value, null);

        expect(await each.store.read('tokens/large')).toEqual({ value, version });
      }, 30_000);

      it('refuses a record one byte over the limit with a non-retryable StoreError naming the record, and writes nothing', async () => {
        const each = await open();
        const value = sizedValue(backend.sizeLimit.bytes + 1, each);

        const error: unknown = await each.store.write('tokens/large', value, null).catch((caught: unknown) => caught);

        expect(error).toBeInstanceOf(StoreError);
        expect(error).not.toBeInstanceOf(ConflictError);
        expect(error).toMatchObject({ retryable: false, message: expect.stringContaining('tokens/large') });
        expect((error as Error).message).toContain(String(backend.sizeLimit.bytes));
        expect(await each.store.read('tokens/large')).toBeUndefined();
      }, 30_000);
    });

    describe('failures', () => {
      it('reports an invalid record path as a non-retryable StoreError', async () => {
        const { store } = await open();

        for (const path of ['../escape', '/absolute', 'a//b', '']) {
          await expect(store.read(path), path).rejects.toMatchObject({
            name: 'StoreError',
            retryable: false,
            message: `invalid record path "${path}"`,
          });
          await expect(store.write(path, { access_token: 'a1' }, null), path).rejects.toMatchObject({
            name: 'StoreError',
            retryable: false,
          });
        }
      });

      it('reports a write its access control denies as a non-retryable StoreError without the credentials', async () => {
        const each = await open();
        await each.store.write('state/klikoo', { generation: 1 }, null);
        const before = await each.store.read('state/klikoo');

        const { error, secrets } = await backend.deniedWrite(each, 'state/klikoo');

        expect(reported(error), everythingIn(error)).toMatchObject({
          name: 'StoreError',
          code: ErrorCodes.STORE_UNAVAILABLE,
          retryable: false,
        });
        expect(reported(error).message).toContain('state/klikoo');
        for (const secret of secrets) expect(everythingIn(error)).not.toContain(secret);
        expect(await each.store.read('state/klikoo')).toEqual(before);
      }, 60_000);

      it('fails a call within its timeout with a retryable StoreError when the backend stops answering, and works again after', async () => {
        const { timeoutMs, freeze } = backend.unresponsive;
        const each = await open({ timeoutMs });
        const version = await each.store.write('state/klikoo', { generation: 1 }, null);
        const resume = await freeze(each, 'state/klikoo');
        let error: unknown;
        let elapsed: number;
        try {
          const started = Date.now();
          error = await each.store.write('state/klikoo', { generation: 2 }, version).catch((caught: unknown) => caught);
          elapsed = Date.now() - started;
        } finally {
          await resume();
        }

        expect(error).toBeInstanceOf(StoreError);
        expect(error).not.toBeInstanceOf(ConflictError);
        expect(error).toMatchObject({
          code: ErrorCodes.STORE_UNAVAILABLE,
          retryable: true,
          message: expect.stringContaining('state/klikoo'),
        });
        expect(elapsed, reported(error).message).toBeGreaterThanOrEqual(timeoutMs - 100);
        // The margin covers a loaded test machine, not a second attempt.
        expect(elapsed, reported(error).message).toBeLessThan(timeoutMs + 3_000);
        // Works again. The timed-out write may still land once the server resumes (its
        // answer was lost, not its request), even after the read below: then a conflict
        // says so, and one more read and write must land.
        let landed: string | undefined;
        for (let attempt = 0; attempt < 2 && landed === undefined; attempt++) {
          const current = await each.store.read('state/klikoo');
          expect(current).toBeDefined();
          landed = await each.store
            .write('state/klikoo', { generation: 3 }, current!.version)
            .catch((caught: unknown) => {
              if (caught instanceof ConflictError) return undefined;
              throw caught;
            });
        }
        expect(landed).toBeDefined();
        expect(await each.store.read('state/klikoo')).toEqual({ value: { generation: 3 }, version: landed });
      }, 60_000);
    });
  });
}

/** The scheduler state of a process on Linux (`T`: stopped), or `undefined` elsewhere. */
export function processState(pid: number): string | undefined {
  try {
    // The state follows the command name, which is in parentheses and may hold spaces.
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * Pauses a server with SIGSTOP and, where `/proc` tells, waits until every thread has
 * stopped, so the call that follows certainly meets a server that does not answer.
 * Resolves to a function that resumes it (SIGCONT).
 */
export async function pauseProcess(child: ChildProcess): Promise<() => Promise<void>> {
  const pid = child.pid;
  if (pid === undefined) throw new Error('the server has no pid');
  child.kill('SIGSTOP');
  const deadline = Date.now() + 2000;
  while (processState(pid) !== undefined && processState(pid) !== 'T') {
    if (Date.now() > deadline) throw new Error(`pid ${pid} did not stop within 2 s (state ${processState(pid)})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return async () => {
    child.kill('SIGCONT');
  };
}

/**
 * Runs `node -e script` (ESM) that starts as root, loads what it needs, then becomes `uid`
 * by calling `dropPrivileges()` (defined before it runs), and returns its stdout's last
 * line. Dropping privileges inside the process, rather than starting it as `uid`, lets it
 * load the project's code from a checkout that only root can read (a `mktemp -d` clone).
 */
export async function runAsUser(
  uid: number,
  script: string,
  args: readonly string[],
  env: Readonly<Record<string, string>> = {},
): Promise<string> {
  const prelude = `const dropPrivileges = () => { process.setgroups([]); process.setgid(${uid}); process.setuid(${uid}); };\n`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', prelude + script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const [code] = (await once(child, 'close')) as [number | null];
  if (code !== 0) throw new Error(`child running as uid ${uid} exited with ${code}: ${stderr}`);
  return stdout.trim().split('\n').at(-1) ?? '';
}
