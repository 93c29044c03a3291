import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { daemonHeapFlags, NO_YOUNG_GROWTH_FLAG, SLOW_OLD_GROWTH_FLAG } from '../../src/runtimes/heap.js';

/** Allocates 200 batches of objects, each kept across a few scavenges, and prints the young generation's size in MB. */
const YOUNG_BURST = `
import v8 from 'node:v8';
// Set at run time, as the daemon sets it, not at start.
if (process.argv[2]) v8.setFlagsFromString(process.argv[2]);
const kept = [];
for (let i = 0; i < 200; i++) {
  const batch = [];
  for (let j = 0; j < 20000; j++) batch.push({ j, text: 'x' + j });
  kept[i % 5] = batch;
}
const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
console.log(young.space_size / 1048576);
`;

/**
 * Keeps a long-lived base, then allocates batches that each live through 40 more (long
 * enough to reach the old generation) before dying, and prints the heap's peak size in MB.
 */
const OLD_BURST = `
import v8 from 'node:v8';
if (process.argv[2]) v8.setFlagsFromString(process.argv[2]);
const base = [];
for (let i = 0; i < 100000; i++) base.push({ i, text: 'b' + i });
let peak = 0;
const ring = [];
for (let i = 0; i < 400; i++) {
  const batch = [];
  for (let j = 0; j < 5000; j++) batch.push({ j, text: 'x' + j });
  ring[i % 40] = batch;
  peak = Math.max(peak, v8.getHeapStatistics().total_heap_size);
}
console.log(peak / 1048576, base.length);
`;

/** Runs `code` from a file (code given by `-e` does not show the effect) with `flag` set at run time; its first number. */
function measure(code: string, flag: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'heap-test-'));
  try {
    const script = join(dir, 'allocate.mjs');
    writeFileSync(script, code);
    const out = execFileSync(process.execPath, [script, flag], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    return Number(out.trim().split(' ')[0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the daemon's V8 heap settings", () => {
  it('sets both flags unless the operator set their own on the command line or in NODE_OPTIONS', () => {
    const both = [NO_YOUNG_GROWTH_FLAG, SLOW_OLD_GROWTH_FLAG];
    expect(daemonHeapFlags([], undefined)).toEqual(both);
    expect(daemonHeapFlags(['--enable-source-maps'], '--max-old-space-size=256')).toEqual(both);
    expect(daemonHeapFlags(['--max-semi-space-size=8'], undefined)).toEqual([SLOW_OLD_GROWTH_FLAG]);
    expect(daemonHeapFlags([], '--trace-gc --max_semi_space_size=4')).toEqual([SLOW_OLD_GROWTH_FLAG]);
    expect(daemonHeapFlags([], '--semi-space-growth-factor=4')).toEqual([SLOW_OLD_GROWTH_FLAG]);
    expect(daemonHeapFlags(['--min-semi-space-size=2'], undefined)).toEqual([SLOW_OLD_GROWTH_FLAG]);
    expect(daemonHeapFlags(['--heap-growing-percent=50'], undefined)).toEqual([NO_YOUNG_GROWTH_FLAG]);
    expect(daemonHeapFlags([], '--heap_growing_percent=10 --max-semi-space-size=1')).toEqual([]);
  });

  it('stops the young generation growing through a burst of surviving allocations, which grows it by default', () => {
    const kept = measure(YOUNG_BURST, NO_YOUNG_GROWTH_FLAG);
    const grown = measure(YOUNG_BURST, '');
    expect(grown).toBeGreaterThan(kept * 4);
    expect(kept).toBeLessThanOrEqual(2);
  });

  it('collects old garbage sooner: a burst of objects that die after promotion peaks lower', () => {
    const slow = measure(OLD_BURST, SLOW_OLD_GROWTH_FLAG);
    const fast = measure(OLD_BURST, '');
    expect(slow).toBeLessThan(fast * 0.8);
  });
});
