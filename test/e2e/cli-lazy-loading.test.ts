/**
 * The built CLI imports a command's code only when that command runs (issue 13): the
 * help, `--version` and a usage error load the usage text and the argument parser, not
 * the config loader, the stores, the daemon or the sandbox, nor zod, yaml, pino,
 * node-cron or the AWS SDK. zod, once a command needs it, is the one bundle `npm run build`
 * makes of it (scripts/vendor-zod.mjs), not its 93 modules with every message locale. Each run is recorded by a preloaded load hook
 * (test/helpers/module-recorder.mjs); the `schema` and `validate` cases show the hook
 * does see what a command imports on demand.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/scenario.js';

const ROOT = resolve(import.meta.dirname, '../..');
const RECORDER = resolve(import.meta.dirname, '../helpers/module-recorder.mjs');
const dir = mkdtempSync(join(tmpdir(), 'tr-cli-lazy-'));
let runs = 0;

beforeAll(() => {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run npm run build first (npm test does)`);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the built CLI with `args`; returns its exit code and the modules it loaded, relative to the checkout. */
function cliModules(args: readonly string[]): { code: number | null; stderr: string; modules: string[] } {
  const out = join(dir, `modules-${++runs}.txt`);
  const result = spawnSync(process.execPath, ['--import', RECORDER, BIN, ...args], {
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', MODULE_RECORDER_OUT: out },
  });
  const urls = readFileSync(out, 'utf8').split('\n');
  const files = new Set(urls.filter((url) => url !== '').map((url) => relative(ROOT, fileURLToPath(url))));
  const modules = [...files].filter((file) => !file.startsWith('test/helpers/module-recorder')).sort();
  return { code: result.status, stderr: result.stderr, modules };
}

/** What printing the usage text, the version or a usage error needs. */
const USAGE_ONLY = [
  'dist/common/log-levels.js',
  'dist/config/default-path.js',
  'dist/errors.js',
  'dist/runtimes/bin.js',
  'dist/runtimes/cli.js',
  'dist/runtimes/commands/contract.js',
  'dist/runtimes/names.js',
  'dist/runtimes/version.js',
];

describe('token-rotator loads a command only when it runs', () => {
  it.each([
    [['--help'], 0],
    [['run', '--help'], 0],
    [['daemon', '-h'], 0],
    [['--version'], 0],
    [[], 2],
    [['rotate'], 2],
    [['run', '--frobnicate'], 2],
    [['get', 'one', 'two'], 2],
  ])('loads only the usage text and the parser for %j (exit %i)', (args, code) => {
    const result = cliModules(args);

    expect(result.code, result.stderr).toBe(code);
    expect(result.modules).toEqual(USAGE_ONLY);
  });

  it('loads the schema command and the config schema, and no other command, for schema', () => {
    const result = cliModules(['schema']);

    expect(result.code, result.stderr).toBe(0);
    expect(result.modules).toEqual(
      expect.arrayContaining(['dist/runtimes/commands/schema.js', 'dist/config/schema.js']),
    );
    // zod comes bundled with English alone (scripts/vendor-zod.mjs), not as its 93 modules.
    expect(result.modules).toContain('dist/vendor/zod-mini.js');
    expect(result.modules.filter((file) => file.startsWith('node_modules/zod/'))).toEqual([]);
    expect(result.modules.filter((file) => file.startsWith('dist/runtimes/commands/'))).toEqual([
      'dist/runtimes/commands/contract.js',
      'dist/runtimes/commands/schema.js',
    ]);
  });

  it('loads neither the daemon, the demo nor the sandbox for validate', () => {
    const result = cliModules(['validate', '--config', join(dir, 'missing.yaml')]);

    expect(result.code, result.stderr).toBe(2);
    expect(result.modules).toContain('dist/runtimes/commands/validate.js');
    expect(result.modules).toContain('dist/config/load.js');
    expect(result.modules.filter((file) => file.startsWith('node_modules/zod/'))).toEqual([]);
    expect(result.modules.filter((file) => /^dist\/(runtimes\/(daemon|demo|http)\.js|sandbox\/)/.test(file))).toEqual(
      [],
    );
  });
});
