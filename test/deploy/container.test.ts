/**
 * The command the pods run is the one that works: the image's ENTRYPOINT (after tini)
 * followed by the CronJob's or the Deployment's `args`, run here with the built CLI
 * against the provider sandbox, with the image's ENV, from a directory laid out like the
 * image's WORKDIR: `package.json`, `dist/` and a `node_modules` of the production
 * dependencies only (links into this checkout's, resolved without following them, so a
 * runtime import of a devDependency fails here as it would in the image). Only what
 * cannot exist here is swapped: the config path (the ConfigMap's mount) for the
 * scenario's config, and the daemon's listen address for a free loopback port.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/ports.js';
import { type CliResult, captureOutput, PROVIDERS, type Scenario, startScenario } from '../helpers/scenario.js';
import { envOf, execForm, readDockerfile } from './dockerfile.js';
import { type CronJob, type Deployment, ROOT, render, rotatorContainer } from './manifests.js';

const CONFIG_PATH = '/etc/token-rotator/config.yaml';

let scenario: Scenario;
let cronJobArgs: string[];
let daemonArgs: string[];
let workdir: string;
beforeAll(async () => {
  scenario = await startScenario();
  cronJobArgs =
    rotatorContainer((await render('cronjob')).one<CronJob>('CronJob').spec.jobTemplate.spec.template.spec).args ?? [];
  daemonArgs = rotatorContainer((await render('daemon')).one<Deployment>('Deployment').spec.template.spec).args ?? [];
  workdir = await imageWorkdir();
});
afterAll(async () => {
  await scenario?.close();
  if (workdir) await rm(dirname(workdir), { recursive: true, force: true });
});

/**
 * What the final stage copies to /app: package.json, dist/ and the production
 * node_modules (as `npm prune --omit=dev` leaves them, listed by `npm ls --omit=dev`).
 */
async function imageWorkdir(): Promise<string> {
  const app = join(await mkdtemp(join(tmpdir(), 'tr-image-')), 'app');
  await mkdir(join(app, 'node_modules'), { recursive: true });
  await copyFile(join(ROOT, 'package.json'), join(app, 'package.json'));
  await symlink(join(ROOT, 'dist'), join(app, 'dist'));
  const { stdout } = await promisify(execFile)('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: ROOT,
  }).catch(
    (error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }), // npm ls exits 1 on a warning; the list is still whole
  );
  const production = stdout
    .split('\n')
    .map((path) => relative(join(ROOT, 'node_modules'), path.trim()))
    .filter((path) => path !== '' && !path.startsWith('..') && !path.includes('node_modules'));
  expect(production).toContain('pino');
  expect(production).not.toContain('vitest');
  for (const name of production) {
    await mkdir(dirname(join(app, 'node_modules', name)), { recursive: true });
    await symlink(join(ROOT, 'node_modules', name), join(app, 'node_modules', name));
  }
  return app;
}

/** The image's command line for `args`, tini removed (it only forwards signals and reaps). */
function imageCommand(args: readonly string[]): string[] {
  const finalStage = readDockerfile().at(-1)!;
  const entrypoint = execForm(finalStage.last('ENTRYPOINT'));
  expect(entrypoint.slice(0, 2)).toEqual([expect.stringMatching(/\/tini$/), '--']);
  return [...entrypoint.slice(2), ...args];
}

/** Replaces each `from` value in `argv` by `to`, and checks there was exactly one. */
function swap(argv: readonly string[], from: string, to: string): string[] {
  expect(
    argv.filter((arg) => arg === from),
    `${from} in ${argv.join(' ')}`,
  ).toHaveLength(1);
  return argv.map((arg) => (arg === from ? to : arg));
}

/** Starts `node …` as the image would, with this machine's node, output kept for the canary. */
function start(argv: readonly string[]): { child: ReturnType<typeof spawn>; done: Promise<CliResult> } {
  expect(argv[0]).toBe('node');
  // Links are resolved where they are, not where they point: no way up to ROOT/node_modules.
  const env = {
    PATH: process.env['PATH'],
    NODE_OPTIONS: '--preserve-symlinks --preserve-symlinks-main',
    ...envOf(readDockerfile().at(-1)!),
  };
  const child = spawn(process.execPath, argv.slice(1), { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const done = captureOutput(child).then((result) => {
    scenario.canary.outputs.push(result.stdout, result.stderr);
    return result;
  });
  return { child, done };
}

async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<Response> {
  const end = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.status === status) return response;
      last = `${response.status} ${await response.text()}`;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > end) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("the image entry point with the CronJob's args", () => {
  it('is node dist/runtimes/bin.js run --config <the ConfigMap file>, and rotates every provider, exit 0', async () => {
    const argv = imageCommand(cronJobArgs);
    expect(argv).toEqual(['node', 'dist/runtimes/bin.js', 'run', '--config', CONFIG_PATH]);

    const result = await start(swap(argv, CONFIG_PATH, scenario.configPath)).done;

    expect(result.code, result.stderr.slice(-2000)).toBe(0);
    for (const provider of PROVIDERS) {
      const record = await scenario.publicRecord(provider);
      expect(scenario.sandbox.isValid(record?.['access_token'] as string), provider).toBe(true);
    }
  });
});

describe("the image entry point with the Deployment's args", () => {
  it('is a daemon command whose every flag the CLI knows', async () => {
    const argv = imageCommand(daemonArgs);
    expect(argv.slice(0, 3)).toEqual(['node', 'dist/runtimes/bin.js', 'daemon']);
    const help = await start([...argv.slice(0, 3), '--help']).done;
    expect(help.code).toBe(0);
    for (const flag of argv.filter((arg) => arg.startsWith('--'))) expect(help.stdout, flag).toContain(flag);
  });

  it("serves the probes' /healthz and /readyz and /metrics, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const argv = swap(
      swap(imageCommand(daemonArgs), CONFIG_PATH, scenario.configPath),
      '0.0.0.0:9464',
      `127.0.0.1:${port}`,
    );
    const { child, done } = start(argv);
    try {
      await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200, 15_000);
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200, 20_000);
      const metrics = await waitForStatus(`http://127.0.0.1:${port}/metrics`, 200, 5_000);
      expect(metrics.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await metrics.text()).toMatch(/^# TYPE \w+ \w+$/m);
    } finally {
      child.kill('SIGTERM');
    }
    const result = await done;
    expect(result.code, result.stderr.slice(-2000)).toBe(0);
  });
});

describe('everything the entry point printed', () => {
  it('holds no credential or token', async () => {
    await scenario.harvestTokens();
    expect(scenario.canary.outputs.length).toBeGreaterThan(0);
    expect(scenario.canary.leaks()).toEqual([]);
  });
});
