/**
 * Compare-and-set across real processes. Child processes cannot import TypeScript on
 * Node 20, so they run the built code in `dist/` (`npm test` builds it first, in
 * `pretest`); the suite fails, never skips, when it is missing or older than `src/`.
 */

import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/stores/file/index.js';
import { type Child, LOCK_HOLDER_SCRIPT, startNode, stateAfter } from '../helpers/file-store-processes.js';

const repository = fileURLToPath(new URL('../../', import.meta.url));
const sourceDir = join(repository, 'src', 'stores', 'file');
const distDir = join(repository, 'dist', 'stores', 'file');

/** Increments `counter` N times with read → write(expected) → retry on conflict. */
const RACER = `
import { createInterface } from 'node:readline';
const [storeUrl, directory, times] = process.argv.slice(2);
const { FileStore } = await import(storeUrl);
const store = new FileStore({ directory });
const lines = createInterface({ input: process.stdin });
const go = new Promise((resolve) => lines.once('line', resolve));
console.log('ready');
await go;
lines.close();
let writes = 0;
let conflicts = 0;
while (writes < Number(times)) {
  const current = await store.read('counter');
  try {
    await store.write('counter', { count: current.value.count + 1 }, current.version);
    writes += 1;
  } catch (error) {
    if (error?.code !== 'STORE_CONFLICT') throw error;
    conflicts += 1;
  }
}
console.log(JSON.stringify({ writes, conflicts }));
`;

/**
 * For each stdin line (an expected version, or \`null\`), writes \`counter\` with that
 * expected version and prints \`won <version>\` or \`conflict\`.
 */
const WRITER = `
import { createInterface } from 'node:readline';
const [storeUrl, directory] = process.argv.slice(2);
const { FileStore } = await import(storeUrl);
const store = new FileStore({ directory });
console.log('ready');
for await (const line of createInterface({ input: process.stdin })) {
  const expected = line === 'null' ? null : line;
  try {
    console.log('won ' + (await store.write('counter', { writer: process.pid }, expected)));
  } catch (error) {
    if (error?.code !== 'STORE_CONFLICT') throw error;
    console.log('conflict');
  }
}
`;

let scripts: string | undefined;
let root: string;
let directory: string;
let store: FileStore;
const children: Child[] = [];

beforeAll(async () => {
  const index = join(distDir, 'index.js');
  expect(existsSync(index), `${index} is missing: run npm run build first`).toBe(true);
  const sources = (await readdir(sourceDir))
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join('stores', 'file', name));
  for (const source of [...sources, 'errors.ts', join('stores', 'contract.ts')]) {
    const built = join(repository, 'dist', source.replace(/\.ts$/, '.js'));
    const isFresh =
      existsSync(built) && (await stat(built)).mtimeMs >= (await stat(join(repository, 'src', source))).mtimeMs;
    expect(isFresh, `${built} is missing or older than its source: run npm run build first`).toBe(true);
  }
  scripts = await mkdtemp(join(tmpdir(), 'file-store-scripts-'));
  await writeFile(join(scripts, 'racer.mjs'), RACER);
  await writeFile(join(scripts, 'holder.mjs'), LOCK_HOLDER_SCRIPT);
  await writeFile(join(scripts, 'writer.mjs'), WRITER);
});

afterAll(async () => {
  if (scripts !== undefined) await rm(scripts, { recursive: true, force: true });
});

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'file-store-'));
  directory = join(root, 'store');
  store = new FileStore({ directory });
});

afterEach(async () => {
  for (const child of children.splice(0)) {
    child.kill('SIGKILL');
    await child.exited;
  }
  await rm(root, { recursive: true, force: true });
});

async function start(script: string, args: readonly string[]): Promise<Child> {
  if (scripts === undefined) throw new Error('the child scripts were not written');
  const child = await startNode([join(scripts, script), ...args]);
  children.push(child);
  return child;
}

