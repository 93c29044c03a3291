// Preloaded into a measured child (`node --import <this file> …`): reports the process's
// own CPU time and peak RSS, so the harness measures children without a profiler.
// - at exit, writes {user_us, system_us, max_rss_kb} to the file named by BENCH_CPU_OUT;
// - on SIGUSR2, writes one line `bench-cpu {…}` to stderr (the daemon's CPU between passes).
// The process's own exit code and output are untouched.
import { writeFileSync } from 'node:fs';

function sample() {
  const cpu = process.cpuUsage();
  return { user_us: cpu.user, system_us: cpu.system, max_rss_kb: process.resourceUsage().maxRSS };
}

const out = process.env.BENCH_CPU_OUT;
if (out) process.on('exit', () => writeFileSync(out, JSON.stringify(sample())));
process.on('SIGUSR2', () => process.stderr.write(`bench-cpu ${JSON.stringify(sample())}\n`));
