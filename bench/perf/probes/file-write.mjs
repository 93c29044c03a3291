// One file-store write, in-process, against its floor: `FileStore.write` from the built
// `dist/` (lock, read, compare, atomic write) vs a bare write-fsync-rename of the same
// bytes, in alternating blocks so both see the same disk and the same noise.
//
//   node file-write.mjs <dist directory> <scratch directory> <runs> <writes per block>
// Prints one JSON line: { project_ms: [...], floor_ms: [...] } (mean ms per write, per run).
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [dist, scratch, runsText, writesText] = process.argv.slice(2);
const runs = Number(runsText);
const writes = Number(writesText);
const { FileStore } = await import(pathToFileURL(join(dist, 'stores/file/index.js')).href);

// About the size of a state record: a lease, expiry times and a refresh token.
const value = {
  refresh_token: 'r'.repeat(64),
  refresh_expires_at: new Date(Date.now() + 86_400_000).toISOString(),
  lease: { holder: 'bench:1:00000000', until: new Date().toISOString() },
  failures: 0,
  generation: 1,
};
const store = new FileStore({ directory: join(scratch, 'store') });
const floorDir = join(scratch, 'floor');
await (await import('node:fs/promises')).mkdir(floorDir, { recursive: true });

let version = null;
async function projectBlock() {
  const start = performance.now();
  for (let i = 0; i < writes; i++) version = await store.write('state/bench', value, version);
  return (performance.now() - start) / writes;
}

const content = JSON.stringify({ data: value, version: 1, updated_time: new Date().toISOString() });
async function floorBlock() {
  const file = join(floorDir, 'bench.json');
  const start = performance.now();
  for (let i = 0; i < writes; i++) {
    const handle = await open(`${file}.tmp`, 'w', 0o600);
    try {
      await handle.writeFile(content, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(`${file}.tmp`, file);
  }
  return (performance.now() - start) / writes;
}

// One block each first, unmeasured: the JIT and the disk's first allocations.
await projectBlock();
await floorBlock();
const result = { project_ms: [], floor_ms: [] };
for (let run = 0; run < runs; run++) {
  result.project_ms.push(await projectBlock());
  result.floor_ms.push(await floorBlock());
}
process.stdout.write(`${JSON.stringify(result)}\n`);
