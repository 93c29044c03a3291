/**
 * The Dockerfile, checked without a Docker engine: its stages, what reaches the final
 * image, the user it runs as, its entry point; hadolint's rules; and the build context
 * `.dockerignore` leaves. What the entry point runs is proven in container.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { envOf, execForm, readDockerfile, type Stage } from './dockerfile.js';
import { ROOT, runTool, tool } from './manifests.js';

const stages = readDockerfile();
const final = stages.at(-1)!;
const build = stages[0]!;

/** The `RUN` commands of a stage, as one text. */
const runs = (stage: Stage) =>
  stage
    .all('RUN')
    .map((i) => i.args)
    .join('\n');

describe('Dockerfile', () => {
  it('builds in one stage and runs from another, both on Node.js 22 (alpine or slim)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build.name).toBe('build');
    for (const stage of stages)
      expect(stage.image).toMatch(/^node:22-(alpine|bookworm-slim)[\w.]*(@sha256:[0-9a-f]{64})?$/);
  });

  it('compiles with every dependency, then keeps the production ones only', () => {
    const commands = runs(build);
    expect(commands).toMatch(/\bnpm ci\b/);
    expect(commands).toMatch(/\bnpm run build\b/);
    expect(commands).toMatch(/\bnpm prune --omit=dev\b|\bnpm ci\b[^\n]*--omit=dev/);
    // The lock file is copied before `npm ci`, so the dependency layer is cached on source edits.
    const copyLock = build.instructions.findIndex((i) => i.keyword === 'COPY' && i.args.includes('package-lock.json'));
    const install = build.instructions.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args));
    const copySrc = build.instructions.findIndex((i) => i.keyword === 'COPY' && /\bsrc\b/.test(i.args));
    expect(copyLock).toBeGreaterThanOrEqual(0);
    expect(copyLock).toBeLessThan(install);
    expect(install).toBeLessThan(copySrc);
  });

  it('puts only the compiled code, the production node_modules and package.json in the final image', () => {
    const copies = final.all('COPY').map((i) => i.args.split(/\s+/));
    for (const words of copies) expect(words[0], words.join(' ')).toBe(`--from=${build.name}`);
    expect(copies.map((words) => words.at(-1)).sort()).toEqual(['./dist', './node_modules', './package.json']);
    expect(final.all('ADD')).toEqual([]);
    expect(runs(final)).not.toMatch(/\bnpm\b/);
    expect(envOf(final)['NODE_ENV']).toBe('production');
    expect(final.last('WORKDIR')?.args).toBe('/app');
  });

  it('runs as a numeric non-root user, the one the Kubernetes pods name', () => {
    const user = final.last('USER')?.args ?? 'root';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    const [uid, gid = uid] = user.split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(Number(gid)).toBeGreaterThan(0);
    const pod = readFileSync(join(ROOT, 'deploy/kubernetes/overlays/cronjob/cronjob.yaml'), 'utf8');
    expect(pod).toContain(`runAsUser: ${uid}`);
    expect(pod).toContain(`runAsGroup: ${gid}`);
  });

  it('starts node under tini, so SIGTERM reaches it, with `run` against the mounted config by default', () => {
    expect(runs(final)).toMatch(/\bapk add --no-cache tini\b|\bapt-get install\b[^\n]*\btini\b/);
    const entrypoint = execForm(final.last('ENTRYPOINT'));
    expect(entrypoint).toEqual([
      expect.stringMatching(/^\/(sbin|usr\/bin)\/tini$/),
      '--',
      'node',
      'dist/runtimes/bin.js',
    ]);
    expect(execForm(final.last('CMD'))).toEqual(['run', '--config', '/etc/token-rotator/config.yaml']);
  });

  it('passes hadolint', async () => {
    const result = await runTool(tool('hadolint'), ['--no-color', join(ROOT, 'Dockerfile')]);
    expect(result.stdout + result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('would fail hadolint as root with an unpinned package (the linter is live)', async () => {
    const result = await runTool(
      tool('hadolint'),
      ['--no-color', '-'],
      'FROM node:22-alpine\nRUN apk add curl\nUSER root\nCMD node app.js\n',
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout).toMatch(/DL3018/); // unpinned apk package
    expect(result.stdout).toMatch(/DL3002/); // last USER is root
    expect(result.stdout).toMatch(/DL3025/); // CMD not in exec form
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  /** Whether a pattern excludes `path` (exact names, folders, and `*` within a name: all this file uses). */
  const excluded = (path: string) =>
    patterns.some((pattern) => {
      const regex = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}(/.*)?$`);
      return regex.test(path);
    });

  it('keeps dependencies, build output, tests, virtualenvs and git history out of the build context', () => {
    expect(patterns.some((p) => p.startsWith('!'))).toBe(false);
    for (const path of [
      'node_modules',
      'node_modules/pino/package.json',
      '.venv',
      'dist',
      'dist/runtimes/bin.js',
      'test',
      'test/e2e/daemon.test.ts',
      '.git',
      '.tools',
      'deploy',
      'build.log',
    ]) {
      expect(excluded(path), path).toBe(true);
    }
  });

  it('keeps every file the build stage copies', () => {
    const sources = build.all('COPY').flatMap((i) =>
      i.args
        .split(/\s+/)
        .filter((w) => !w.startsWith('--'))
        .slice(0, -1),
    );
    expect(sources.sort()).toEqual(['package-lock.json', 'package.json', 'src', 'tsconfig.json']);
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true);
      expect(excluded(source), source).toBe(false);
    }
    expect(excluded('src/runtimes/bin.ts')).toBe(false);
  });
});
