/**
 * `token-rotator --version` with the built CLI: from the checkout's `dist/`, and from the
 * layout an installed package has (`node_modules/token-rotator/{package.json,dist/}`,
 * reached through the `.bin` symlink npm makes), where it must report that package's
 * version, not one fixed at build time.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/scenario.js';

const ROOT = resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

const run = (bin: string, args: string[]) =>
  spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
});

describe('token-rotator --version', () => {
  it.each([['--version'], ['-V']])('prints the version of package.json and exits 0 with %s', (flag) => {
    const result = run(BIN, [flag]);

    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toBe(`${VERSION}\n`);
    expect(result.stderr).toBe('');
  });

  it('is listed in the main help', () => {
    const result = run(BIN, ['--help']);

    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^ {2}-V, --version +print the version/m);
  });

  describe('from an installed package', () => {
    let dir: string;
    let bin: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'tr-version-'));
      const modules = join(dir, 'node_modules');
      const pkg = join(modules, 'token-rotator');
      mkdirSync(pkg, { recursive: true });
      // What `npm install` puts there: package.json and the `files` (dist), and a .bin link.
      // A version the checkout does not have proves it is read where the package sits.
      const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
      writeFileSync(join(pkg, 'package.json'), JSON.stringify({ ...manifest, version: '9.8.7-installed' }));
      cpSync(join(ROOT, 'dist'), join(pkg, 'dist'), { recursive: true });
      // Its dependencies, where Node looks for them from the package's files.
      symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'), 'dir');
      mkdirSync(join(modules, '.bin'));
      bin = join(modules, '.bin', 'token-rotator');
      symlinkSync('../token-rotator/dist/runtimes/bin.js', bin);
    });
    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("prints the installed package's version through the .bin link", () => {
      const result = run(bin, ['--version']);

      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toBe('9.8.7-installed\n');
    });
  });
});
