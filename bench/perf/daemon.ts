/**
 * The daemon measured as it runs: `token-rotator daemon` on a store whose tokens are all
 * fresh, so every pass is idle. After each `pass finished` log line the harness asks the
 * process for its CPU time (SIGUSR2, answered by `probes/cpu-report.mjs`) and reads its
 * RSS from `/proc`; the CPU of an idle pass is the difference between two samples.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { BIN, CPU_REPORT, memoryOf, ROOT } from './processes.js';

/** What the daemon cost over its idle passes. */
export interface DaemonCost {
  /** CPU ms of each idle pass after the first (which runs at start and is not counted). */
  readonly idlePassCpuMs: number[];
  /** VmRSS after each counted pass, kB. */
  readonly rssKb: number[];
  /** VmHWM at the end: the peak since start, config phase included, kB. */
  readonly peakKb: number;
  /** The `counts` of every pass's `pass finished` line, to check they were idle. */
  readonly counts: Record<string, number>[];
}

interface CpuSample {
  user_us: number;
  system_us: number;
}

/**
 * Starts the daemon on `config`, lets it run `passes` passes after the one at start, stops
 * it with SIGTERM and returns what it cost.
 * @throws {Error} when it exits early or a pass takes longer than `timeoutMs`.
 */
export async function measureDaemon(
  config: string,
  passes: number,
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = 600_000,
): Promise<DaemonCost> {
  const child = spawn(process.execPath, ['--import', CPU_REPORT, BIN, 'daemon', '--config', config], {
    cwd: ROOT,
    env: { ...env, TOKEN_ROTATOR_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('the daemon did not start');
  const lines = createInterface({ input: child.stderr });
  const waiters: ((line: string | undefined) => void)[] = [];
  const backlog: string[] = [];
  let tail: string[] = [];
  lines.on('line', (line) => {
    tail = [...tail.slice(-20), line];
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else backlog.push(line);
  });
  let exited = false;
  // 'close': the process has exited and every line it wrote has been read.
  child.once('close', () => {
    exited = true;
    for (const waiter of waiters.splice(0)) waiter(undefined);
  });
  const early = () => new Error(`the daemon exited early:\n${tail.join('\n')}`);
  const nextLine = (deadline: number) =>
    new Promise<string>((resolveLine, reject) => {
      const queued = backlog.shift();
      if (queued !== undefined) {
        resolveLine(queued);
        return;
      }
      if (exited) {
        reject(early());
        return;
      }
      const timer = setTimeout(
        () => reject(new Error(`the daemon said nothing in time:\n${tail.join('\n')}`)),
        Math.max(0, deadline - Date.now()),
      );
      waiters.push((line) => {
        clearTimeout(timer);
        if (line === undefined) reject(early());
        else resolveLine(line);
      });
    });
  /** The first line `match` accepts; with `keep`, the lines before it are kept for the next wait. */
  const waitFor = async <T>(match: (line: string) => T | undefined, keep = false): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    const skipped: string[] = [];
    try {
      for (;;) {
        const line = await nextLine(deadline);
        const found = match(line);
        if (found !== undefined) return found;
        if (keep) skipped.push(line);
      }
    } finally {
      backlog.unshift(...skipped);
    }
  };
  const passFinished = (line: string) => {
    if (!line.startsWith('{')) return undefined;
    const entry = JSON.parse(line) as { msg?: string; counts?: Record<string, number> };
    return entry.msg === 'pass finished' ? (entry.counts ?? {}) : undefined;
  };
  const cpuSample = (line: string) =>
    line.startsWith('bench-cpu ') ? (JSON.parse(line.slice('bench-cpu '.length)) as CpuSample) : undefined;

  try {
    const counts: Record<string, number>[] = [];
    const samples: CpuSample[] = [];
    const rssKb: number[] = [];
    for (let pass = 0; pass <= passes; pass++) {
      counts.push(await waitFor(passFinished));
      child.kill('SIGUSR2');
      samples.push(await waitFor(cpuSample, true));
      if (pass > 0) rssKb.push((await memoryOf(pid)).rssKb);
    }
    const { peakKb } = await memoryOf(pid);
    const totals = samples.map((s) => s.user_us + s.system_us);
    const idlePassCpuMs = totals.slice(1).map((total, i) => (total - (totals[i] ?? Number.NaN)) / 1000);
    return { idlePassCpuMs, rssKb, peakKb, counts };
  } finally {
    if (!exited) {
      const gone = new Promise((resolveExit) => child.once('exit', resolveExit));
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      await gone;
      clearTimeout(killer);
    }
    lines.close();
  }
}
