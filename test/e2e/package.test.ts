/**
 * The npm package as a user gets it (issue 12, "Packaging"): `npm pack` of this checkout,
 * then `npm install` of the tarball into an empty directory (production dependencies
 * only, from the registry), and the installed copy used as a consumer would: its bin
 * through `npx`, its public API from an ESM script.
 *
 * A service that only reads tokens from files or Vault must not pay for the AWS SDK: the
 * reader scripts run under a module recorder (a `module.register` resolve hook for ESM,
 * plus the CommonJS cache at exit) and the test asserts that nothing under `@aws-sdk/` or
 * `@smithy/` was loaded. A control script that does load the SDK proves the recorder sees
 * it. Needs `npm run build` first (npm test's pretest does it).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenBao, startOpenBao } from '../helpers/openbao.js';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const MANIFEST = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
/** A module of the AWS SDK or of the Smithy runtime it is built on, wherever npm put it. */
const AWS_MODULE = /[\\/]node_modules[\\/]@(aws-sdk|smithy)[\\/]/;
/** The metrics client: only the daemon and `run --pushgateway` load it, never a service that reads tokens. */
const METRICS_MODULE = /[\\/]node_modules[\\/]prom-client[\\/]/;
const PROVIDER = 'billing';

/** The environment of every child: the machine's, without the `npm_*` settings an enclosing `npm test` exports. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  return { ...env, ...extra };
}

/** The files a consumer's project gets: a module recorder, the service that reads a token, and the control. */
const CONSUMER_FILES: Readonly<Record<string, string>> = {
  'package.json': JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
  // Runs in the loader thread: every module resolved through ESM resolution, as a URL.
  'record-hook.mjs': `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(out, result.url + '\\n');
  return result;
}
`,
  // Given to node with --import: registers the hook, and at exit adds every CommonJS module loaded.
  'record-modules.mjs': `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const out = process.env.MODULES_OUT;
register('./record-hook.mjs', import.meta.url, { data: { out } });
const require = createRequire(import.meta.url);
process.on('exit', () => appendFileSync(out, Object.keys(require.cache).join('\\n') + '\\n'));
`,
  // A service: builds a store from the config in argv[2], reads the token of argv[3].
  'read-token.mjs': `import { createHash } from 'node:crypto';
import { createStore, createTokenReader } from 'token-rotator';
const reader = createTokenReader({ store: await createStore(JSON.parse(process.argv[2])) });
const token = await reader.get(process.argv[3]);
const sha256 = createHash('sha256').update(token.accessToken).digest('hex');
process.stdout.write(JSON.stringify({ sha256, tokenType: token.tokenType, generation: token.generation }));
`,
  // The control: loads the AWS SDK the package depends on, as the AWS store does at its first call.
  'load-aws-sdk.mjs': `import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
const fromPackage = createRequire(fileURLToPath(import.meta.resolve('token-rotator')));
await import(pathToFileURL(fromPackage.resolve('@aws-sdk/client-secrets-manager')).href);
`,
};

let scratch: string;
let tarball: string;
let packed: string[];
let app: string;

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'dist/index.js')))
    throw new Error('dist/ is missing: run npm run build first (npm test does)');
  scratch = mkdtempSync(join(tmpdir(), 'tr-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], {
    cwd: ROOT,
    env: childEnv(),
  });
  const [result] = JSON.parse(stdout) as [{ filename: string; files: { path: string }[] }];
  tarball = join(scratch, result.filename);
  packed = result.files.map((file) => file.path).sort();

  app = join(scratch, 'app');
  mkdirSync(app);
  for (const [name, text] of Object.entries(CONSUMER_FILES)) writeFileSync(join(app, name), text);
  await run('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--prefer-offline', tarball], {
    cwd: app,
    env: childEnv(),
  });
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Runs one of the consumer's scripts under the recorder; returns its output and every module it loaded, as paths. */
async function runRecorded(script: string, args: string[] = []): Promise<{ stdout: string; modules: string[] }> {
  const out = join(app, `modules-${script}-${Date.now()}.txt`);
  const { stdout } = await run(process.execPath, ['--import', './record-modules.mjs', script, ...args], {
    cwd: app,
    env: childEnv({ MODULES_OUT: out }),
  });
  const modules = readFileSync(out, 'utf8')
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('node:'))
    .map((line) => (line.startsWith('file:') ? fileURLToPath(line) : line));
  return { stdout, modules: [...new Set(modules)] };
}

