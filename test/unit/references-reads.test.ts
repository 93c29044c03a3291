/**
 * How `resolveReferences` reads: each distinct file and store reference once per
 * resolution, files one at a time and synchronously, never more than MAX_READS_IN_FLIGHT
 * store lookups at a time, failures in field order. The files are real; `readFileSync` is
 * wrapped only to count the reads. test/e2e/config-many-files.test.ts proves the reads
 * under a real open-files limit.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MAX_READS_IN_FLIGHT, resolveReferences } from '../../src/config/references.js';

const fileReads = vi.hoisted(() => ({ paths: [] as string[] }));

vi.mock('node:fs', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs')>();
  const readFileSync = ((...args: Parameters<typeof original.readFileSync>) => {
    fileReads.paths.push(String(args[0]));
    return original.readFileSync(...args);
  }) as typeof original.readFileSync;
  return { ...original, readFileSync, default: { ...original, readFileSync } };
});

const FILES = 500;
let dir: string;
const secretFile = (index: number) => join(dir, `secret-${index}`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tr-references-reads-'));
  for (let i = 0; i < FILES; i++) await writeFile(secretFile(i), `  secret-number-${i}\n`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  fileReads.paths = [];
});

/** A config-like tree of `count` providers, provider i's secret the reference `reference(i)`. */
function providers(count: number, reference: (index: number) => string) {
  const sections: Record<string, { client_secret: string }> = {};
  for (let i = 0; i < count; i++) sections[`p${i}`] = { client_secret: reference(i) };
  return { providers: sections };
}

describe('resolveReferences: file reads', () => {
  it(`reads ${FILES} distinct files once each, in field order`, async () => {
    const result = await resolveReferences(
      providers(FILES, (i) => `\${file:${secretFile(i)}}`),
      { env: {} },
    );

    expect(result.issues).toEqual([]);
    expect(result.value.providers['p0']?.client_secret).toBe('secret-number-0');
    expect(result.value.providers[`p${FILES - 1}`]?.client_secret).toBe(`secret-number-${FILES - 1}`);
    expect(fileReads.paths).toEqual(Array.from({ length: FILES }, (_, i) => secretFile(i)));
  });

  it('reads a file that many fields reference once per resolution', async () => {
    const tree = providers(300, (i) => `\${file:${secretFile(i % 3)}}`);

    const first = await resolveReferences(tree, { env: {} });
    expect(fileReads.paths.toSorted()).toEqual([secretFile(0), secretFile(1), secretFile(2)].toSorted());
    expect(first.value.providers['p4']?.client_secret).toBe('secret-number-1');
    expect(first.value.providers['p299']?.client_secret).toBe('secret-number-2');

    await resolveReferences(tree, { env: {} });
    expect(fileReads.paths).toHaveLength(6);
  });

  it('reads the file of a field that holds two references to it once', async () => {
    const result = await resolveReferences(
      { pair: `\${file:${secretFile(7)}}:\${file:${secretFile(7)}}` },
      { env: {} },
    );

    expect(result.value.pair).toBe('secret-number-7:secret-number-7');
    expect(fileReads.paths).toEqual([secretFile(7)]);
  });

  it('names every field that references a missing file, in field order, after reading it once', async () => {
    const missing = join(dir, 'no-such-file');
    const tree = providers(200, (i) => (i % 50 === 49 ? `\${file:${missing}}` : `\${file:${secretFile(i)}}`));

    const result = await resolveReferences(tree, { env: {} });

    expect(result.issues).toEqual(
      [49, 99, 149, 199].map((i) => ({
        path: `providers.p${i}.client_secret`,
        message: `cannot read file ${missing} (ENOENT)`,
      })),
    );
    expect(fileReads.paths.filter((path) => path === missing)).toHaveLength(1);
    expect(result.value.providers['p49']?.client_secret).toBe(`\${file:${missing}}`);
    expect(result.value.providers['p48']?.client_secret).toBe('secret-number-48');
  });
});

describe('resolveReferences: store lookups', () => {
  it(`asks the store once per distinct PATH#KEY, with at most ${MAX_READS_IN_FLIGHT} lookups in flight`, async () => {
    const asked: string[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const lookup = async (path: string, key: string) => {
      asked.push(`${path}#${key}`);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight--;
      return `${key}-of-${path}`;
    };
    const tree = providers(1_000, (i) => `\${store:credentials/c${i % 400}#secret}`);

    const result = await resolveReferences(tree, { env: {}, store: lookup });

    expect(result.issues).toEqual([]);
    expect(result.storeFailures).toEqual([]);
    expect(result.value.providers['p401']?.client_secret).toBe('secret-of-credentials/c1');
    expect(asked).toHaveLength(400);
    expect(new Set(asked).size).toBe(400);
    expect(maxInFlight).toBeGreaterThan(1);
    expect(maxInFlight).toBeLessThanOrEqual(MAX_READS_IN_FLIGHT);
  });

  it('orders the issues of fields that resolve at once and of fields that wait for the store by field', async () => {
    const missing = join(dir, 'no-such-file');
    const lookup = async (path: string) => {
      await new Promise((resolve) => setImmediate(resolve));
      return path === 'credentials/known' ? 'from-the-store' : undefined;
    };
    const tree = {
      a: '${store:credentials/unknown#secret}',
      b: `\${file:${missing}}`,
      c: `\${file:${secretFile(3)}}/\${store:credentials/known#secret}`,
      d: '${env:UNSET}',
    };

    const result = await resolveReferences(tree, { env: {}, store: lookup });

    expect(result.issues).toEqual([
      { path: 'a', message: 'store record credentials/unknown has no key secret' },
      { path: 'b', message: `cannot read file ${missing} (ENOENT)` },
      { path: 'd', message: 'environment variable UNSET is not set' },
    ]);
    expect(result.value.c).toBe('secret-number-3/from-the-store');
  });

  it('reports every field whose store lookup failed, in field order, with what the store threw', async () => {
    const outage = new Error('no answer');
    const lookup = async (path: string) => {
      await new Promise((resolve) => setImmediate(resolve));
      if (path === 'credentials/down') throw outage;
      return 'fine';
    };
    const tree = providers(100, (i) =>
      i % 30 === 0 ? '${store:credentials/down#secret}' : `\${store:credentials/up-${i}#secret}`,
    );

    const result = await resolveReferences(tree, { env: {}, store: lookup });

    expect(result.issues).toEqual([]);
    expect(result.storeFailures).toEqual(
      [0, 30, 60, 90].map((i) => ({ path: `providers.p${i}.client_secret`, error: outage })),
    );
  });
});