describe('FileStore across processes', () => {
  it('loses no update when 4 processes each increment one counter 50 times with compare-and-set', async () => {
    await store.write('counter', { count: 0 }, null);
    const storeUrl = pathToFileURL(join(distDir, 'index.js')).href;
    const racers = await Promise.all(Array.from({ length: 4 }, () => start('racer.mjs', [storeUrl, directory, '50'])));
    for (const racer of racers) expect(await racer.nextLine()).toBe('ready');

    for (const racer of racers) racer.process.stdin.end('go\n');
    const reports = await Promise.all(
      racers.map(async (racer) => JSON.parse(await racer.nextLine()) as { writes: number }),
    );
    const exitCodes = await Promise.all(racers.map((racer) => racer.exited));

    expect(exitCodes, racers.map((racer) => racer.stderr()).join('\n')).toEqual([0, 0, 0, 0]);
    expect(reports.reduce((sum, report) => sum + report.writes, 0)).toBe(200);
    expect(await store.read('counter')).toEqual({ value: { count: 200 }, version: '201' });
  });

  it('lets exactly one of two processes win, and the other get a ConflictError, 25 times over when both write with the same expected version', async () => {
    const storeUrl = pathToFileURL(join(distDir, 'index.js')).href;
    const writers = await Promise.all([0, 1].map(() => start('writer.mjs', [storeUrl, directory])));
    for (const writer of writers) expect(await writer.nextLine()).toBe('ready');

    let expected = 'null';
    for (let round = 1; round <= 25; round++) {
      for (const writer of writers) writer.process.stdin.write(`${expected}\n`);
      const outcomes = (await Promise.all(writers.map((writer) => writer.nextLine()))).sort();

      expect(outcomes, `round ${round}`).toEqual(['conflict', `won ${round}`]);
      expected = String(round);
    }
    const last = await store.read('counter');
    expect(last?.version).toBe('25');
    expect(writers.map((writer) => writer.pid)).toContain(last?.value['writer']);
  });

  it('makes a write wait while another live process holds the lock, then succeed', async () => {
    await store.write('tokens/klikoo', { access_token: 'a1' }, null);
    const lockUrl = pathToFileURL(join(distDir, 'lock.js')).href;
    const holder = await start('holder.mjs', [lockUrl, join(directory, 'tokens', 'klikoo.json.lock'), 'tokens/klikoo']);
    expect(await holder.nextLine()).toBe('locked');

    const write = store.write('tokens/klikoo', { access_token: 'a2' }, '1');

    expect(await stateAfter(write, 400)).toBe('pending');
    holder.process.stdin.write('release\n');
    expect(await holder.nextLine()).toBe('released');
    expect(await write).toBe('2');
  });

  it('lets another writer proceed within 1 s after the lock holder is killed with SIGKILL', async () => {
    await store.write('tokens/klikoo', { access_token: 'a1' }, null);
    const lockUrl = pathToFileURL(join(distDir, 'lock.js')).href;
    const holder = await start('holder.mjs', [lockUrl, join(directory, 'tokens', 'klikoo.json.lock'), 'tokens/klikoo']);
    expect(await holder.nextLine()).toBe('locked');
    const write = store.write('tokens/klikoo', { access_token: 'a2' }, '1');
    expect(await stateAfter(write, 200)).toBe('pending');

    holder.kill('SIGKILL');
    await holder.exited;
    const killedAt = Date.now();

    expect(await write).toBe('2');
    expect(Date.now() - killedAt).toBeLessThan(1000);
    expect(await readdir(join(directory, 'tokens'))).toEqual(['klikoo.json']);
  });

  it('takes over within 1 s a lock whose holder was killed with SIGKILL before anyone waited', async () => {
    await store.write('tokens/klikoo', { access_token: 'a1' }, null);
    const lockUrl = pathToFileURL(join(distDir, 'lock.js')).href;
    const lockPath = join(directory, 'tokens', 'klikoo.json.lock');
    const holder = await start('holder.mjs', [lockUrl, lockPath, 'tokens/klikoo']);
    expect(await holder.nextLine()).toBe('locked');
    holder.kill('SIGKILL');
    await holder.exited;
    expect(await readdir(join(directory, 'tokens'))).toContain('klikoo.json.lock');

    const started = Date.now();
    expect(await store.write('tokens/klikoo', { access_token: 'a2' }, '1')).toBe('2');

    expect(Date.now() - started).toBeLessThan(1000);
    expect(await readdir(join(directory, 'tokens'))).toEqual(['klikoo.json']);
  });
});
