/**
 * Child Node.js processes for the file store tests: a pid that is certainly dead, one that
 * is certainly alive, and scripts whose stdout lines the test waits for.
 */

import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';

/** A running child with its stdout split into lines. */
export interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  readonly pid: number;
  /** Resolves with the next stdout line; rejects if the child exits first. */
  nextLine(): Promise<string>;
  /** Resolves with the exit code once the child has exited (and been reaped). */
  readonly exited: Promise<number | null>;
  /** Everything the child wrote to stderr so far, for assertion messages. */
  stderr(): string;
  kill(signal: NodeJS.Signals): void;
}

/** Starts `node <args>` with piped stdio, and `env` added to this process's environment. */
export async function startNode(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Child> {
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  await once(child, 'spawn');
  if (child.pid === undefined) throw new Error('child process has no pid');
  const pid = child.pid;
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  const waiting: Array<{ resolve: (line: string) => void; reject: (error: Error) => void }> = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    const waiter = waiting.shift();
    if (waiter === undefined) lines.push(line);
    else waiter.resolve(line);
  });
  // 'close', not 'exit': stdout may still hold lines when the process has exited.
  let closed = false;
  child.once('close', (code) => {
    closed = true;
    for (const waiter of waiting.splice(0)) waiter.reject(new Error(`child ${pid} exited with ${code}: ${errors}`));
  });
  return {
    process: child,
    pid,
    exited,
    stderr: () => errors,
    kill: (signal) => child.kill(signal),
    nextLine: () => {
      const line = lines.shift();
      if (line !== undefined) return Promise.resolve(line);
      if (closed) return Promise.reject(new Error(`child ${pid} has exited: ${errors}`));
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
  };
}

/** The pid of a process that has run and exited, so no process has it (barring reuse). */
export async function exitedPid(): Promise<number> {
  const child = await startNode(['-e', '']);
  await child.exited;
  return child.pid;
}

/** A process that stays alive until killed. */
export async function startIdleProcess(): Promise<Child> {
  return startNode(['-e', 'setInterval(() => {}, 1000)']);
}

/** Resolves to 'pending' if `promise` has not settled within `ms`. */
export async function stateAfter(promise: Promise<unknown>, ms: number): Promise<'pending' | 'settled'> {
  const settled = promise.then(
    () => 'settled' as const,
    () => 'settled' as const,
  );
  const timer = new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), ms));
  return Promise.race([settled, timer]);
}

/**
 * A script that takes the real lock of a record file (`lock.js` at its argv[2] URL, the
 * lock file at argv[3], the record's name at argv[4]), prints `locked`, and releases it
 * and prints `released` after a line on stdin.
 */
export const LOCK_HOLDER_SCRIPT = `
import { createInterface } from 'node:readline';
const [lockUrl, lockPath, record] = process.argv.slice(2);
const { acquireLock } = await import(lockUrl);
const lock = await acquireLock(lockPath, { record });
console.log('locked');
const lines = createInterface({ input: process.stdin });
await new Promise((resolve) => lines.once('line', resolve));
await lock.release();
lines.close();
console.log('released');
`;
