import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, Canary, type CliResult, captureOutput } from '../helpers/scenario.js';

// Issue 13: with every `${file:…}` reference read at once, a config of many credential files
// opened them all together and failed with EMFILE once their number passed the open-files limit.
const PROVIDERS = 2_000;
const OPEN_FILES_LIMIT = 256;

const dir = mkdtempSync(join(tmpdir(), 'tr-config-many-files-'));
const credentialsDir = join(dir, 'credentials');
const storeDir = join(dir, 'store-must-not-exist');
const canary = new Canary();

const name = (index: number) => `p${String(index).padStart(5, '0')}`;
const secretOf = (index: number) => `placeholder-secret-${name(index)}-${index * 7919}`;
const config = (reference: (index: number) => string) => {
  let text = `store:\n  kind: file\n  directory: ${JSON.stringify(storeDir)}\nproviders:\n`;
  for (let i = 1; i <= PROVIDERS; i++) {
    text +=
      `  ${name(i)}:\n    kind: oauth2\n    token_url: https://auth.example.test/oauth/token\n` +
      `    client_id: client-${name(i)}\n    client_secret: ${JSON.stringify(reference(i))}\n`;
  }
  return text;
};

beforeAll(async () => {
  await mkdir(credentialsDir, { mode: 0o700 });
  // Sequential on purpose: the test process has its own open-files limit too.
  for (let i = 1; i <= PROVIDERS; i++) {
    await writeFile(join(credentialsDir, name(i)), `${secretOf(i)}\n`, { mode: 0o600 });
    canary.addSecret(secretOf(i));
  }
  await writeFile(join(dir, 'shared'), `${secretOf(0)}\n`, { mode: 0o600 });
  canary.addSecret(secretOf(0));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs the built CLI in a shell whose open-files limit is far below the number of credential files. */
async function runLimited(args: string[]): Promise<CliResult> {
  const child = spawn(
    'bash',
    ['-c', `ulimit -n ${OPEN_FILES_LIMIT} && exec "$0" "$@"`, process.execPath, BIN, ...args],
    { env: { PATH: process.env['PATH'] }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const result = await captureOutput(child);
  canary.outputs.push(result.stdout, result.stderr);
  return result;
}

describe(`a config of ${PROVIDERS} providers whose secrets are \${file:…} references`, () => {
  it(`validates under an open-files limit of ${OPEN_FILES_LIMIT} when every provider has a file of its own`, async () => {
    const path = join(dir, 'distinct.yaml');
    await writeFile(
      path,
      config((i) => `\${file:${join(credentialsDir, name(i))}}`),
    );

    const result = await runLimited(['validate', '--config', path]);

    expect(result.stderr).not.toMatch(/EMFILE/);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('validates when every provider references the same file', async () => {
    const path = join(dir, 'shared.yaml');
    await writeFile(
      path,
      config(() => `\${file:${join(dir, 'shared')}}`),
    );

    const result = await runLimited(['validate', '--config', path]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('still refuses a missing file with exit 2, naming the field, among the others', async () => {
    const missing = 1_234;
    const path = join(dir, 'one-missing.yaml');
    await writeFile(
      path,
      config((i) => `\${file:${join(credentialsDir, i === missing ? 'no-such-file' : name(i))}}`),
    );

    const result = await runLimited(['validate', '--config', path]);

    expect(result.code).toBe(2);
    const lines = result.stderr.split('\n').map((line) => line.trim());
    expect(lines).toContain(
      `providers.${name(missing)}.client_secret: cannot read file ${join(credentialsDir, 'no-such-file')} (ENOENT)`,
    );
    expect(result.stderr).not.toMatch(/EMFILE/);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('never echoes a credential it read', () => {
    expect(canary.outputs.length).toBe(6);
    expect(canary.leaks()).toEqual([]);
  });
});
