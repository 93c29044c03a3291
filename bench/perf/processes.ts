/**
 * Child processes measured from outside: wall time from spawn to exit, and CPU time and
 * peak RSS as the child itself reports them (`probes/cpu-report.mjs`, preloaded with
 * `--import`), so no profiler or `/usr/bin/time` is needed.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** The built CLI, run as users run it. */
export const BIN = join(ROOT, 'dist', 'runtimes', 'bin.js');
/** The child scripts (plain JavaScript, run by node without the project's build). */
export const PROBES = join(ROOT, 'bench', 'perf', 'probes');
/** The preload that reports a child's CPU time. */
export const CPU_REPORT = join(PROBES, 'cpu-report.mjs');

/** What a measured child cost. */
export interface ChildCost {
  readonly wallMs: number;
  /** User + system CPU time of the child process, all threads. */
  readonly cpuMs: number;
  readonly maxRssKb: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link measureChild}. */
export interface MeasureOptions {
  readonly node?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Where the child's stderr goes: `capture` (default) or a file (the logs of a long pass). */
  readonly stderrFile?: string;
  readonly timeoutMs?: number;
}

/**
 * Runs `node --import cpu-report.mjs <args>` to its end and returns its cost.
 * @throws {Error} when it does not end within the timeout (it is killed).
 */
export async function measureChild(args: readonly string[], options: MeasureOptions = {}): Promise<ChildCost> {
  const cpuOut = join(tmpdir(), `bench-cpu-${randomUUID()}.json`);
  const stderrFd = options.stderrFile === undefined ? undefined : openSync(options.stderrFile, 'a');
  const started = process.hrtime.bigint();
  const child = spawn(options.node ?? process.execPath, ['--import', CPU_REPORT, ...args], {
    cwd: options.cwd ?? ROOT,
    env: { ...(options.env ?? process.env), BENCH_CPU_OUT: cpuOut },
    stdio: ['ignore', 'pipe', stderrFd ?? 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 1_800_000);
  try {
    const code = await new Promise<number | null>((resolveExit, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolveExit(exitCode));
    });
    const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
    const report = JSON.parse(await readFile(cpuOut, 'utf8')) as {
      user_us: number;
      system_us: number;
      max_rss_kb: number;
    };
    return {
      wallMs,
      cpuMs: (report.user_us + report.system_us) / 1000,
      maxRssKb: report.max_rss_kb,
      code,
      stdout,
      stderr,
    };
  } finally {
    clearTimeout(timer);
    if (stderrFd !== undefined) closeSync(stderrFd);
    await rm(cpuOut, { force: true });
  }
}

/** Runs a plain node script to its end and returns its stdout; throws on a non-zero exit. */
export async function runScript(args: readonly string[], options: MeasureOptions = {}): Promise<string> {
  const cost = await measureChild(args, options);
  if (cost.code !== 0) {
    throw new Error(`node ${args.join(' ')} exited ${cost.code}: ${cost.stderr.slice(-2000)}`);
  }
  return cost.stdout;
}

/** The last line of `text` that parses as JSON. */
export function lastJsonLine<T>(text: string): T {
  const lines = text.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as T;
    } catch {
      // not this one
    }
  }
  throw new Error(`no JSON line in: ${text.slice(-500)}`);
}

/** VmRSS and VmHWM of a live process, in kB (Linux `/proc/<pid>/status`). */
export async function memoryOf(pid: number): Promise<{ rssKb: number; peakKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (match?.[1] === undefined) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]);
  };
  return { rssKb: field('VmRSS'), peakKb: field('VmHWM') };
}
