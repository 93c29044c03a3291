/**
 * An unknown log level, from each of its three sources, run through the built CLI: a
 * usage error (exit 2) naming the valid levels, before any store is touched. The control
 * case runs the same config with a valid level and does create the store, so "no store
 * directory" below proves the refusal came first.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, type CliResult, captureOutput } from '../helpers/scenario.js';

const dir = mkdtempSync(join(tmpdir(), 'tr-log-level-'));
const VALID_LEVELS = /fatal.*error.*warn.*info.*debug.*trace.*silent/;

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let configs = 0;
/** A config that would create its file store on `run`; its one provider's endpoint refuses connections. */
async function config(logLevel = 'info'): Promise<{ path: string; storeDir: string }> {
  const storeDir = join(dir, `store-${++configs}`);
  const path = join(dir, `config-${configs}.yaml`);
  await writeFile(
    path,
    `store:\n  kind: file\n  directory: ${storeDir}\nlog_level: ${logLevel}\npolicy:\n  retries: 0\n` +
      'providers:\n  api:\n    kind: oauth2\n    token_url: https://127.0.0.1:1/token\n    client_id: app\n    client_secret: ${env:API_SECRET}\n',
  );
  return { path, storeDir };
}

function cli(args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { PATH: process.env['PATH'], API_SECRET: 'api-secret-for-the-log-level-test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return captureOutput(child);
}

describe('token-rotator run with an unknown log level', () => {
  it('touches the store with a valid level (the control for the cases below)', async () => {
    const { path, storeDir } = await config();

    const result = await cli(['run', '--config', path, '--log-level', 'silent']);

    expect(result.code, result.stderr).toBe(1);
    expect(existsSync(storeDir)).toBe(true);
  });

  it('exits 2 for --log-level verbose with one line naming the valid levels, printing nothing on stdout and creating no store', async () => {
    const { path, storeDir } = await config();

    const result = await cli(['run', '--config', path, '--log-level', 'verbose']);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/^token-rotator run: --log-level: "verbose" is not a log level; use one of /);
    expect(result.stderr).toMatch(VALID_LEVELS);
    expect(result.stderr).not.toMatch(/"level":/); // no pino line, let alone a pino crash
    expect(existsSync(storeDir)).toBe(false);
  });

  it('exits 2 for TOKEN_ROTATOR_LOG_LEVEL=verbose, naming the variable and the valid levels', async () => {
    const { path, storeDir } = await config();

    const result = await cli(['run', '--config', path], { TOKEN_ROTATOR_LOG_LEVEL: 'verbose' });

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^token-rotator run: TOKEN_ROTATOR_LOG_LEVEL: "verbose" is not a log level; use one of /,
    );
    expect(result.stderr).toMatch(VALID_LEVELS);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('exits 2 for a config log_level: verbose, naming the field and the valid levels', async () => {
    const { path, storeDir } = await config('verbose');

    const result = await cli(['run', '--config', path]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/^\s+log_level: .*/m);
    expect(result.stderr.split('\n').find((line) => line.trim().startsWith('log_level: '))).toMatch(VALID_LEVELS);
    expect(existsSync(storeDir)).toBe(false);
  });

  it('lets a valid --log-level override an invalid TOKEN_ROTATOR_LOG_LEVEL, as the precedence says', async () => {
    const { path, storeDir } = await config();

    const result = await cli(['run', '--config', path, '--log-level', 'silent'], {
      TOKEN_ROTATOR_LOG_LEVEL: 'verbose',
    });

    expect(result.code, result.stderr).toBe(1);
    expect(result.stderr).toBe('');
    expect(existsSync(storeDir)).toBe(true);
  });

  it('exits 2 for an unknown level before reading the config, so even a missing config file is not reported', async () => {
    const result = await cli(['daemon', '--config', join(dir, 'missing.yaml'), '--log-level', 'loud']);

    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/^token-rotator daemon: --log-level: "loud" is not a log level/);
    expect(result.stderr).not.toContain('missing.yaml');
  });
});