/** A public record in the documented layout, fresh for an hour; `access_token` is a made-up value. */
function publicRecord(accessToken: string) {
  const now = Date.now();
  return {
    provider: PROVIDER,
    access_token: accessToken,
    token_type: 'Bearer',
    issued_at: new Date(now).toISOString(),
    expires_at: new Date(now + 3_600_000).toISOString(),
    generation: 3,
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('the npm package', () => {
  describe('npm pack', () => {
    it('holds the built JavaScript and its declarations, README.md, LICENSE and package.json', () => {
      expect(packed).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json']));
      expect(packed).toEqual(
        expect.arrayContaining(['dist/index.js', 'dist/index.d.ts', 'dist/reader.js', 'dist/runtimes/bin.js']),
      );
      const outsideDist = packed.filter((path) => !path.startsWith('dist/'));
      expect(outsideDist).toEqual(['LICENSE', 'README.md', 'package.json']);
    });

    it('holds no tests, TypeScript sources, scripts, deployment files, benchmarks or Lambda bundle', () => {
      const unwanted = packed.filter(
        (path) =>
          /^(src|test|scripts|deploy|bench|dist-lambda|docs)\//.test(path) ||
          /\.test\.|\.spec\./.test(path) ||
          (path.endsWith('.ts') && !path.endsWith('.d.ts')),
      );
      expect(unwanted).toEqual([]);
      expect(packed.filter((path) => path.startsWith('dist/') && !/\.(js|d\.ts)$/.test(path))).toEqual([]);
    });

    it('is publishable: not private, MIT with its licence text', () => {
      const installed = JSON.parse(readFileSync(join(app, 'node_modules/token-rotator/package.json'), 'utf8')) as {
        private?: boolean;
        license?: string;
      };
      expect(installed.private).toBeUndefined();
      expect(installed.license).toBe('MIT');
      expect(readFileSync(join(app, 'node_modules/token-rotator/LICENSE'), 'utf8')).toMatch(/^MIT License/);
    });
  });

  describe('installed from the tarball into an empty project', () => {
    it('runs `npx token-rotator --version` and prints the version', async () => {
      const { stdout } = await run('npx', ['--no', '--', 'token-rotator', '--version'], { cwd: app, env: childEnv() });

      expect(stdout).toBe(`${MANIFEST.version}\n`);
    });

    it('reads a token from a file store from an ESM service, loading no AWS SDK module', async () => {
      const directory = join(scratch, 'file-store');
      mkdirSync(join(directory, 'tokens'), { recursive: true, mode: 0o700 });
      const accessToken = `file-${sha256(String(Math.random()))}`;
      const record = {
        data: publicRecord(accessToken),
        metadata: { version: 1, updated_time: new Date().toISOString() },
      };
      writeFileSync(join(directory, 'tokens', `${PROVIDER}.json`), JSON.stringify(record), { mode: 0o600 });

      const { stdout, modules } = await runRecorded('read-token.mjs', [
        JSON.stringify({ kind: 'file', directory }),
        PROVIDER,
      ]);

      expect(JSON.parse(stdout)).toEqual({ sha256: sha256(accessToken), tokenType: 'Bearer', generation: 3 });
      const installedDist = join(app, 'node_modules', 'token-rotator', 'dist') + sep;
      expect(modules).toContain(join(installedDist, 'index.js'));
      expect(modules).toContain(join(installedDist, 'stores', 'file', 'index.js'));
      expect(modules.filter((path) => AWS_MODULE.test(path))).toEqual([]);
      expect(modules.filter((path) => METRICS_MODULE.test(path))).toEqual([]);
    });

    describe('with Vault (OpenBao)', () => {
      let bao: OpenBao;
      beforeAll(async () => {
        bao = await startOpenBao();
      });
      afterAll(async () => {
        await bao?.stop();
      });

      it('reads a token from a Vault store, loading no AWS SDK module', async () => {
        const accessToken = `vault-${sha256(String(Math.random()))}`;
        await bao.ok('POST', `secret/data/token-rotator/tokens/${PROVIDER}`, { data: publicRecord(accessToken) });
        const tokenFile = join(scratch, 'vault-token');
        writeFileSync(tokenFile, bao.rootToken, { mode: 0o600 });
        const store = {
          kind: 'vault',
          address: bao.address,
          mount: 'secret',
          prefix: 'token-rotator',
          max_versions: 10,
          request_timeout_seconds: 10,
          auth: { method: 'token', token_file: tokenFile },
        };

        const { stdout, modules } = await runRecorded('read-token.mjs', [JSON.stringify(store), PROVIDER]);

        expect(JSON.parse(stdout)).toEqual({ sha256: sha256(accessToken), tokenType: 'Bearer', generation: 3 });
        expect(modules).toContain(join(app, 'node_modules', 'token-rotator', 'dist', 'stores', 'vault', 'index.js'));
        expect(modules.filter((path) => AWS_MODULE.test(path))).toEqual([]);
        expect(modules.filter((path) => METRICS_MODULE.test(path))).toEqual([]);
      });
    });

    it('sees the AWS SDK when a script does load it (the recorder is not blind)', async () => {
      const { modules } = await runRecorded('load-aws-sdk.mjs');

      expect(modules.filter((path) => AWS_MODULE.test(path)).length).toBeGreaterThan(10);
      expect(modules.some((path) => path.includes(`${sep}@aws-sdk${sep}client-secrets-manager${sep}`))).toBe(true);
    });
  });
});
