import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NO_YOUNG_GROWTH_FLAG, shouldKeepYoungGenerationSmall } from '../../src/runtimes/heap.js';

/** Allocates 200 batches of objects, each kept across a few scavenges, and prints the young generation's size in MB. */
const ALLOCATE = `
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

/** Runs {@link ALLOCATE} from a file (code given by `-e` does not show the effect) with `flag` set at run time. */
function youngGenerationMb(flag: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'heap-test-'));
  try {
    const script = join(dir, 'allocate.mjs');
    writeFileSync(script, ALLOCATE);
    const out = execFileSync(process.execPath, [script, flag], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    return Number(out.trim());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the daemon keeps V8 young generation at its initial size', () => {
  it('is on unless the operator sized the young generation on the command line or in NODE_OPTIONS', () => {
    expect(shouldKeepYoungGenerationSmall([], undefined)).toBe(true);
    expect(shouldKeepYoungGenerationSmall(['--enable-source-maps'], '--max-old-space-size=256')).toBe(true);
    expect(shouldKeepYoungGenerationSmall(['--max-semi-space-size=8'], undefined)).toBe(false);
    expect(shouldKeepYoungGenerationSmall([], '--trace-gc --max_semi_space_size=4')).toBe(false);
    expect(shouldKeepYoungGenerationSmall([], '--semi-space-growth-factor=4')).toBe(false);
    expect(shouldKeepYoungGenerationSmall(['--min-semi-space-size=2'], undefined)).toBe(false);
  });

  it('stops the space growing through a burst of surviving allocations, which grows it by default', () => {
    const kept = youngGenerationMb(NO_YOUNG_GROWTH_FLAG);
    const grown = youngGenerationMb('');
    expect(grown).toBeGreaterThan(kept * 4);
    expect(kept).toBeLessThanOrEqual(2);
  });
});
